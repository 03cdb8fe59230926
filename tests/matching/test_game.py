"""The game: properties on many random instances, and single steps on hand-built ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fognet.matching.check import check
from fognet.matching.cost import evaluate, fits
from fognet.matching.game import (
    Matching,
    deferred_acceptance,
    play,
    try_displace,
    try_move,
    try_swap,
)
from fognet.matching.instance import parse_instance
from fognet.matching.random_instance import random_instance

instances = st.builds(
    random_instance,
    sources=st.integers(1, 5),
    workers=st.integers(0, 5),
    subtasks_per_source=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    rule=st.sampled_from(["welfare", "fair"]),
    drop_links=st.sampled_from([0.0, 0.0, 0.4]),
    arrival=st.sampled_from(["fixed", "poisson"]),
    queue=st.sampled_from(["sjf", "sjf", "fifo"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances)
def test_game_reaches_a_feasible_exchange_stable_matching(inst) -> None:
    result = play(inst)
    assert set(result.assignment) == {s.id for s in inst.subtasks}
    for w in inst.workers:
        assert fits(inst, w.id, [s for s in inst.subtasks if result.assignment[s.id] == w.id])
    report = check(inst, result.assignment)
    assert report.stable, report.summary()
    assert result.objective <= result.phase1_objective + 1e-12
    ev = evaluate(inst, result.assignment)
    assert result.objective == ev.objective
    assert result.objective == pytest.approx(
        sum(d.rate * result.task_latency[d.source] for d in inst.local), rel=1e-12)
    phase1 = deferred_acceptance(inst).assignment
    assert check(inst, phase1).problems == ()
    assert evaluate(inst, phase1).objective == result.phase1_objective


@settings(max_examples=15, deadline=None)
@given(inst=instances)
def test_same_instance_same_matching(inst) -> None:
    assert play(inst).to_json() == play(inst).to_json()


def test_larger_instance_is_stable() -> None:
    inst = random_instance(8, 5, 3, seed=11)
    result = play(inst)
    assert check(inst, result.assignment).stable
    assert result.counts.passes >= len(inst.sources)
    assert result.objective < result.phase1_objective


# --- hand-built instances with known answers --------------------------------------------

# One worker with one slot. car1's subtask is light and loses only 10 ms going home; car2's
# is heavy and saves 450 ms on the worker. Deferred acceptance gives the slot to the least
# load (car1); welfare then displaces it, fair lets car1 veto. One frame a second each, one
# piece per site: nobody waits (a fixed-rate stream never waits for itself).
DISPLACE = {
    "workers": [{"id": "w1", "speed": 1.0, "backlog": 0.0, "quota": 1}],
    "default_link": {"bandwidth": 1e12, "latency": 0.0},
    "links": [],
    "subtasks": [
        {"id": "a", "source": "car1", "stage": 0, "work": 0.01, "in_bytes": 0, "out_bytes": 0},
        {"id": "b", "source": "car2", "stage": 0, "work": 0.05, "in_bytes": 0, "out_bytes": 0},
    ],
    "local": [{"source": "car1", "speed": 0.5, "backlog": 0.0, "rate": 1.0},
              {"source": "car2", "speed": 0.1, "backlog": 0.0, "rate": 1.0}],
}


def test_phase1_gives_the_slot_to_least_load() -> None:
    inst = parse_instance(DISPLACE)
    assert deferred_acceptance(inst).assignment == {"a": "w1", "b": "car2"}
    result = play(inst, rule="fair")
    assert result.assignment == {"a": "w1", "b": "car2"}
    assert result.counts.rejections == 1 and result.counts.rounds == 2
    assert result.objective == pytest.approx(0.01 + 0.5)


def test_a_cap_holds_like_a_quota() -> None:
    data = dict(DISPLACE, workers=[{"id": "w1", "speed": 1.0, "cap": 0.055}])
    inst = parse_instance(data)
    # a (load 0.01) and b (0.05) each fit under 0.055, together (0.06) they do not
    assert deferred_acceptance(inst).assignment == {"a": "w1", "b": "car2"}
    assert play(inst).assignment == {"a": "car1", "b": "w1"}


def test_welfare_displaces_and_fair_vetoes() -> None:
    inst = parse_instance(DISPLACE)
    start = deferred_acceptance(inst)
    after = try_displace(inst, start, "b", "a", rule="welfare")
    assert after is not None and after.assignment == {"a": "car1", "b": "w1"}
    assert try_displace(inst, start, "b", "a", rule="fair") is None
    result = play(inst)
    assert result.assignment == {"a": "car1", "b": "w1"}
    assert result.counts.displacements == 1
    assert result.latency == pytest.approx({"a": 0.02, "b": 0.05})
    assert result.task_latency == pytest.approx({"car1": 0.02, "car2": 0.05})


def test_try_move_respects_quota_and_gain() -> None:
    inst = parse_instance(DISPLACE)
    both_home = Matching({"a": "car1", "b": "car2"})
    moved = try_move(inst, both_home, "b", "w1")
    assert moved is not None and moved.assignment == {"a": "car1", "b": "w1"}
    # the slot is taken: a move there is refused whatever it would save
    assert try_move(inst, moved, "a", "w1") is None
    # a move that makes things slower is refused
    assert try_move(inst, moved, "b", "car2") is None


# One source, two stages: the heavy one belongs on the worker, the light one at home.
SWAP = {
    "workers": [{"id": "w1", "speed": 2.0, "backlog": 0.0, "quota": 1}],
    "links": [{"a": "car1", "b": "w1", "bandwidth": 1e7, "latency": 0.001}],
    "subtasks": [
        {"id": "heavy", "source": "car1", "stage": 0, "work": 0.08, "in_bytes": 0, "out_bytes": 0},
        {"id": "light", "source": "car1", "stage": 1, "work": 0.005, "in_bytes": 0, "out_bytes": 0},
    ],
    "local": [{"source": "car1", "speed": 0.1, "backlog": 0.0, "rate": 1.0}],
}


def test_try_swap_by_hand() -> None:
    inst = parse_instance(SWAP)
    bad = Matching({"heavy": "car1", "light": "w1"})
    good = try_swap(inst, bad, "heavy", "light")
    assert good is not None and good.assignment == {"heavy": "w1", "light": "car1"}
    assert try_swap(inst, good, "heavy", "light") is None
    result = play(inst)
    assert result.assignment == good.assignment
    # heavy on w1: 1 + 40 + 1 ms; light at home alone: 50 ms; the task is both stages
    assert result.task_latency["car1"] == pytest.approx(0.042 + 0.05)


def test_unreachable_worker_is_never_used() -> None:
    inst = random_instance(4, 3, 3, seed=5, drop_links=0.6)
    result = play(inst)
    for s in inst.subtasks:
        site = result.assignment[s.id]
        assert site == s.source or inst.link(s.source, site) is not None


def test_no_workers_everything_home() -> None:
    inst = random_instance(2, 0, 3, seed=1)
    result = play(inst)
    assert all(result.assignment[s.id] == s.source for s in inst.subtasks)
    assert result.counts.passes == 2 and result.objective == result.phase1_objective
