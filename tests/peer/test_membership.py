"""Membership: the pure table on hand-made times, then heartbeats over real ZeroMQ."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from fognet.errors import Refused, WireError
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Bye, Header, Hello, Propose, Reason, State
from fognet.peer.membership import MAX_HEARTBEAT_S, EventKind, Membership, MembershipTable


def _state(sender: str, backlog: float = 0.0) -> Header:
    return Header(State("127.0.0.1:7000", name="w1", speed=2.0, backlog_ref_s=backlog, quota=3,
                        models=("ab" * 32,)), sender=sender)


def test_join_update_dead_and_rejoin() -> None:
    table = MembershipTable("me", interval_s=1.0, misses=3)
    [join] = table.observe(_state("w1"), now=0.0)
    assert join.kind is EventKind.JOIN and join.member.quota == 3 and join.member.speed == 2.0
    assert table.observe(_state("w1", backlog=0.5), now=1.0) == []
    assert table.get("w1").backlog_ref_s == 0.5 and table.get("w1").last_seen == 1.0
    assert table.expire(now=4.0) == []  # exactly 3 intervals: not yet
    [dead] = table.expire(now=4.01)
    assert dead.kind is EventKind.DEAD and "w1" not in table
    [again] = table.observe(_state("w1"), now=5.0)
    assert again.kind is EventKind.JOIN


def test_bye_leaves_and_other_messages_and_self_are_ignored() -> None:
    table = MembershipTable("me")
    assert table.observe(_state("me"), 0.0) == []
    assert table.observe(Header(Propose(1, "t", "s", 0.1, 1, 1), sender="w2"), 0.0) == []
    table.observe(Header(Hello("127.0.0.1:7001", name="w2"), sender="w2"), 0.0)
    [leave] = table.observe(Header(Bye(), sender="w2"), 0.5)
    assert leave.kind is EventKind.LEAVE and leave.member.name == "w2" and len(table) == 0


@contextlib.asynccontextmanager
async def _peer(name: str, events: asyncio.Queue, interval_s: float = 0.1):
    transport = ZmqTransport()
    members = Membership(transport, lambda: Hello("", name=name, quota=2), events, interval_s=interval_s)

    async def handler(header, tensors):
        return members.handle(header)

    tasks = [asyncio.create_task(transport.serve(handler)), asyncio.create_task(members.run())]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await transport.aclose()

    try:
        yield members, stop
    finally:
        await stop()


async def _next_event(events: asyncio.Queue, kind: EventKind, seconds: float = 3.0):
    async def wait():
        while True:
            event = await events.get()
            if event.kind is kind:
                return event

    return await asyncio.wait_for(wait(), seconds)


async def test_a_peer_that_stops_is_marked_dead_after_missed_heartbeats() -> None:
    a_events, b_events = asyncio.Queue(), asyncio.Queue()
    async with _peer("a", a_events) as (a, _), _peer("b", b_events) as (b, stop_b):
        await a.introduce(b.transport.address)
        assert (await _next_event(a_events, EventKind.JOIN)).member.name == "b"
        assert (await _next_event(b_events, EventKind.JOIN)).member.name == "a"
        await stop_b()
        dead = await _next_event(a_events, EventKind.DEAD)
        assert dead.member.node_id == b.transport.node_id and len(a.table) == 0


async def test_bye_is_sent_on_leave() -> None:
    a_events, b_events = asyncio.Queue(), asyncio.Queue()
    async with _peer("a", a_events) as (a, _), _peer("b", b_events) as (b, _):
        await a.introduce(b.transport.address)
        await b.leave()
        assert (await _next_event(a_events, EventKind.LEAVE)).member.name == "b"


def _hello(sender: str, address: str, instance: str) -> Header:
    return Header(Hello(address, name=sender, quota=1, instance=instance), sender=sender)


def test_a_second_peer_with_a_taken_name_is_refused_until_the_first_is_gone() -> None:
    table = MembershipTable("me", interval_s=1.0, misses=3, instance="i-me")
    [join] = table.observe(_hello("w1", "127.0.0.1:7001", "i-a"), now=0.0)
    assert join.kind is EventKind.JOIN
    assert table.observe(_hello("w1", "127.0.0.1:7002", "i-b"), now=0.5) == []
    assert table.get("w1").address == "127.0.0.1:7001" and table.conflicts == {"i-b": "127.0.0.1:7002"}
    table.expire(now=3.5)  # the first one falls silent and dies ...
    [again] = table.observe(_hello("w1", "127.0.0.1:7002", "i-b"), now=3.6)  # ... then the second joins
    assert again.kind is EventKind.JOIN and again.member.address == "127.0.0.1:7002"


def test_a_restart_at_the_same_address_replaces_the_old_entry_and_a_clone_of_me_is_noticed() -> None:
    table = MembershipTable("me", interval_s=1.0, misses=3, instance="i-me")
    table.observe(_hello("w1", "127.0.0.1:7001", "i-a"), now=0.0)
    assert table.observe(_hello("w1", "127.0.0.1:7001", "i-new"), now=0.2) == []
    assert table.get("w1").instance == "i-new" and not table.conflicts
    assert table.observe(_hello("me", "127.0.0.1:7009", "i-clone"), now=0.3) == []
    assert table.conflicts == {"i-clone": "127.0.0.1:7009"} and "me" not in table


async def test_two_live_peers_get_different_instances() -> None:
    events: asyncio.Queue = asyncio.Queue()
    async with _peer("a", events) as (a, _), _peer("b", events) as (b, _):
        assert a.hello().instance and a.hello().instance != b.hello().instance


def _newcomer(sender: str, address: str = "127.0.0.1:7000") -> Header:
    return Header(Hello(address, name=sender), sender=sender)


def test_a_full_table_refuses_newcomers_and_never_evicts_members() -> None:
    table = MembershipTable("me", interval_s=1.0, misses=3, max_members=2)
    table.observe(_newcomer("w1"), 0.0)
    table.observe(_newcomer("w2"), 0.0)
    for i in range(100):
        assert table.observe(_newcomer(f"fake{i}", f"127.0.0.1:{9000 + i}"), 1.0) == []
    assert [m.node_id for m in table.alive()] == ["w1", "w2"] and table.refused == 100
    assert not table.admits("fake0") and table.admits("w1")
    table.observe(_state("w1"), 3.5)  # w1 beats, w2 falls silent
    [dead] = table.expire(4.01)
    assert dead.member.node_id == "w2" and table.admits("fake0")
    [join] = table.observe(_newcomer("fake0"), 4.1)
    assert join.kind is EventKind.JOIN and len(table) == 2


def test_conflicting_instances_are_remembered_within_a_bound() -> None:
    table = MembershipTable("me", instance="mine")
    for i in range(1000):
        header = Header(Hello("127.0.0.1:1", name="me", instance=f"i{i}"), sender="me")
        table.observe(header, 0.0)
    assert len(table.conflicts) <= 64


async def test_a_full_membership_answers_busy_and_a_bad_address_malformed() -> None:
    transport = ZmqTransport()
    try:
        members = Membership(transport, lambda: Hello(""), asyncio.Queue(), max_members=1)
        assert isinstance(members.handle(_newcomer("w1")).body, Hello)
        with pytest.raises(Refused) as info:
            members.handle(_newcomer("w2"))
        assert info.value.reason is Reason.BUSY
        for address in ("nowhere", "127.0.0.1:0", "127.0.0.1:http", ""):
            with pytest.raises(WireError, match="address"):
                members.handle(_newcomer("w1", address))
        assert [m.node_id for m in members.table.alive()] == ["w1"]
    finally:
        await transport.aclose()


def test_a_newcomer_takes_the_place_of_a_member_that_takes_no_heartbeats() -> None:
    table = MembershipTable("me", interval_s=1.0, misses=3, max_members=2)
    table.observe(_newcomer("w1"), 0.0)
    table.observe(_newcomer("fake", "127.0.0.1:9"), 0.0)
    table.heartbeat_sent("w1", True)
    table.heartbeat_sent("fake", False)
    assert not table.admits("car")  # one miss is not enough
    table.heartbeat_sent("fake", False)
    dead, join = table.observe(_newcomer("car"), 0.5)
    assert (dead.kind, dead.member.node_id) == (EventKind.DEAD, "fake")
    assert (join.kind, join.member.node_id) == (EventKind.JOIN, "car")
    for _ in range(5):
        table.heartbeat_sent("w1", False)
    table.heartbeat_sent("w1", True)  # it took one again: it works
    assert table.observe(_newcomer("other"), 0.6) == [] and {m.node_id for m in table.alive()} == {"w1", "car"}


async def test_figures_that_would_break_planning_are_refused_or_dropped() -> None:
    """A member's speed, backlog and quota are what plans and rounds are priced with: a
    speed of 0 once made every ROUND_OPEN fail as HANDLER_FAILED (found by bench_fuzz)."""
    transport = ZmqTransport()
    try:
        members = Membership(transport, lambda: Hello(""), asyncio.Queue())
        bad = {"speed": [0.0, -1.0, float("nan"), float("inf")], "backlog_ref_s": [-1.0, float("nan"), float("inf")],
               "quota": [-1]}
        for field, values in bad.items():
            for value in values:
                hello = Header(Hello("127.0.0.1:7000", name="w1", **{field: value}), sender="w1")
                with pytest.raises(WireError, match=field):
                    members.handle(hello)
                members.heard(hello)  # as a reply: dropped, no exception
        assert len(members.table) == 0
        members.heard(Header(Hello("127.0.0.1:7000", name="w1", speed=2.0), sender="w1"))
        assert members.table.get("w1").speed == 2.0
    finally:
        await transport.aclose()


def test_a_peer_is_dead_after_three_of_its_own_announced_intervals() -> None:
    table = MembershipTable("me", interval_s=0.2, misses=3)
    slow = Header(State("127.0.0.1:7000", name="src", heartbeat_s=1.0), sender="src")
    silent = Header(State("127.0.0.1:7001", name="old"), sender="old")  # announces none
    table.observe(slow, now=0.0)
    table.observe(silent, now=0.0)
    assert table.get("src").heartbeat_s == 1.0 and table.get("old").heartbeat_s == 0.0
    [dead] = table.expire(now=0.61)  # 3 of ours for the one that said nothing
    assert dead.member.node_id == "old"
    assert table.expire(now=2.9) == [] and "src" in table  # 3 of ITS 1 s beats not yet missed
    [dead] = table.expire(now=3.01)
    assert dead.member.node_id == "src"


def test_an_announced_interval_is_capped_and_nonsense_counts_as_none() -> None:
    table = MembershipTable("me", interval_s=0.5)
    for sender, beat in (("huge", 1e9), ("nan", float("nan")), ("neg", -1.0)):
        table.observe(Header(State("127.0.0.1:7000", name=sender, heartbeat_s=beat), sender=sender), 0.0)
    assert table.get("huge").heartbeat_s == MAX_HEARTBEAT_S
    assert table.get("nan").heartbeat_s == 0.0 and table.get("neg").heartbeat_s == 0.0
    assert {e.member.node_id for e in table.expire(now=1.6)} == {"nan", "neg"}


async def test_a_fast_peer_keeps_a_slow_beating_peer_alive_over_zeromq() -> None:
    """A source beating every 0.5 s is not dead to a worker beating every 0.05 s (3 of the
    worker's beats pass many times over between two of the source's)."""
    fast_events, slow_events = asyncio.Queue(), asyncio.Queue()
    async with _peer("fast", fast_events, 0.05) as (fast, _), _peer("slow", slow_events, 0.5) as (slow, _):
        await slow.introduce(fast.transport.address)
        assert (await _next_event(fast_events, EventKind.JOIN)).member.name == "slow"
        assert fast.hello().heartbeat_s == 0.05
        await asyncio.sleep(1.6)  # three of the slow peer's beats, ten of the fast one's 3-beat limit
        assert slow.transport.node_id in fast.table
        assert fast.table.get(slow.transport.node_id).heartbeat_s == 0.5
        assert all(e.kind is EventKind.JOIN for e in _drain(fast_events))


def _drain(events: asyncio.Queue) -> list:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out
