"""One refit: a plan on the peers it was given (a matching, or workers' admission)."""

from __future__ import annotations

import pytest

from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.plan import Planner
from fognet.partition.stages import Plan, Stage
from fognet.placement.policies import equal_fit, equal_rows
from fognet.placement.pricing import HaloPricing
from fognet.placement.refit import matched_peers, refit
from tests import graphs


def _chain_planner(speeds: dict[str, float]):
    graph = analyse(graphs.conv_chain_model())
    times = [0.01] * len(graph)
    state = ClusterState.of(
        [PeerState("src", 1.0, quota=0), *(PeerState(p, s) for p, s in speeds.items())],
        default_link=LinkState(1e15, 0.0),
    )
    return graph, Planner(graph, times, state, "src", spatial=HaloPricing(graph))


def test_slices_fit_the_matched_peers_speeds_and_merge_per_peer() -> None:
    graph, planner = _chain_planner({"w1": 1.0, "w2": 3.0, "w3": 1.0})
    n = len(graph)
    plan = Plan("sha", "src", (Stage(0, n, ("w1", "w2", "w3"), ((0, 3), (3, 5), (5, 8))),))
    # slices 0 and 2 given to w2 (speed 3), slice 1 to w3 (speed 1): two slices, 6 rows : 2 rows
    fitted = refit(planner, plan, [["w2", "w3", "w2"]])
    (stage,) = fitted.stages
    assert stage.peers == ("w2", "w3") and stage.rows == ((0, 6), (6, 8))
    assert fitted.model_sha256 == "sha"
    assert fitted.predicted_s == pytest.approx(planner.price_slices(0, n, ("w2", "w3"), stage.rows))


def test_slices_all_given_to_one_peer_become_a_whole_stage_and_neighbours_merge() -> None:
    graph, planner = _chain_planner({"w1": 1.0, "w2": 2.0})
    n = len(graph)
    plan = Plan("sha", "src", (
        Stage(0, 2, ("w1",)), Stage(2, 4, ("w1", "w2"), ((0, 8), (8, 16))), Stage(4, n, ("w1",)),
    ))
    fitted = refit(planner, plan, [["w2"], ["w2", "w2"], ["w1"]])
    assert [(s.start, s.stop, s.peers, s.rows) for s in fitted.stages] == [
        (0, 4, ("w2",), None), (4, n, ("w1",), None)]
    assert fitted.predicted_s == pytest.approx(
        planner.whole_cost(0, 4, "w2") + planner.whole_cost(4, n, "w1"))


def test_a_spatial_stage_on_its_planned_peers_keeps_its_rows_and_is_repriced() -> None:
    graph, planner = _chain_planner({"w1": 1.0, "w2": 2.0})
    n = len(graph)
    plan = Plan("sha", "src", (Stage(0, n, ("w1", "w2"), ((0, 5), (5, 8)), 123.0),), 123.0)
    fitted = refit(planner, plan, [["w1", "w2"]])
    assert fitted.stages[0].rows == ((0, 5), (5, 8))  # not re-sized: it ran where planned
    assert fitted.predicted_s == pytest.approx(planner.price_slices(0, n, ("w1", "w2"), ((0, 5), (5, 8))))


def test_modnn_refits_to_equal_rows_and_refused_pieces_run_at_home() -> None:
    graph, planner = _chain_planner({"w1": 1.0, "w2": 2.0})
    n = len(graph)
    plan = Plan("sha", "src", (Stage(0, 2, ("src",)), Stage(2, n, ("src", "w1", "w2"), equal_rows(8, 3))))
    # w2 refused its slice: it runs on the source, so two peers share the 8 rows equally
    fitted = refit(planner, plan, [["src"], ["src", "w1", "src"]], equal_fit)
    assert [(s.start, s.stop, s.peers, s.rows) for s in fitted.stages] == [
        (0, 2, ("src",), None), (2, n, ("src", "w1"), ((0, 4), (4, 8)))]
    # everything refused: the source runs the whole model as one stage
    home = refit(planner, plan, [["src"], ["src", "src", "src"]], equal_fit)
    assert [(s.start, s.stop, s.peers) for s in home.stages] == [(0, n, ("src",))]
    assert equal_rows(10, 3) == ((0, 4), (4, 7), (7, 10))


def test_matched_peers_are_the_sites_peers_or_the_planned_one() -> None:
    plan = Plan("sha", "car", (Stage(0, 2, ("car",)), Stage(2, 4, ("w1", "w2"), ((0, 4), (4, 8)))))
    ids = [["car.f.s0"], ["car.f.s1.r0", "car.f.s1.r1"]]
    assignment = {"car.f.s0": "w2#w", "car.f.s1.r0": "car"}  # r1 left out of the matching
    assert matched_peers(plan, ids, assignment) == [["w2"], ["car", "w2"]]
