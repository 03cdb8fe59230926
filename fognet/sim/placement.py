"""Plans to subtasks and back: what the game is given, and the plan it leaves behind.

A plan's stage becomes one subtask (whole stage) or one per slice (spatial stage), with
its reference work and bytes in and out. After matching, each stage runs on the peers
its subtasks were given; a spatial stage's rows are fitted again to those peers (the
planner's finish-together rule), and slices that landed on one peer merge.

Also here: the MoDNN-style plan (every sliceable run split in equal rows over all
nodes), which the planner does not make, and renaming a cached plan to another source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from fognet.partition.plan import Planner
from fognet.partition.stages import Plan, Stage
from fognet.sim.costs import ModelCosts


@dataclass(frozen=True)
class Piece:
    """One stage-slice of one frame: who runs it, its work and its bytes."""

    peer: str
    work: float  # reference seconds
    in_bytes: float
    out_bytes: float


def stage_pieces(costs: ModelCosts, stage: Stage) -> tuple[Piece, ...]:
    i, j = stage.start, stage.stop
    work = costs.work(i, j)
    if not stage.spatial:
        return (Piece(stage.peer, work, float(costs.bytes.inputs[i, j]), float(costs.bytes.outputs[i, j])),)
    pieces = []
    for peer, rows in zip(stage.peers, stage.rows, strict=True):
        in_b, out_b = costs.spatial.slice_bytes(i, j, rows)
        pieces.append(Piece(peer, float(costs.spatial.slice_work(i, j, rows, work)), float(in_b), float(out_b)))
    return tuple(pieces)


def plan_pieces(costs: ModelCosts, plan: Plan) -> tuple[tuple[Piece, ...], ...]:
    return tuple(stage_pieces(costs, stage) for stage in plan.stages)


def fit(planner: Planner, plan: Plan, peers: Sequence[Sequence[str]]) -> Plan:
    """`plan` with stage k run on `peers[k]` (one peer per piece), rows refitted, re-priced."""
    stages = []
    for stage, given in zip(plan.stages, peers, strict=True):
        unique = tuple(dict.fromkeys(given))
        if not stage.spatial:
            stages.append(replace(stage, peers=unique))
        elif unique == stage.peers:
            stages.append(stage)
        else:
            stages.append(_refit(planner, stage, unique))
    return planner.price(Plan(plan.model_sha256, plan.source, tuple(stages), 0.0, plan.input_shapes))


def _refit(planner: Planner, stage: Stage, peers: tuple[str, ...]) -> Stage:
    if len(peers) > 1:
        option = planner.spatial_option(stage.start, stage.stop, peers)
        if option is not None:
            return Stage(stage.start, stage.stop, option.peers, option.rows, option.cost)
    best = min(peers, key=lambda p: planner.whole_cost(stage.start, stage.stop, p))
    return Stage(stage.start, stage.stop, (best,))


def rename_source(plan: Plan, source: str) -> Plan:
    """A plan made for one source, used by another with the same state signature."""
    if plan.source == source:
        return plan
    old = plan.source
    stages = tuple(
        replace(s, peers=tuple(source if p == old else p for p in s.peers)) for s in plan.stages
    )
    return replace(plan, source=source, stages=stages)


def modnn_plan(planner: Planner, model_sha256: str = "") -> Plan:
    """MoDNN-style: layer by layer, each sliceable layer's rows split equally over every node.

    MoDNN partitions each layer's input across the devices and gathers the outputs after
    the layer; here a "layer" is a segment of a sliceable run between single-tensor cuts
    (a conv with its activation, a residual block), since slicing a whole deep run at
    once would make every slice's halo span nearly the whole input. Everything that
    cannot be sliced runs on the source.
    """
    n = len(planner.graph)
    nodes = list(planner.peers)  # the source and every reachable worker, sorted
    articulation = {c.position for c in planner.graph.cuts() if len(c.crossing) == 1}
    stages: list[Stage] = []
    at = 0
    ranges = sorted(planner.spatial.ranges()) if planner.spatial is not None else []
    for start, stop in ranges:
        bounds = [start, *sorted(p for p in articulation if start < p < stop), stop]
        for i, j in zip(bounds, bounds[1:], strict=False):
            height = planner.spatial.out_rows(i, j)
            k = min(len(nodes), height)
            if k < 2:
                continue
            if i > at:
                stages.append(Stage(at, i, (planner.source,)))
            stages.append(Stage(i, j, tuple(nodes[:k]), equal_rows(height, k)))
            at = j
    if at < n:
        stages.append(Stage(at, n, (planner.source,)))
    return planner.price(Plan(model_sha256, planner.source, tuple(stages)))


def equal_split(planner: Planner, plan: Plan, peers: Sequence[Sequence[str]]) -> Plan:
    """A MoDNN plan after admission: each stage on the peers that took it, rows equal again."""
    stages = []
    for stage, given in zip(plan.stages, peers, strict=True):
        unique = tuple(dict.fromkeys(given))
        if not stage.spatial or len(unique) == 1:
            stages.append(Stage(stage.start, stage.stop, unique[:1]))
            continue
        height = stage.rows[-1][1]
        stages.append(Stage(stage.start, stage.stop, unique, equal_rows(height, len(unique))))
    return planner.price(Plan(plan.model_sha256, plan.source, tuple(stages), 0.0, plan.input_shapes))


def equal_rows(height: int, k: int) -> tuple[tuple[int, int], ...]:
    """Row ranges [a, b) covering `height` rows in k near-equal whole parts, larger first."""
    base, extra = divmod(height, k)
    bounds = [i * base + min(i, extra) for i in range(k + 1)]
    return tuple(zip(bounds, bounds[1:], strict=False))


def assigned_peers(plan: Plan, assignment: Mapping[str, str], ids: Sequence[Sequence[str]]) -> list[list[str]]:
    """Per stage, the peer each piece was matched to (the planned one if unmatched)."""
    out = []
    for stage, stage_ids in zip(plan.stages, ids, strict=True):
        out.append([assignment.get(sid, planned) for sid, planned in zip(stage_ids, stage.peers, strict=True)])
    return out
