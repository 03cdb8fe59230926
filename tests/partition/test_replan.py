"""When to re-plan and when to switch: thresholds on state, hysteresis on plans (pure)."""

from __future__ import annotations

from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.replan import should_switch, state_change
from fognet.partition.stages import Plan, Stage


def _state(speed=1.0, backlog=0.0, bw=1e7, peers=("car", "w1")) -> ClusterState:
    states = [PeerState("car", 0.25)] + [PeerState(p, speed, backlog) for p in peers if p != "car"]
    links = {("car", p): LinkState(bw, 0.002) for p in peers if p != "car"}
    return ClusterState.of(states, links)


def _plan(seconds: float) -> Plan:
    return Plan("", "car", (Stage(0, 4, ("w1",), None, seconds),), seconds)


def test_no_change_or_a_small_one_is_no_reason() -> None:
    assert state_change(_state(), _state()) is None
    assert state_change(_state(), _state(speed=1.1, bw=0.9e7)) is None  # within 20%


def test_joins_and_leaves_come_first() -> None:
    assert str(state_change(_state(), _state(peers=("car", "w1", "w2")))) == "peer w2 joined"
    assert str(state_change(_state(peers=("car", "w1", "w2")), _state())) == "peer w2 left"


def test_speed_backlog_and_bandwidth_moves_past_the_threshold() -> None:
    assert "speed of w1" in str(state_change(_state(), _state(speed=1.3)))
    assert "bandwidth car-w1" in str(state_change(_state(), _state(bw=5e6)))
    assert "backlog of w1" in str(state_change(_state(), _state(backlog=0.5)))
    assert state_change(_state(), _state(bw=5e6), threshold=0.6) is None


def test_tiny_backlogs_do_not_count_as_moves() -> None:
    assert state_change(_state(backlog=0.0), _state(backlog=0.0015)) is None  # vs a 10 ms floor


def test_switch_only_for_a_clear_gain() -> None:
    assert should_switch(_plan(0.100), _plan(0.090))
    assert not should_switch(_plan(0.100), _plan(0.097))  # within the 5% margin
    assert not should_switch(_plan(0.100), _plan(0.120))
    assert should_switch(_plan(0.100), _plan(0.097), margin=0.0)


def _latency(seconds: float) -> ClusterState:
    return ClusterState.of([PeerState("car", 0.25), PeerState("w1", 1.0)], {("car", "w1"): LinkState(1e7, seconds)})


def test_a_link_latency_move_is_a_reason_but_lan_jitter_is_not() -> None:
    # A small frame's slow transfer shows as latency (calibration): 30 ms -> 645 ms re-plans.
    assert str(state_change(_latency(0.03), _latency(0.645))) == "latency car-w1 moved 30 -> 645 ms"
    assert state_change(_latency(0.0002), _latency(0.0009)) is None  # 0.7 ms on a 10 ms floor
    assert state_change(_latency(0.03), _latency(0.034)) is None  # within 20%
