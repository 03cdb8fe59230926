from __future__ import annotations

import pytest

from fognet.infer.placement import GreedyPlacement
from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.placement.pricing import model_costs
from tests import graphs


def _state(**speeds: float) -> ClusterState:
    peers = [PeerState(name, speed) for name, speed in speeds.items()]
    return ClusterState.of(peers, default_link=LinkState(bandwidth=1e9, latency=0.0001))


def test_greedy_spreads_equal_stages_over_equal_fast_peers() -> None:
    from fognet.partition.plan import Planner
    from fognet.partition.vertical import balanced_positions

    graph = analyse(graphs.branches_model())
    times = [0.010] * len(graph)
    state = _state(car=0.1, f1=1.0, f2=1.0, f3=1.0)
    plan = GreedyPlacement(parts=3).place(model_costs(graph, times, "s" * 64), state, "car", {})
    cuts = balanced_positions(graph, 3, times)
    assert [(s.start, s.stop) for s in plan.stages] == list(zip([0, *cuts], [*cuts, len(graph)], strict=True))
    # the slow source keeps nothing; each fast peer gets one stage, ties to the first name
    # free of work (f1 took the first, so f2 the second, f3 the third)
    assert [s.peer for s in plan.stages] == ["f1", "f2", "f3"]
    whole = Planner(graph, times, state, "car")  # the DP's price of each stage, alone on its peer
    for stage in plan.stages:
        assert stage.predicted_s == pytest.approx(whole.whole_cost(stage.start, stage.stop, stage.peer))
    assert plan.predicted_s == pytest.approx(sum(s.predicted_s for s in plan.stages))


def test_greedy_keeps_work_local_when_links_are_unusable() -> None:
    graph = analyse(graphs.residual_model())
    state = ClusterState.of(
        [PeerState("car", 1.0), PeerState("f1", 4.0)], default_link=LinkState(bandwidth=1.0, latency=1.0)
    )
    plan = GreedyPlacement().place(model_costs(graph, [0.001] * len(graph), "s" * 64), state, "car", {})
    assert {s.peer for s in plan.stages} == {"car"}


def test_a_requester_that_is_not_a_device_keeps_no_stage() -> None:
    from fognet.infer.placement import PlannerPlacement, SinglePeer

    graph = analyse(graphs.residual_model())
    state = _state(infer=10.0, f1=1.0, f2=0.5)  # the requester would be fastest, but must not compute
    times = [0.005] * len(graph)
    for placement in (GreedyPlacement(use_source=False), PlannerPlacement(use_source=False)):
        plan = placement.place(model_costs(graph, times, "s" * 64), state, "infer", {})
        assert "infer" not in plan.peers, type(placement).__name__
    assert PlannerPlacement().place(model_costs(graph, times, "s" * 64), state, "infer", {}).peers == {"infer"}
    assert SinglePeer("f2").place(model_costs(graph, times, "s" * 64), state, "infer", {}).peers == {"f2"}


def test_planner_placement_may_slice_a_stage_over_several_peers() -> None:
    from fognet.infer.placement import PlannerPlacement

    graph = analyse(graphs.residual_model())
    state = _state(car=0.05, f1=1.0, f2=1.0, f3=1.0)
    plan = PlannerPlacement().place(model_costs(graph, [0.050] * len(graph), "s" * 64), state, "car", {"x": (1, 3, 16, 16)})
    assert any(stage.spatial for stage in plan.stages)
    assert plan.input_shapes == {"x": (1, 3, 16, 16)}


def test_a_fixed_plan_keeps_its_stages_and_is_repriced_under_the_state() -> None:
    from fognet.infer.placement import FixedPlan, PlannerPlacement

    graph = analyse(graphs.conv_chain_model())
    times = [0.010] * len(graph)
    fast = _state(car=0.1, f1=1.0, f2=1.0)
    plan = PlannerPlacement().place(model_costs(graph, times, "s" * 64), fast, "car", {"x": (1, 3, 8, 8)})
    slower = _state(car=0.1, f1=0.5, f2=0.5)
    again = FixedPlan(plan).place(model_costs(graph, times, "s" * 64), slower, "car", {"x": (1, 3, 8, 8)})
    assert [(s.start, s.stop, s.peers, s.rows) for s in again.stages] == [
        (s.start, s.stop, s.peers, s.rows) for s in plan.stages
    ]
    assert again.predicted_s > plan.predicted_s and again.model_sha256 == "s" * 64


def test_reference_plans_are_the_policies_made_under_the_state_and_never_beat_the_dp() -> None:
    from fognet.errors import PlanError
    from fognet.infer.placement import PlannerPlacement, ReferencePlan
    from fognet.partition.plan import Planner

    graph = analyse(graphs.conv_chain_model())
    n, times = len(graph), [0.010] * len(graph)
    state = _state(car=0.2, f1=1.0, f2=2.0)
    best = PlannerPlacement().place(model_costs(graph, times, "s" * 64), state, "car", {})
    plans = {kind: ReferencePlan(kind).place(model_costs(graph, times, "s" * 64), state, "car", {"x": (1, 3, 8, 8)})
             for kind in ("local", "best-node", "neurosurgeon", "modnn")}
    whole = Planner(graph, times, state, "car")
    assert [(s.start, s.stop, s.peers) for s in plans["local"].stages] == [(0, n, ("car",))]
    assert plans["local"].predicted_s == pytest.approx(whole.whole_cost(0, n, "car"))
    # on a 1 GB/s link the fastest peer (f2) runs it all faster than the slow car
    assert [(s.start, s.stop, s.peers) for s in plans["best-node"].stages] == [(0, n, ("f2",))]
    assert plans["neurosurgeon"].predicted_s <= plans["best-node"].predicted_s + 1e-12
    assert all(s.rows is not None and s.peers == ("car", "f1", "f2") for s in plans["modnn"].stages if s.spatial)
    assert any(s.spatial for s in plans["modnn"].stages)
    for kind, plan in plans.items():
        assert plan.model_sha256 == "s" * 64 and plan.input_shapes == {"x": (1, 3, 8, 8)}, kind
        assert best.predicted_s <= plan.predicted_s + 1e-12, kind
    with pytest.raises(PlanError, match="unknown reference plan"):
        ReferencePlan("random")
