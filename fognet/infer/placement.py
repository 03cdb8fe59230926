"""Who runs which stage: one small interface, and the baseline placements behind it.

The requester only needs a `Plan`; how it is made is a policy the peer picks in one
place. The default of `fognet infer` is the matching game (`fognet.infer.matched`, which
plans with `PlannerPlacement` below); these are its baselines. `GreedyPlacement`
splits the model into K vertical stages balanced by reference time
(`balanced_positions`, K = number of live peers by default) and gives each stage, in
order, to the peer with the lowest predicted latency for it under the cost model of
DESIGN.md: transfer in + wait + compute + transfer out, where the wait counts the work
already given to that peer by earlier stages of this plan (with several frames in
flight, a peer given two stages serves them one after the other). Ties go to the peer
name that sorts first, so placement is deterministic. Consecutive stages that land on
the same peer are merged into one. Other peers with quota 0 take no stage; the source
takes its own unless told not to (a requester that is not a device). `PlannerPlacement`
runs the lead's dynamic program (`fognet.partition.plan.Planner`), spatial stages included.

Pure (no I/O), so the simulator can use it too.

API
    Placement (Protocol): place(graph, times, state, source, model_sha256, input_shapes) -> Plan
    GreedyPlacement(parts: int | None = None, use_source: bool = True)
    SinglePeer(peer)                  everything on one peer (e.g. the source: "local only")
    PlannerPlacement(spatial=True, use_source=True)    the DP planner, spatial stages included
    FixedPlan(plan)                   always `plan` (re-priced under the state): run a given plan
    ReferencePlan(kind)               a baseline policy: "local", "best-node", "neurosurgeon", "modnn"
    reprice(graph, times, state, source, plan) -> Plan   the plan's prediction under `state`
    as_requester(state, source) -> ClusterState   the source priced as computing nothing
    pricing_for(graph, plan) -> HaloPricing | None    the slice rule if the plan needs it
    stage_latency(state, source, peer, work_s, in_bytes, out_bytes, extra_wait_s=0.0) -> float
    candidates(state, source, use_source=True) -> list[str]     peers that may take a stage
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from fognet.errors import PlanError
from fognet.model.graph import ModelGraph
from fognet.partition.cost import ClusterState, Slice
from fognet.partition.cost import stage_latency as stage_latency_of
from fognet.partition.stages import Plan, Stage
from fognet.partition.vertical import balanced_positions
from fognet.placement.policies import REFERENCES, make_plan
from fognet.placement.pricing import HaloPricing

InputShapes = Mapping[str, tuple[int, ...]]
NEGLIGIBLE_SPEED = 1e-9  # a source that must not compute, as the planner sees it


class Placement(Protocol):
    def place(
        self,
        graph: ModelGraph,
        times: Sequence[float],
        state: ClusterState,
        source: str,
        model_sha256: str,
        input_shapes: InputShapes,
    ) -> Plan: ...


def stage_latency(
    state: ClusterState,
    source: str,
    peer: str,
    work_s: float,
    in_bytes: float,
    out_bytes: float,
    extra_wait_s: float = 0.0,
) -> float:
    """Predicted seconds for one whole stage on `peer`, with the source's data in a star
    (`cost.stage_latency` of one slice; `extra_wait_s` is reference-seconds queued ahead)."""
    extra = extra_wait_s / state.peers[peer].speed
    return stage_latency_of(state, source, [(peer, Slice(work_s, in_bytes, out_bytes))], [extra]).total


def candidates(state: ClusterState, source: str, use_source: bool = True) -> list[str]:
    """Peers that may take a stage: other peers reachable with quota > 0, and the source.

    A source always runs its own subtasks (DESIGN.md), whatever its quota, unless
    `use_source` is False (a requester that is not a device, like `fognet infer --via`).
    """
    return [
        p for p in sorted(state.peers)
        if (p == source and use_source)
        or (p != source and state.peers[p].quota > 0 and state.link(source, p) is not None)
    ]


class GreedyPlacement:
    """K balanced vertical stages, each to its cheapest peer in turn (see module docstring)."""

    def __init__(self, parts: int | None = None, use_source: bool = True) -> None:
        self.parts = parts
        self.use_source = use_source

    def place(
        self,
        graph: ModelGraph,
        times: Sequence[float],
        state: ClusterState,
        source: str,
        model_sha256: str,
        input_shapes: InputShapes,
    ) -> Plan:
        if source not in state.peers:
            raise PlanError(f"source {source!r} is not in the cluster state")
        peers = candidates(state, source, self.use_source)
        if not peers:
            raise PlanError(f"no peer can take work from {source!r}: none is reachable with quota > 0")
        k = min(self.parts or len(peers), len(graph))
        positions = balanced_positions(graph, k, times)
        work = np.concatenate([[0.0], np.cumsum(np.asarray(times, dtype=float))])
        bounds = [0, *positions, len(graph)]
        given: dict[str, float] = {}
        stages = []
        for start, stop in zip(bounds, bounds[1:], strict=False):
            in_b, out_b = _stage_bytes(graph, start, stop)
            w = float(work[stop] - work[start])
            costs = {
                p: stage_latency(state, source, p, w, in_b, out_b, given.get(p, 0.0)) for p in peers
            }
            best = min(peers, key=lambda p: (costs[p], p))
            given[best] = given.get(best, 0.0) + w
            unloaded = stage_latency(state, source, best, w, in_b, out_b)
            stages.append(Stage(start, stop, (best,), None, unloaded))
        stages = _merge_neighbours(graph, state, source, work, stages)
        total = sum(s.predicted_s for s in stages)
        return Plan(model_sha256, source, tuple(stages), total, dict(input_shapes))


def _stage_bytes(graph: ModelGraph, start: int, stop: int) -> tuple[int, int]:
    """Bytes a stage [start, stop) receives and sends back."""
    ins, outs = graph.boundary(start, stop)
    return sum(graph.tensors[t].nbytes for t in ins), sum(graph.tensors[t].nbytes for t in outs)


def _merge_neighbours(graph, state, source, work, stages: list[Stage]) -> list[Stage]:
    """Consecutive stages on one peer become one stage: the same work, fewer round trips."""
    merged: list[Stage] = []
    for stage in stages:
        if merged and merged[-1].peer == stage.peer:
            start = merged.pop().start
            in_b, out_b = _stage_bytes(graph, start, stage.stop)
            w = float(work[stage.stop] - work[start])
            stage = Stage(start, stage.stop, (stage.peer,), None, stage_latency(state, source, stage.peer, w, in_b, out_b))
        merged.append(stage)
    return merged


class SinglePeer:
    """The whole model as one stage on one peer: the "local only" baseline on the source."""

    def __init__(self, peer: str | None = None) -> None:
        self.peer = peer

    def place(self, graph, times, state, source, model_sha256, input_shapes) -> Plan:
        peer = self.peer or source
        if peer not in state.peers:
            raise PlanError(f"peer {peer!r} is not in the cluster")
        w = float(np.sum(times))
        in_b, out_b = _stage_bytes(graph, 0, len(graph))
        cost = stage_latency(state, source, peer, w, in_b, out_b)
        return Plan(model_sha256, source, (Stage(0, len(graph), (peer,), None, cost),), cost, dict(input_shapes))


class PlannerPlacement:
    """The lead's dynamic program over cuts, with spatial stages priced by the halo walk.

    With `use_source=False` the source is priced as if it computed at a negligible rate,
    so the program never keeps a stage there (a requester that is not a device).
    """

    def __init__(self, spatial: bool = True, use_source: bool = True) -> None:
        self.spatial = spatial
        self.use_source = use_source

    def place(
        self,
        graph: ModelGraph,
        times: Sequence[float],
        state: ClusterState,
        source: str,
        model_sha256: str,
        input_shapes: InputShapes,
    ) -> Plan:
        from fognet.partition.plan import Planner, PlannerConfig

        if not self.use_source:
            state = as_requester(state, source)
        pricing = HaloPricing(graph) if self.spatial else None
        config = PlannerConfig(spatial=self.spatial)
        return Planner(graph, times, state, source, spatial=pricing, config=config).plan(model_sha256, input_shapes)


def as_requester(state: ClusterState, source: str) -> ClusterState:
    """`state` with `source` computing at a negligible rate, so the planner never keeps a
    stage there (a requester that is not a device)."""
    peers = dict(state.peers)
    peers[source] = replace(peers[source], speed=NEGLIGIBLE_SPEED, backlog=0.0)
    return ClusterState(peers, state.links, state.default_link)


def pricing_for(graph: ModelGraph, plan: Plan):
    """The halo-walk pricing of spatial stages if `plan` has any, else None."""
    if not any(stage.spatial for stage in plan.stages):
        return None
    return HaloPricing(graph)


def reprice(graph: ModelGraph, times: Sequence[float], state: ClusterState, source: str, plan: Plan) -> Plan:
    """`plan` with every stage's prediction re-made under `state` (PlanError if a peer is gone)."""
    from fognet.partition.plan import Planner

    priced = Planner(graph, times, state, source, spatial=pricing_for(graph, plan)).price(plan)
    return replace(priced, model_sha256=plan.model_sha256, input_shapes=dict(plan.input_shapes))


class FixedPlan:
    """Always the given plan, re-priced under the current state (a baseline, a replay)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def place(self, graph, times, state, source, model_sha256, input_shapes) -> Plan:
        plan = replace(self.plan, model_sha256=model_sha256, input_shapes=dict(input_shapes))
        return reprice(graph, times, state, source, plan)


class ReferencePlan:
    """One of the baseline policies (`placement.policies.REFERENCES`), made under the
    current state."""

    def __init__(self, kind: str) -> None:
        if kind not in REFERENCES:
            raise PlanError(f"unknown reference plan {kind!r}; expected one of {', '.join(REFERENCES)}")
        self.kind = kind

    def place(self, graph, times, state, source, model_sha256, input_shapes) -> Plan:
        from fognet.partition.plan import Planner

        pricing = HaloPricing(graph) if self.kind == "modnn" else None
        plan = make_plan(self.kind, Planner(graph, times, state, source, spatial=pricing), model_sha256)
        return replace(plan, input_shapes=dict(input_shapes))
