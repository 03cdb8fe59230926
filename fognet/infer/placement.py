"""Who runs which stage: one small interface, and the baseline placements behind it.

The requester only needs a `Plan`; how it is made is a policy the peer picks in one
place. Every placement is given the model's one pricing (`placement.pricing.ModelCosts`,
made once per session: one analysis, one memo of every slice the halo walk priced) and
the state to plan under. The default of `fognet infer` is the matching game
(`fognet.infer.matched`, which plans with `PlannerPlacement` below and then plays a round
in `match`); these are its baselines, and their `match` keeps the plan as it is.

`GreedyPlacement` splits the model into K vertical stages balanced by reference time
(`balanced_positions`, K = number of live peers by default) and gives each stage, in
order, to the peer with the lowest predicted latency for it under the cost model of
DESIGN.md: transfer in + wait + compute + transfer out, where the wait counts the work
already given to that peer by earlier stages of this plan (with several frames in
flight, a peer given two stages serves them one after the other). Ties go to the peer
name that sorts first, so placement is deterministic. Consecutive stages that land on
the same peer are merged into one. Other peers with quota 0 take no stage; the source
takes its own unless told not to (a requester that is not a device). `PlannerPlacement`
runs DINA-P's dynamic program (`fognet.partition.plan.Planner`), spatial stages included.

Pure (no I/O), so the simulator can use it too.

API
    Placement: place(costs, state, source, input_shapes) -> Plan
               await match(peer, costs, state, plan) -> Matched   (the plan, unsettled, but for the game)
               rounds                                          the game's rounds (none here)
    Matched(plan, settled=False)      frozen: the plan frames run on; settled: a round made it
    GreedyPlacement(parts: int | None = None, use_source: bool = True)
    SinglePeer(peer)                  everything on one peer (e.g. the source: "local only")
    PlannerPlacement(spatial=True, use_source=True)    the DP planner, spatial stages included
    FixedPlan(plan)                   always `plan` (re-priced under the state): run a given plan
    ReferencePlan(kind)               a baseline policy: "local", "best-node", "neurosurgeon", "modnn"
    reprice(costs, state, source, plan) -> Plan   the plan's prediction under `state`
    as_requester(state, source) -> ClusterState   the source priced as computing nothing
    stage_latency(state, source, peer, work_s, in_bytes, out_bytes, extra_wait_s=0.0) -> float
    candidates(state, source, use_source=True) -> list[str]     peers that may take a stage
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from fognet.errors import PlanError
from fognet.partition.cost import ClusterState, Slice
from fognet.partition.cost import stage_latency as stage_latency_of
from fognet.partition.plan import PlannerConfig
from fognet.partition.replan import known_plans
from fognet.partition.stages import Plan, Stage
from fognet.partition.vertical import balanced_positions
from fognet.placement.policies import REFERENCES, make_plan
from fognet.placement.pricing import ModelCosts

InputShapes = Mapping[str, tuple[int, ...]]
NEGLIGIBLE_SPEED = 1e-9  # a source that must not compute, as the planner sees it


@dataclass(frozen=True)
class Matched:
    """What `Placement.match` gives: the plan frames run on, and whether a round of the game
    made it (done, or cut by its deadline with a valid matching). A settled plan binds: it
    is taken as it comes, never weighed against the current plan priced alone, which would
    put frames where the round did not (`infer.replanning`). A plan no round made (a
    baseline's, or the expected plan a failed round falls back to) is the source's alone,
    and switches only for a gain, like any other."""

    plan: Plan
    settled: bool = False


class Placement:
    """How a source's plan is made. `place` plans; `match` is where the game settles the
    plan on the peers a round matched (`fognet.infer.matched`); other placements keep it."""

    rounds: Sequence = ()  # the matching rounds this placement played (`matched.RoundRecord`)

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        raise NotImplementedError

    async def match(self, peer, costs: ModelCosts, state: ClusterState, plan: Plan) -> Matched:
        """The plan the frames run on (`peer` is the source's `fognet.peer.node.Peer`)."""
        return Matched(plan)

    def revisit(self, history: Sequence[Plan], current: Plan) -> list[Plan]:
        """Plans a re-price may switch back to between DP runs (`infer.replanning`). None
        here: a fixed plan or a baseline must stay what it is, and a game's matching is not
        left unilaterally; placements that plan alone override it."""
        return []


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


def _stage_bytes(costs: ModelCosts, start: int, stop: int) -> tuple[float, float]:
    """Bytes a stage [start, stop) receives and sends back."""
    return float(costs.bytes.inputs[start, stop]), float(costs.bytes.outputs[start, stop])


class GreedyPlacement(Placement):
    """K balanced vertical stages, each to its cheapest peer in turn (see module docstring)."""

    def __init__(self, parts: int | None = None, use_source: bool = True) -> None:
        self.parts = parts
        self.use_source = use_source

    def revisit(self, history: Sequence[Plan], current: Plan) -> list[Plan]:
        return known_plans(history, current, alone=self.use_source)

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        if source not in state.peers:
            raise PlanError(f"source {source!r} is not in the cluster state")
        peers = candidates(state, source, self.use_source)
        if not peers:
            raise PlanError(f"no peer can take work from {source!r}: none is reachable with quota > 0")
        n = len(costs.graph)
        positions = balanced_positions(costs.graph, min(self.parts or len(peers), n), costs.times)
        bounds = [0, *positions, n]
        given: dict[str, float] = {}
        stages = []
        for start, stop in zip(bounds, bounds[1:], strict=False):
            in_b, out_b = _stage_bytes(costs, start, stop)
            w = costs.work(start, stop)
            latency = {p: stage_latency(state, source, p, w, in_b, out_b, given.get(p, 0.0)) for p in peers}
            best = min(peers, key=lambda p: (latency[p], p))
            given[best] = given.get(best, 0.0) + w
            stages.append(Stage(start, stop, (best,), None, stage_latency(state, source, best, w, in_b, out_b)))
        stages = _merge_neighbours(costs, state, source, stages)
        total = sum(s.predicted_s for s in stages)
        return Plan(costs.sha256, source, tuple(stages), total, dict(input_shapes))


def _merge_neighbours(costs: ModelCosts, state: ClusterState, source: str, stages: list[Stage]) -> list[Stage]:
    """Consecutive stages on one peer become one stage: the same work, fewer round trips."""
    merged: list[Stage] = []
    for stage in stages:
        if merged and merged[-1].peer == stage.peer:
            start = merged.pop().start
            in_b, out_b = _stage_bytes(costs, start, stage.stop)
            cost = stage_latency(state, source, stage.peer, costs.work(start, stage.stop), in_b, out_b)
            stage = Stage(start, stage.stop, (stage.peer,), None, cost)
        merged.append(stage)
    return merged


class SinglePeer(Placement):
    """The whole model as one stage on one peer: the "local only" baseline on the source."""

    def __init__(self, peer: str | None = None) -> None:
        self.peer = peer

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        peer = self.peer or source
        if peer not in state.peers:
            raise PlanError(f"peer {peer!r} is not in the cluster")
        n = len(costs.graph)
        in_b, out_b = _stage_bytes(costs, 0, n)
        cost = stage_latency(state, source, peer, costs.work(0, n), in_b, out_b)
        return Plan(costs.sha256, source, (Stage(0, n, (peer,), None, cost),), cost, dict(input_shapes))


class PlannerPlacement(Placement):
    """DINA-P's dynamic program over cuts, with spatial stages priced by the halo walk.

    With `use_source=False` the source is priced as if it computed at a negligible rate,
    so the program never keeps a stage there (a requester that is not a device).
    """

    def __init__(self, spatial: bool = True, use_source: bool = True) -> None:
        self.spatial = spatial
        self.use_source = use_source

    def revisit(self, history: Sequence[Plan], current: Plan) -> list[Plan]:
        return known_plans(history, current, alone=self.use_source)

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        if not self.use_source:
            state = as_requester(state, source)
        planner = costs.planner(state, source, PlannerConfig(spatial=self.spatial))
        return planner.plan(costs.sha256, input_shapes)


def as_requester(state: ClusterState, source: str) -> ClusterState:
    """`state` with `source` computing at a negligible rate, so the planner never keeps a
    stage there (a requester that is not a device)."""
    peers = dict(state.peers)
    peers[source] = replace(peers[source], speed=NEGLIGIBLE_SPEED, backlog=0.0)
    return ClusterState(peers, state.links, state.default_link)


def reprice(costs: ModelCosts, state: ClusterState, source: str, plan: Plan) -> Plan:
    """`plan` with every stage's prediction re-made under `state` (PlanError if a peer is gone)."""
    priced = costs.planner(state, source).price(plan)
    return replace(priced, model_sha256=plan.model_sha256, input_shapes=dict(plan.input_shapes))


class FixedPlan(Placement):
    """Always the given plan, re-priced under the current state (a baseline, a replay)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        plan = replace(self.plan, model_sha256=costs.sha256, input_shapes=dict(input_shapes))
        return reprice(costs, state, source, plan)


class ReferencePlan(Placement):
    """One of the baseline policies (`placement.policies.REFERENCES`), made under the
    current state."""

    def __init__(self, kind: str) -> None:
        if kind not in REFERENCES:
            raise PlanError(f"unknown reference plan {kind!r}; expected one of {', '.join(REFERENCES)}")
        self.kind = kind

    def place(self, costs: ModelCosts, state: ClusterState, source: str, input_shapes: InputShapes) -> Plan:
        plan = make_plan(self.kind, costs.planner(state, source), costs.sha256)
        return replace(plan, input_shapes=dict(input_shapes))
