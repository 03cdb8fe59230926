"""The game: properties on many random instances, and single steps on hand-built ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fognet.matching.check import check
from fognet.matching.cost import site_total
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
    sources=st.integers(1, 8),
    workers=st.integers(0, 6),
    subtasks_per_source=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    rule=st.sampled_from(["welfare", "fair"]),
    drop_links=st.sampled_from([0.0, 0.0, 0.4]),
)


def _total(inst, assignment) -> float:
    sites = {*assignment.values()}
    return sum(
        site_total(inst, p, [s for s in inst.subtasks if assignment[s.id] == p]) for p in sites
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances)
def test_game_reaches_a_feasible_exchange_stable_matching(inst) -> None:
    result = play(inst)
    assert set(result.assignment) == {s.id for s in inst.subtasks}
    for w in inst.workers:
        assert sum(1 for p in result.assignment.values() if p == w.id) <= w.quota
    report = check(inst, result.assignment)
    assert report.stable, report.summary()
    assert result.total <= result.phase1_total + 1e-12
    assert result.total == pytest.approx(_total(inst, result.assignment), rel=1e-12)
    assert result.total == pytest.approx(sum(result.latency.values()), rel=1e-12)
    phase1 = deferred_acceptance(inst).assignment
    assert check(inst, phase1).problems == ()
    assert _total(inst, phase1) == pytest.approx(result.phase1_total, rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(inst=instances)
def test_same_instance_same_matching(inst) -> None:
    assert play(inst).to_json() == play(inst).to_json()


def test_large_instance_is_stable() -> None:
    inst = random_instance(30, 12, 4, seed=11)
    result = play(inst)
    assert check(inst, result.assignment).stable
    assert result.counts.passes >= 1


# --- hand-built instances with known answers --------------------------------------------

# One worker with one slot. car1's subtask is light and loses only 10 ms going home; car2's
# is heavy and saves 450 ms on the worker. Deferred acceptance gives the slot to the least
# work (car1); welfare then displaces it, fair lets car1 veto.
DISPLACE = {
    "workers": [{"id": "w1", "speed": 1.0, "backlog": 0.0, "quota": 1}],
    "default_link": {"bandwidth": 1e12, "latency": 0.0},
    "links": [],
    "subtasks": [
        {"id": "a", "source": "car1", "work": 0.01, "in_bytes": 0, "out_bytes": 0},
        {"id": "b", "source": "car2", "work": 0.05, "in_bytes": 0, "out_bytes": 0},
    ],
    "local": [{"source": "car1", "speed": 0.5, "backlog": 0.0},
              {"source": "car2", "speed": 0.1, "backlog": 0.0}],
}


def test_phase1_gives_the_slot_to_least_work() -> None:
    inst = parse_instance(DISPLACE)
    assert deferred_acceptance(inst).assignment == {"a": "w1", "b": "car2"}
    result = play(inst, rule="fair")
    assert result.assignment == {"a": "w1", "b": "car2"}
    assert result.counts.rejections == 1 and result.counts.rounds == 2
    assert result.total == pytest.approx(0.01 + 0.5)


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


def test_try_move_respects_quota_and_gain() -> None:
    inst = parse_instance(DISPLACE)
    both_home = Matching({"a": "car1", "b": "car2"})
    moved = try_move(inst, both_home, "b", "w1")
    assert moved is not None and moved.assignment == {"a": "car1", "b": "w1"}
    # the slot is taken: a move there is refused whatever it would save
    assert try_move(inst, moved, "a", "w1") is None
    # a move that makes things slower is refused
    assert try_move(inst, moved, "b", "car2") is None


SWAP = {
    "workers": [{"id": "w1", "speed": 2.0, "backlog": 0.0, "quota": 1}],
    "links": [{"a": "car1", "b": "w1", "bandwidth": 1e7, "latency": 0.001}],
    "subtasks": [
        {"id": "heavy", "source": "car1", "work": 0.08, "in_bytes": 0, "out_bytes": 0},
        {"id": "light", "source": "car1", "work": 0.005, "in_bytes": 0, "out_bytes": 0},
    ],
    "local": [{"source": "car1", "speed": 0.1, "backlog": 0.0}],
}


def test_try_swap_by_hand() -> None:
    inst = parse_instance(SWAP)
    bad = Matching({"heavy": "car1", "light": "w1"})
    good = try_swap(inst, bad, "heavy", "light")
    assert good is not None and good.assignment == {"heavy": "w1", "light": "car1"}
    assert try_swap(inst, good, "heavy", "light") is None
    result = play(inst)
    assert result.assignment == good.assignment
    # heavy on w1: 2 ms + 40 ms; light at home alone: 50 ms
    assert result.total == pytest.approx(0.042 + 0.05)


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
    assert result.counts.passes == 1


def test_vectorised_fair_veto_agrees_with_exact_evaluation() -> None:
    """The numpy veto filter must never drop a step the exact evaluation would approve."""
    import random

    import numpy as np

    from fognet.matching import game
    from fognet.matching.cost import EPS, CostTable

    checked = 0
    for seed in range(40):
        rng = random.Random(seed)
        inst = random_instance(rng.randint(1, 8), rng.randint(1, 6), rng.randint(1, 4), seed,
                               drop_links=rng.choice([0.0, 0.4]))
        ct = CostTable.build(inst)
        st = game._State(ct, game._deferred_acceptance(ct)[0])
        cands = list(game._candidates(st, "welfare"))
        if not cands:
            continue
        arr = np.array(cands)
        kind, i, j = (arr[:, c].astype(np.int64) for c in (1, 2, 3))
        ok = game._fair_ok(st, game._prices(st), kind, i, j)
        for n, (_, k, a, b) in enumerate(cands):
            _, by_source = game._evaluate(st, game._changes(st, k, a, b))
            assert ok[n] == all(v <= EPS for v in by_source.values())
            checked += 1
    assert checked > 100
