"""The source's fault rules on hand-made times: bans, deadlines, the window, what follows a failure."""

from __future__ import annotations

import asyncio

import pytest

from fognet.errors import PeerUnreachable, SubtaskFailed
from fognet.infer.replay import Bans, Deadlines, Faults, Window, stopgap
from fognet.partition.cost import ClusterState, PeerState
from fognet.partition.stages import Plan, Stage


def test_a_ban_doubles_per_fault_in_a_row_counts_a_burst_once_and_a_success_resets_it() -> None:
    bans = Bans(base_s=5.0, backoff=2.0, max_s=12.0)
    assert bans.fail("w1", now=0.0) == 5.0
    assert bans.fail("w1", now=1.0) == 4.0  # frames in flight on it when it failed: one fault
    assert bans.banned(4.9) == {"w1"} and bans.banned(5.0) == frozenset()
    assert bans.fail("w1", now=6.0) == 10.0  # a second fault in a row
    assert bans.fail("w1", now=17.0) == 12.0  # capped
    bans.succeed("w1")
    assert bans.fail("w1", now=30.0) == 5.0


def test_bans_never_leave_no_worker() -> None:
    bans = Bans()
    bans.fail("w1", 0.0)
    assert bans.usable(["w1", "w2"], 1.0) == {"w2"}
    bans.fail("w2", 0.0)
    assert bans.usable(["w1", "w2"], 1.0) == {"w1", "w2"}  # all banned: try them all the same


def test_a_deadline_follows_the_peers_slow_round_trips_within_floor_and_ceiling() -> None:
    d = Deadlines(floor_s=0.3, factor=4.0, decay=0.5)
    assert d.timeout("w1", "k", ceiling_s=10.0) == 10.0  # never seen: the full timeout
    d.observe("w1", "k", 0.5)
    assert d.timeout("w1", "k", 10.0) == 2.0
    assert d.timeout("w1", "k", 1.5) == 1.5
    d.observe("w1", "k", 0.01)  # the slow one decays
    assert d.timeout("w1", "k", 10.0) == 1.0
    for _ in range(10):
        d.observe("w1", "k", 0.01)
    assert d.timeout("w1", "k", 10.0) == 0.3  # floor
    assert d.timeout("w1", "other", 10.0) == 10.0 and d.timeout("w2", "k", 10.0) == 10.0


async def test_the_window_halves_on_busy_and_grows_back_by_one_per_window_of_successes() -> None:
    w = Window(4)
    for _ in range(4):
        await w.acquire()
    blocked = asyncio.create_task(w.acquire())
    await asyncio.sleep(0.01)
    assert not blocked.done()
    w.shrink()
    assert w.limit == 2
    w.release(), w.release()
    await asyncio.sleep(0.01)
    assert not blocked.done()  # 2 in flight at a limit of 2
    w.release()
    await asyncio.wait_for(blocked, 1.0)
    w.grow(), w.grow()  # one window of successes at 2
    assert w.limit == 3
    for _ in range(10):
        w.grow()
    assert w.limit == 4  # never past the window asked for


async def test_after_a_fault_bans_and_uses_a_try_busy_waits_and_bans_only_when_it_stays_full() -> None:
    faults = Faults(tries=2, busy_wait_s=(0.001, 0.002), busy_ban_after=3)
    attempts = [SubtaskFailed("stage 0 on w1: no answer after 0.31 s", "w1")]
    await faults.after(attempts[0], attempts, now=0.0, waited_s=0.3)
    assert faults.bans.banned(1.0) == {"w1"} and faults.replayed == 1
    for _ in range(2):
        attempts.append(SubtaskFailed("stage 0 on w2: BUSY", "w2", busy=True))
        await faults.after(attempts[-1], attempts, now=0.5, waited_s=0.4)
    assert faults.bans.banned(1.0) == {"w1"} and faults.busy == 2  # waited, not banned
    attempts.append(SubtaskFailed("stage 0 on w2: BUSY", "w2", busy=True))
    await faults.after(attempts[-1], attempts, now=0.5, waited_s=0.5)
    assert faults.bans.banned(1.0) == {"w1", "w2"}  # three in a row: it stays full
    attempts.append(SubtaskFailed("stage 1 on w3: the peer went away after 0.02 s", "w3"))
    with pytest.raises(PeerUnreachable, match="2 tries failed: stage 0 on w1.*; stage 1 on w3"):
        await faults.after(attempts[-1], attempts, now=0.6, waited_s=0.6)


async def test_a_frame_that_stays_busy_past_its_budget_fails_saying_so() -> None:
    faults = Faults(busy_budget_s=1.0)
    busy = SubtaskFailed("stage 0 on w2: BUSY", "w2", busy=True)
    with pytest.raises(PeerUnreachable, match="stayed busy for 1.5 s"):
        await faults.after(busy, [busy], now=0.0, waited_s=1.5)


def test_a_stopgap_moves_a_lost_peers_subtasks_to_the_fastest_survivors_keeping_slices_apart() -> None:
    plan = Plan("sha", "src", (Stage(0, 3, ("w1", "w2"), ((0, 4), (4, 8))), Stage(3, 5, ("w2",)),
                               Stage(5, 6, ("w3",))))
    state = ClusterState.of([PeerState("src", 1.0, quota=0), PeerState("w1", 1.0),
                             PeerState("w3", 2.0), PeerState("w4", 3.0)])
    patched = stopgap(plan, state)
    assert [s.peers for s in patched.stages] == [("w1", "w4"), ("w4",), ("w3",)]  # w2 lost
    assert [s.rows for s in patched.stages] == [s.rows for s in plan.stages]
    assert stopgap(plan, ClusterState.of([PeerState("src", 1.0, quota=0)])) is None  # no one left
