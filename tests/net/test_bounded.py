"""The bounded containers, and the ZeroMQ transport's connection table over real sockets:
strangers naming new addresses cost a bounded number of DEALERs and file descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from fognet.errors import PeerUnreachable
from fognet.net.bounded import BoundedDict, ConnectionTable, DroppingQueue
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Ping
from fognet.testing.fuzz import dead_addresses


def test_bounded_dict_forgets_the_least_recently_set() -> None:
    seen = BoundedDict(3)
    for key in "abcd":
        seen[key] = key.upper()
    seen["b"] = "B2"  # set again: now the newest
    seen["e"] = "E"
    assert list(seen) == ["d", "b", "e"] and seen["b"] == "B2" and seen.dropped == 2


async def test_dropping_queue_drops_and_counts_instead_of_raising() -> None:
    queue = DroppingQueue(2)
    for i in range(5):
        queue.put_nowait(i)
    assert [queue.get_nowait(), queue.get_nowait()] == [0, 1] and queue.dropped == 3


def test_connection_table_evicts_only_idle_connections_least_recent_first() -> None:
    closed: list[str] = []
    busy = {"a"}
    table = ConnectionTable(2, lambda key, value: key in busy, closed.append)
    table["a"], table["b"] = "A", "B"
    table["c"] = "C"  # a is busy: b goes although it is newer
    assert list(table) == ["a", "c"] and closed == ["B"]
    busy.add("c")
    with pytest.raises(PeerUnreachable, match="all 2 connections are busy"):
        table["d"] = "D"
    assert closed == ["B", "D"] and list(table) == ["a", "c"] and table.refused == 1
    busy.clear()
    table.get("a")  # used: c is now the least recent
    table["e"] = "E"
    assert list(table) == ["a", "e"] and closed[-1] == "C" and table.evicted == 2


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_many_addresses_cost_bounded_dealers_and_descriptors() -> None:
    with dead_addresses(120) as addresses:
        async with ZmqTransport(max_connections=8) as transport:
            await _ping_all(transport, addresses[:8])
            base = open_fds()
            await _ping_all(transport, addresses)
            assert len(transport._dealers) == 8 and transport._dealers.evicted == 112
            assert open_fds() - base <= 8, "descriptors grew with the addresses asked"


async def test_a_busy_connection_is_never_evicted() -> None:
    with dead_addresses(3) as addresses:
        async with ZmqTransport(max_connections=2) as transport:
            waiting = [asyncio.create_task(transport.request(a, Header(Ping()), timeout_s=5.0))
                       for a in addresses[:2]]
            await asyncio.sleep(0.05)
            with pytest.raises(PeerUnreachable, match="busy"):
                await transport.send(addresses[2], Header(Ping()), timeout_s=0.1)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            assert set(transport._dealers) == set(addresses[:2])
            await _ping_all(transport, addresses[2:])  # idle again: the oldest makes room
            assert set(transport._dealers) == set(addresses[1:])


async def _ping_all(transport: ZmqTransport, addresses: list[str]) -> None:
    for address in addresses:
        with contextlib.suppress(PeerUnreachable):
            await transport.send(address, Header(Ping()), timeout_s=0.01)


async def test_a_send_whose_connection_is_closed_under_it_fails_as_a_lost_peer() -> None:
    """forget() (membership: a peer left or died) while a heartbeat to the same address waits
    for its connection: the send raises PeerUnreachable; a CancelledError here used to end
    the membership heartbeat loop silently (a TaskGroup ignores a child that was cancelled)."""
    with dead_addresses(1) as (address,):
        async with ZmqTransport() as transport:
            sending = asyncio.create_task(transport.send(address, Header(Ping()), timeout_s=5.0))
            await asyncio.sleep(0.05)
            transport.forget(address)
            with pytest.raises(PeerUnreachable, match="closed while sending"):
                await sending
