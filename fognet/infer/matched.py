"""Placement by the matching game: the round's matching decides who runs what (DINA-O live).

Per round, the source plans with the DP (`PlannerPlacement`, or any `Placement` given as
`expect`): that plan's stages are what it expects. It turns them into subtasks priced by
the one slice rule (`placement.subtasks`: a whole stage is one, each slice of a spatial
stage one, its work and bytes from the halo walk) and plays a round through its node's
`Matchmaker` with the live workers of its state as roster: the round open on the cluster
(every source that re-plans while it is open plays the same game), or the next one. The matched sites become the
plan's peers (a subtask on the source's own device, or on `name#w`, runs on peer `name`)
through the one `placement.refit`: a spatial stage's slices are fitted again to the peers
they were matched to (finish-together rows; slices on one peer merge, all on one peer make
a whole stage there), consecutive whole stages on one peer merge into one stage (one round
trip instead of several), and every stage is re-priced. The source session
(`fognet.infer.session`) plays a round whenever it would re-plan; frames keep the plan they
started with. The plan a round made is taken as it is (`placement.Matched.settled`): kept
on the current plan because that plan, priced alone, looked better, a source would run
where the round did not put it, past a quota the round granted to another (issue 11: a car
matched to the laptop kept its frames on the fog server, three cars on a server of quota 2).

A round cut by its deadline keeps the last valid matching (the Matchmaker's result); a
round that reached no matching at all (no worker answered, or phase 1 never ended) falls
back to the expected plan, logged and recorded as "failed". No round made that plan, so it
does not bind: the source weighs it against its current plan with the usual margin.

The game prices each subtask alone (DESIGN.md: a subtask's latency on its site, the total
summed), so it does not value the parallel finish a spatial stage was planned for: slices
often gather on one site (then the stage runs whole there), and on slow links the
subtasks of a small model all stay on a device source.

The round's figures are those of the state the plan was made under: the node reads its
matching figures from `peer.matching_state`, which `match` points there while it opens
the round (and back to what it was once the round is over).

API
    MatchedPlacement(use_source=True, spatial=True, expect=None, deadline_s=None, gather_s=0.0,
                     steps=True)
        gather_s: a round it opens waits this long for other sources to re-plan into it
        steps=False: phase 1 only (greedy deferred acceptance, a baseline; see Matchmaker.play)
        .place(costs, state, source, input_shapes) -> Plan       the plan it expects
        await .match(peer, costs, state, plan) -> Matched        the plan on the matched peers
        .rounds -> list[RoundRecord]                              every round played, in order
    RoundRecord(index, number, status, sent, expected, phase1, final, subtasks, figures,
                plan, elapsed_s, dead, sources)     .line() -> str  one line for a report
    fit_to_matching(planner, plan, subtasks, sites) -> Plan    pure: the plan on `sites`
    round_lines(placement) -> list[str]     a placement's round lines (none if it plays none)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fognet.errors import FognetError
from fognet.infer.placement import (
    InputShapes,
    Matched,
    Placement,
    PlannerPlacement,
    as_requester,
)
from fognet.matching.instance import Subtask
from fognet.partition.cost import ClusterState
from fognet.partition.plan import Planner, PlannerConfig
from fognet.partition.stages import Plan
from fognet.placement.instance import Figures, figures_from_cluster, peer_of
from fognet.placement.pricing import ModelCosts
from fognet.placement.refit import matched_peers, refit
from fognet.placement.subtasks import plan_pieces, plan_subtasks

log = logging.getLogger(__name__)

DONE, CUT, FAILED = "done", "cut", "failed"


@dataclass(frozen=True)
class RoundRecord:
    """One round as the source saw it. Sites are game ids; `sent` counts the messages this
    source sent, by wire type (the other peers' are theirs)."""

    index: int  # 1, 2, ... in this placement
    number: int  # the round's number on the wire
    status: str  # "done" | "cut" (deadline: last valid matching) | "failed" (expected plan)
    sent: dict[str, int]
    expected: dict[str, str]  # subtask -> the peer the planner expected
    phase1: dict[str, str]  # subtask -> site after phase 1
    final: dict[str, str]  # subtask -> site at the end
    subtasks: tuple[Subtask, ...]
    figures: Figures  # what the source announced
    plan: Plan  # the plan the round made (on the matched peers; expected if failed)
    elapsed_s: float
    dead: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # the sources that played the round (one game for all)

    def line(self) -> str:
        total = sum(self.sent.values())
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.sent.items()))
        final = _sites(self.final)
        moves = "phase 1 = final" if self.phase1 == self.final else f"phase 1 {_sites(self.phase1)} -> final"
        dead = f"; dead {', '.join(self.dead)}" if self.dead else ""
        played = f" #{self.number} played by {'+'.join(self.sources)}" if self.sources else ""
        return (f"round {self.index}{played} ({self.status}, {self.elapsed_s * 1e3:.0f} ms): "
                f"{moves} {final}; sent {total} ({counts}){dead}")


def _sites(sites: Mapping[str, str]) -> str:
    """"s0:f1 s1.r0:f2 ..." (subtask ids without their "<source>.<task>." prefix)."""
    return " ".join(f"{sid.split('.', 2)[-1]}:{peer_of(site)}" for sid, site in sites.items()) or "-"


def round_lines(placement: Placement) -> list[str]:
    return [r.line() for r in placement.rounds]


class MatchedPlacement(Placement):
    """See the module docstring."""

    def __init__(self, use_source: bool = True, spatial: bool = True,
                 expect: Placement | None = None, deadline_s: float | None = None,
                 gather_s: float = 0.0, steps: bool = True) -> None:
        self.use_source, self.spatial, self.steps = use_source, spatial, steps
        self.expect = expect or PlannerPlacement(spatial=spatial, use_source=use_source)
        self.deadline_s, self.gather_s = deadline_s, gather_s
        self.rounds: list[RoundRecord] = []

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        """The plan the source expects (the game then decides its peers)."""
        return self.expect.place(costs, state, source, input_shapes)

    async def match(self, peer, costs: ModelCosts, state: ClusterState, plan: Plan) -> Matched:
        """Play a round for `plan`'s subtasks on `peer` (a `fognet.peer.node.Peer`); the plan
        on the matched peers, settled (a round's matching holds for every frame of the round,
        DESIGN.md), or the expected plan, unsettled, when the round failed."""
        planner = self._planner(costs, state, plan)
        subtasks = await asyncio.to_thread(_subtasks, costs, plan, f"r{len(self.rounds) + 1}")
        game_state = planner.state
        figures = figures_from_cluster(peer.name, game_state)
        roster = {n: a for n in sorted(game_state.peers)
                  if n != peer.name and (a := peer.address_of(n)) is not None}
        number = 0  # the round open on the cluster, or the next: the Matchmaker's to pick
        t0 = time.perf_counter()
        live_state, peer.matching_state = peer.matching_state, lambda: game_state
        try:  # the node reads its figures when the round opens: those of this plan's state
            result = await peer.matchmaker.play(None, roster, subtasks, self.deadline_s,
                                                self.gather_s, steps=self.steps)
        except FognetError as exc:
            log.warning("round %d could not be played (%s): running the expected plan", number, exc)
            return Matched(self._record(number, FAILED, subtasks, figures, plan, plan, {}, {}, {},
                                        time.perf_counter() - t0, ()))
        finally:
            peer.matching_state = live_state
        number, sources = result.round, result.sources
        if not result.phase1 or (roster and set(roster) <= set(result.dead)):
            log.warning("round %d reached no matching (no worker answered): running the "
                        "expected plan", number)
            return Matched(self._record(number, FAILED, subtasks, figures, plan, plan, result.sent,
                                        result.phase1, result.assignment, result.elapsed_s,
                                        result.dead, sources))
        matched = await asyncio.to_thread(fit_to_matching, planner, plan, subtasks, result.assignment)
        status = DONE if result.completed else CUT
        made = self._record(number, status, subtasks, figures, plan, matched, result.sent,
                            result.phase1, result.assignment, result.elapsed_s, result.dead, sources)
        return Matched(made, settled=True)

    def _record(self, number, status, subtasks, figures, expected: Plan, plan: Plan, sent,
                phase1, final, elapsed_s, dead, sources=()) -> Plan:
        record = RoundRecord(
            len(self.rounds) + 1, number, status, dict(sent), _expected_sites(expected, subtasks),
            dict(phase1), dict(final), tuple(subtasks), figures, plan, elapsed_s, tuple(dead),
            tuple(sources))
        self.rounds.append(record)
        log.info("%s", record.line())
        return plan

    def _planner(self, costs: ModelCosts, state: ClusterState, plan: Plan) -> Planner:
        """The DP's pricing under `state`, as `PlannerPlacement` prices (a requester that is
        not a device computes at a negligible rate)."""
        if not self.use_source:
            state = as_requester(state, plan.source)
        return costs.planner(state, plan.source, PlannerConfig(spatial=self.spatial))


def _subtasks(costs: ModelCosts, plan: Plan, task: str) -> tuple[Subtask, ...]:
    """One frame of `plan` as the round's subtasks, priced by the one slice rule."""
    return tuple(s for stage in plan_subtasks(plan, plan_pieces(costs, plan), task) for s in stage)


def _by_stage(plan: Plan, subtasks: Sequence[Subtask]) -> list[list[Subtask]]:
    """The subtasks of each stage (`plan_subtasks` gives them in stage order)."""
    out, at = [], 0
    for stage in plan.stages:
        n = len(stage.rows) if stage.spatial else 1
        out.append(list(subtasks[at:at + n]))
        at += n
    return out


def _expected_sites(plan: Plan, subtasks: Sequence[Subtask]) -> dict[str, str]:
    return {s.id: peer for stage, subs in zip(plan.stages, _by_stage(plan, subtasks), strict=True)
            for s, peer in zip(subs, stage.peers, strict=True)}


def fit_to_matching(planner: Planner, plan: Plan, subtasks: Sequence[Subtask],
                    sites: Mapping[str, str]) -> Plan:
    """`plan` with each subtask on its matched peer (`sites`: subtask id -> site, a game id
    or a peer name; a subtask not listed stays where the plan expected it): `placement.refit`."""
    ids = [[s.id for s in subs] for subs in _by_stage(plan, subtasks)]
    return refit(planner, plan, matched_peers(plan, ids, sites))
