"""A plan as the game's subtasks: one per whole stage, one per slice of a spatial stage.

Each piece is priced by the one slice rule (`pricing.ModelCosts`: a whole stage's work and
boundary bytes; a slice's from the halo walk), whoever asks: the game's instance, the
simulator's runner, the requester's predicted work. Subtask ids are
"<source>.<task>.s<stage>" for a whole stage and "<source>.<task>.s<stage>.r<slice>" for a
slice, unique across sources and tasks.

    Piece(peer, work, in_bytes, out_bytes)          one stage-slice of one frame
    stage_pieces(costs, stage) -> tuple[Piece, ...]
    plan_pieces(costs, plan) -> tuple[tuple[Piece, ...], ...]   per stage, in peer order
    plan_subtasks(plan, pieces, task="f") -> tuple[tuple[Subtask, ...], ...]   per stage
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fognet.errors import InstanceError
from fognet.matching.instance import PeerId, Subtask, SubtaskId
from fognet.partition.stages import Plan, Stage
from fognet.placement.pricing import ModelCosts


@dataclass(frozen=True)
class Piece:
    """One stage-slice of one frame: who the plan gives it to, its work and its bytes."""

    peer: str
    work: float  # reference seconds
    in_bytes: float
    out_bytes: float


def stage_pieces(costs: ModelCosts, stage: Stage) -> tuple[Piece, ...]:
    """The pieces of one stage, in its peers' order (a whole stage is one piece)."""
    i, j = stage.start, stage.stop
    work = costs.work(i, j)
    if not stage.spatial:
        return (Piece(stage.peer, work, float(costs.bytes.inputs[i, j]), float(costs.bytes.outputs[i, j])),)
    if costs.spatial is None:
        raise InstanceError(f"stage [{i}, {j}) is spatial but the model was priced for whole stages only")
    pieces = []
    for peer, rows in zip(stage.peers, stage.rows, strict=True):
        in_b, out_b = costs.spatial.slice_bytes(i, j, rows)
        pieces.append(Piece(peer, float(costs.spatial.slice_work(i, j, rows, work)), float(in_b), float(out_b)))
    return tuple(pieces)


def plan_pieces(costs: ModelCosts, plan: Plan) -> tuple[tuple[Piece, ...], ...]:
    return tuple(stage_pieces(costs, stage) for stage in plan.stages)


def plan_subtasks(
    plan: Plan, pieces: Sequence[Sequence[Piece]], task: str = "f"
) -> tuple[tuple[Subtask, ...], ...]:
    """The subtasks of one frame (`task`) through `plan`, grouped per stage, from its pieces."""
    if len(pieces) != len(plan.stages):
        raise InstanceError(f"plan has {len(plan.stages)} stages but {len(pieces)} were priced")
    out = []
    for k, (stage, priced) in enumerate(zip(plan.stages, pieces, strict=True)):
        base = f"{plan.source}.{task}.s{k}"
        ids = [base] if not stage.spatial else [f"{base}.r{m}" for m in range(len(priced))]
        out.append(tuple(
            Subtask(SubtaskId(sid), PeerId(plan.source), p.work, int(round(p.in_bytes)),
                    int(round(p.out_bytes)), stage=k)
            for sid, p in zip(ids, priced, strict=True)
        ))
    return tuple(out)
