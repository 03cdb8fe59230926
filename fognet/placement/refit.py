"""A plan re-fitted to the peers it was given (by a matching, or by workers' admission).

Each stage runs on the peers its pieces were given. A spatial stage whose peers changed
gets its rows fitted again to them (by default the planner's finish-together rule; MoDNN
passes equal rows); slices given to one peer merge, and all on one peer make a whole
stage there. Then consecutive whole stages on one peer merge into one stage: in the star
data flow that saves a round trip through the source (and one wait in that peer's queue).
Every stage is re-priced under the planner's state.

    matched_peers(plan, ids, assignment) -> list[list[str]]   per stage, one peer per piece
    refit(planner, plan, peers, fit=finish_together) -> Plan
    finish_together(planner, stage, peers) -> Stage            the default row fit
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from fognet.partition.plan import Planner
from fognet.partition.stages import Plan, Stage
from fognet.placement.instance import peer_of

RowFit = Callable[[Planner, Stage, tuple[str, ...]], Stage]


def finish_together(planner: Planner, stage: Stage, peers: tuple[str, ...]) -> Stage:
    """`stage` on `peers`: slices sized to finish together on them, or whole on the one
    that runs it fastest (ties to the name that sorts first)."""
    if stage.spatial and len(peers) > 1:
        option = planner.spatial_option(stage.start, stage.stop, peers)
        if option is not None:
            return Stage(stage.start, stage.stop, option.peers, option.rows)
    best = min(peers, key=lambda p: (planner.whole_cost(stage.start, stage.stop, p), p))
    return Stage(stage.start, stage.stop, (best,))


def refit(planner: Planner, plan: Plan, peers: Sequence[Sequence[str]], fit: RowFit = finish_together) -> Plan:
    """`plan` with stage k on `peers[k]` (one peer per piece, in piece order), re-priced."""
    stages: list[Stage] = []
    for stage, given in zip(plan.stages, peers, strict=True):
        unique = tuple(dict.fromkeys(given))
        fitted = stage if stage.spatial and unique == stage.peers else fit(planner, stage, unique)
        if stages and not fitted.spatial and not stages[-1].spatial and stages[-1].peer == fitted.peer:
            fitted = Stage(stages.pop().start, fitted.stop, fitted.peers)  # one peer, one trip
        stages.append(fitted)
    return planner.price(replace(plan, stages=tuple(stages), predicted_s=0.0))


def matched_peers(
    plan: Plan, ids: Sequence[Sequence[str]], assignment: Mapping[str, str]
) -> list[list[str]]:
    """Per stage, the peer each piece (subtask ids `ids[k]`, in piece order) was matched to:
    its site's peer name, or the planned peer if the matching left it out."""
    return [
        [peer_of(assignment[sid]) if sid in assignment else planned
         for sid, planned in zip(stage_ids, stage.peers, strict=True)]
        for stage, stage_ids in zip(plan.stages, ids, strict=True)
    ]
