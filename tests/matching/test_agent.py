"""The sans-I/O agents: single decisions by hand, and whole games over in-memory queues."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.matching.agent import SourceAgent, WorkerAgent, worker_vote
from fognet.matching.check import check
from fognet.matching.game import deferred_acceptance, play
from fognet.matching.instance import parse_instance
from fognet.matching.local_driver import run_local
from fognet.matching.messages import (
    Accept,
    Change,
    Outgoing,
    Propose,
    Reason,
    Reject,
    RoundDone,
    SwapAbort,
    SwapAsk,
    SwapVote,
    Turn,
)
from fognet.matching.random_instance import random_instance
from tests.matching.test_game import DISPLACE


def _sub(inst, sid):
    return next(s for s in inst.subtasks if s.id == sid)


def test_worker_holds_least_work_and_bumps() -> None:
    inst = parse_instance(DISPLACE)
    w = WorkerAgent(inst, "w1")
    a, b = _sub(inst, "a"), _sub(inst, "b")
    assert w.handle(Propose("car2", b)) == [Outgoing("car2", Accept("w1", "b"))]
    # a has less work: held, and b is bumped
    assert w.handle(Propose("car1", a)) == [
        Outgoing("car1", Accept("w1", "a")),
        Outgoing("car2", Reject("w1", "b", Reason.WORSE_THAN_HELD)),
    ]
    assert w.handle(Propose("car2", b)) == [Outgoing("car2", Reject("w1", "b", Reason.QUOTA_FULL))]
    hosted = w.handle(RoundDone("driver", 1))
    assert [o.to for o in hosted] == ["car1", "car2"]
    assert hosted[0].message.hosted == (a,)


def test_worker_refuses_out_of_reach() -> None:
    data = dict(DISPLACE, default_link=None, links=[{"a": "car2", "b": "w1", "bandwidth": 1e9}])
    inst = parse_instance(data)
    w = WorkerAgent(inst, "w1")
    out = w.handle(Propose("car1", _sub(inst, "a")))
    assert out == [Outgoing("car1", Reject("w1", "a", Reason.OUT_OF_REACH))]


def test_votes_by_hand() -> None:
    inst = parse_instance(DISPLACE)
    a, b = _sub(inst, "a"), _sub(inst, "b")
    step = (Change(b, "car2", "w1"), Change(a, "w1", "car1"))
    # the worker answers for its room: a leaves, b arrives, still one subtask
    assert worker_vote(inst, "w1", [a], step).ok
    assert worker_vote(inst, "w1", [], step).reason is Reason.STALE_STEP
    full = worker_vote(inst, "w1", [a], [Change(b, "car2", "w1")])
    assert not full.ok and full.reason is Reason.QUOTA_FULL
    # each source prices its own share of J: car1's frames 10 ms slower, car2's 450 ms faster
    car1 = SourceAgent(inst, "car1", inst.sources)
    car1.start()
    vote = car1.handle(SwapAsk("car2", 1, "displace", step))[0].message
    assert vote.ok and vote.delta == pytest.approx(0.01)
    assert dict(vote.by_source) == pytest.approx({"car1": 0.01})
    car2 = SourceAgent(inst, "car2", inst.sources)
    car2.start()
    car2.handle(Reject("w1", "b", Reason.QUOTA_FULL))
    car2.handle(RoundDone("w1", 1, hosted=(a,)))
    mine = car2._my_vote(step)
    assert mine.ok and mine.delta == pytest.approx(-0.45)


def test_party_locks_while_a_step_is_open() -> None:
    inst = parse_instance(DISPLACE)
    a, b = _sub(inst, "a"), _sub(inst, "b")
    w = WorkerAgent(inst, "w1")
    w.handle(Propose("car1", a))
    step = (Change(b, "car2", "w1"), Change(a, "w1", "car1"))
    first = w.handle(SwapAsk("car2", 1, "displace", step))[0].message
    assert first.ok
    busy = w.handle(SwapAsk("car1", 7, "move", (Change(a, "w1", "car1"),)))[0].message
    assert busy == SwapVote("w1", 7, False, reason=Reason.BUSY)
    w.handle(SwapAbort("car2", 1))
    assert w.handle(SwapAsk("car1", 8, "move", (Change(a, "w1", "car1"),)))[0].message.ok


def test_source_proposes_down_its_list() -> None:
    inst = parse_instance(DISPLACE)
    src = SourceAgent(inst, "car2", inst.sources)
    b = _sub(inst, "b")
    assert src.start() == [Outgoing("w1", Propose("car2", b))]
    assert src.handle(Reject("w1", "b", Reason.QUOTA_FULL)) == []  # home never rejects
    assert src.placement() == {"b": "car2"}


@pytest.mark.parametrize("rule", ["welfare", "fair"])
def test_displacement_game_by_hand(rule: str) -> None:
    inst = parse_instance(DISPLACE)
    run = run_local(inst, rule=rule)
    assert run.phase1 == {"a": "w1", "b": "car2"}
    expected = {"a": "car1", "b": "w1"} if rule == "welfare" else run.phase1
    assert run.assignment == expected
    assert run.by_type["SwapAsk"] >= 1


@pytest.mark.parametrize("block", range(4))
def test_agents_reach_exactly_the_matching_of_play(block: int) -> None:
    """200 random instances (50 per block), every one compared: phase 1 and the end."""
    for seed in range(block * 50, block * 50 + 50):
        inst = random_instance(1 + seed % 4, seed % 5, 1 + seed % 4, seed,
                               rule=("welfare", "fair")[seed % 2],
                               drop_links=(0.0, 0.0, 0.4)[seed % 3],
                               arrival=("fixed", "fixed", "poisson")[seed % 3],
                               queue=("sjf", "fifo")[seed % 7 == 0])
        run = run_local(inst)
        assert run.phase1 == dict(sorted(deferred_acceptance(inst).assignment.items())), seed
        assert run.assignment == dict(sorted(play(inst).assignment.items())), seed


@settings(max_examples=25, deadline=None)
@given(
    sources=st.integers(1, 5),
    workers=st.integers(0, 4),
    per_source=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    rule=st.sampled_from(["welfare", "fair"]),
    drop=st.sampled_from([0.0, 0.4]),
)
def test_agents_reach_a_matching_the_checker_accepts(sources, workers, per_source, seed, rule, drop):
    inst = random_instance(sources, workers, per_source, seed, rule=rule, drop_links=drop)
    run = run_local(inst)
    report = check(inst, run.assignment)
    assert report.stable, report.summary()


def test_agents_are_deterministic() -> None:
    inst = random_instance(4, 3, 2, seed=9)
    assert run_local(inst) == run_local(inst)


def test_expired_step_is_aborted_and_forgotten_peer_unlocks() -> None:
    inst = parse_instance(DISPLACE)
    a, b = _sub(inst, "a"), _sub(inst, "b")
    src = SourceAgent(inst, "car2", inst.sources)
    src.start()
    src.handle(Reject("w1", "b", Reason.QUOTA_FULL))
    src.handle(RoundDone("w1", 1, hosted=(a,)))
    asks = src.handle(Turn("driver", 0))
    assert {o.to for o in asks} == {"car1", "w1"}
    assert all(isinstance(o.message, SwapAsk) for o in asks)
    # nobody answers: the step is aborted to both parties and the next one is asked
    after = src.expire()
    aborts = [o for o in after if isinstance(o.message, SwapAbort)]
    assert {o.to for o in aborts} == {"car1", "w1"}
    w = WorkerAgent(inst, "w1")
    w.handle(Propose("car1", a))
    assert w.handle(SwapAsk("car2", 1, "displace", (Change(b, "car2", "w1"), Change(a, "w1", "car1"))))[0].message.ok
    w.forget("car2")
    assert w.lock is None
