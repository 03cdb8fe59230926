"""Inbound connections are bounded: raw TCP connections from strangers to a real ZeroMQ
transport on 127.0.0.1 cost it at most `max_inbound` descriptors, and a client connected
before the flood is still answered during it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from fognet.errors import PeerUnreachable
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Ping, Pong

BOUND = 8
STRANGERS = 60


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def pong(header, tensors):
    return Header(Pong())


@contextlib.contextmanager
def raw_connections(address: str, n: int):
    host, port = address.rsplit(":", 1)
    socks = [socket.create_connection((host, int(port))) for _ in range(n)]
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


async def test_a_connection_flood_costs_bounded_descriptors_and_members_are_still_served() -> None:
    server = ZmqTransport("server", max_inbound=BOUND)
    async with asyncio.timeout(30), server, ZmqTransport("member") as member:
        serving = asyncio.create_task(server.serve(pong))
        try:
            reply, _ = await member.request(server.address, Header(Ping()), timeout_s=5.0)  # connected first
            base = open_fds()
            with raw_connections(server.address, STRANGERS):
                await asyncio.sleep(1.0)  # the guard sees every ACCEPTED
                held = open_fds() - base - STRANGERS  # the server's side of the strangers
                during, _ = await member.request(server.address, Header(Ping()), timeout_s=5.0)
                stats = server.stats()
            await asyncio.sleep(0.5)
            after = open_fds() - base
        finally:
            serving.cancel()
    assert isinstance(reply.body, Pong) and isinstance(during.body, Pong)
    assert held <= BOUND, f"{held} descriptors held for {STRANGERS} strangers (bound {BOUND})"
    assert stats.cut >= STRANGERS - BOUND  # the member's connection was counted first
    assert after <= 1, f"{after} descriptors left once the strangers went"


async def ping_until_answered(client: ZmqTransport, address: str) -> Header:
    """PING once a second until answered, as bootstrap HELLOs are resent: a message sent on a
    connection that is then cut is lost with it."""
    while True:
        try:
            reply, _ = await client.request(address, Header(Ping()), timeout_s=1.0)
            return reply
        except PeerUnreachable:
            continue


async def test_a_newcomer_meeting_a_full_table_is_cut_then_gets_in_when_room_frees() -> None:
    server = ZmqTransport("server", max_inbound=BOUND)
    async with asyncio.timeout(30), server, ZmqTransport("late") as late:
        serving = asyncio.create_task(server.serve(pong))
        await asyncio.sleep(0.1)  # serving: the guard counts connections from now on
        try:
            with raw_connections(server.address, BOUND):
                await asyncio.sleep(0.5)  # the table is full of strangers
                asking = asyncio.create_task(ping_until_answered(late, server.address))
                await asyncio.sleep(1.0)
                cut = server.stats().cut
            reply = await asking  # its DEALER reconnects on its own until there is room
        finally:
            serving.cancel()
    assert cut >= 1  # the newcomer's connection, not a held one
    assert isinstance(reply.body, Pong)
