"""The re-planning rule itself, pure (`infer.replanning`): when to run the DP, when only to
re-price, and which known plans a re-price weighs."""

from __future__ import annotations

from fognet.infer.placement import FixedPlan, PlannerPlacement
from fognet.infer.replanning import choose, next_step
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.replan import KNOWN_PLANS, known_plans
from fognet.partition.stages import Plan, Stage


def _state(bw: float) -> ClusterState:
    return ClusterState.of([PeerState("car", 0.25), PeerState("w1", 1.0)], {("car", "w1"): LinkState(bw, 0.002)})


def _plan(cut: int, seconds: float = 0.0) -> Plan:
    stages = (Stage(0, cut, ("car",)), Stage(cut, 8, ("w1",))) if cut else (Stage(0, 8, ("w1",)),)
    return Plan("sha", "car", stages, seconds)


def test_a_move_re_plans_only_when_the_interval_passed_and_re_prices_meanwhile() -> None:
    planned = _state(1e7)
    assert next_step(planned, planned, _state(1.05e7), 9.0, 0.2, 5.0) is None  # within 20%
    assert next_step(planned, planned, _state(2e6), 5.0, 0.2, 5.0) == ("replan", "bandwidth car-w1 moved 1e+07 -> 2e+06 B/s")
    step = next_step(planned, planned, _state(2e6), 1.0, 0.2, 5.0)
    assert step is not None and step[0] == "reprice"
    # re-priced under 2e6 already: nothing more until the state moves again
    assert next_step(planned, _state(2e6), _state(2e6), 1.0, 0.2, 5.0) is None


def test_choose_takes_a_candidate_only_for_a_clear_gain() -> None:
    current = _plan(0, 1.0)
    assert choose(current, [_plan(2, 0.97), _plan(3, 0.99)], 0.05) is current
    better = _plan(3, 0.9)
    assert choose(current, [_plan(2, 0.97), better], 0.05) is better
    assert choose(None, [_plan(2, 0.97), better], 0.05) is better


def test_known_plans_are_the_last_distinct_ones_then_the_source_alone() -> None:
    history = [_plan(k) for k in (1, 2, 1, 3, 4, 5, 6, 0)]
    known = known_plans(history[:-1], history[-1], alone=True)
    cuts = [p.stages[0].stop for p in known]
    assert cuts[:KNOWN_PLANS] == [6, 5, 4, 3] and len(known) == KNOWN_PLANS + 1
    alone = known[-1]
    assert alone.stages == (Stage(0, 8, ("car",)),) and alone.source == "car" and alone.model_sha256 == "sha"
    assert known_plans([], alone, alone=True) == []  # running alone already
    assert [p.stages for p in known_plans(history[:-1], history[-1], alone=False)] == [p.stages for p in known[:-1]]


def test_only_placements_that_plan_alone_revisit_plans() -> None:
    history = [_plan(2), _plan(0)]
    assert len(PlannerPlacement().revisit(history[:-1], history[-1])) == 2  # the earlier one, and alone
    assert len(PlannerPlacement(use_source=False).revisit(history[:-1], history[-1])) == 1
    assert FixedPlan(history[-1]).revisit(history[:-1], history[-1]) == []  # a baseline stays itself
