"""A flood of fake peers at a real peer over ZeroMQ: 600 HELLOs with new names and new
addresses cost it at most `max_members` members and their connections (bounded file
descriptors), the real member stays, and a refused newcomer is told why (BUSY)."""

from __future__ import annotations

import asyncio
import os

from fognet.errors import RemoteError
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Hello, Reason
from fognet.peer.node import Peer, PeerConfig
from fognet.testing.fuzz import dead_addresses

MAX_MEMBERS = 8
FAKES = 600


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_hello_flood_costs_bounded_members_and_descriptors(tmp_path) -> None:
    target = Peer(PeerConfig("f1", cache_dir=tmp_path / "f1", heartbeat_s=0.3, max_members=MAX_MEMBERS))
    real = Peer(PeerConfig("car", cache_dir=tmp_path / "car", heartbeat_s=0.3, bootstrap=(target.address,)))
    refused: list[Reason] = []
    with dead_addresses(FAKES) as addresses:
        async with asyncio.timeout(60), target.running(), real.running(), ZmqTransport() as stranger:
            await real.wait_for_peers(2, timeout=5.0)
            base = open_fds()
            for i, address in enumerate(addresses):
                hello = Header(Hello(address, name=f"fake{i}", quota=4))
                try:
                    await stranger.request(target.address, hello, timeout_s=5.0)
                except RemoteError as exc:
                    refused.append(exc.reason)
            await asyncio.sleep(1.0)  # a few heartbeats to the fakes' dead addresses
            grown = open_fds() - base
            members = {m.node_id for m in target.membership.table.alive()}
            dealers = len(target.transport._dealers)
            await real.wait_for_peers(2, timeout=5.0)
    assert "car" in members and len(members) <= MAX_MEMBERS
    assert set(refused) <= {Reason.BUSY}  # refused while every fake still took heartbeats, else
    # each newcomer took the place of a fake whose dead address took none (never car's)
    assert dealers <= 2 * MAX_MEMBERS
    assert grown <= 4 * MAX_MEMBERS, f"{grown} more descriptors after {FAKES} fake peers"


def _peer_process(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", "from fognet.cli import main; main()", "peer", "--name", "fog1", "--profile", "rpi4",
         "--no-discovery", "--heartbeat", "0.3", "--cache", str(tmp_path / "fog1"), "--exit-with-parent"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert " listening on " in line, line
    return proc, line.split(" listening on ")[1].strip()


async def test_a_connection_flood_at_a_peer_process_costs_bounded_descriptors(tmp_path) -> None:
    """1,000 raw TCP connections at a `fognet peer` process: its descriptors grow by at most
    its inbound bound, its member is still served during the flood, and a newcomer joins
    once the strangers are gone."""
    import socket

    from fognet.net.transport import DEFAULT_MAX_INBOUND
    from fognet.net.wire import Ping, Pong

    proc, address = _peer_process(tmp_path)
    host, port = address.rsplit(":", 1)

    def fds() -> int:
        return len(os.listdir(f"/proc/{proc.pid}/fd"))

    member = Peer(PeerConfig("car", cache_dir=tmp_path / "car", heartbeat_s=0.3, bootstrap=(address,)))
    try:
        async with asyncio.timeout(60), member.running():
            await member.wait_for_peers(2, timeout=15.0)
            base = fds()
            strangers = [socket.create_connection((host, int(port))) for _ in range(1000)]
            try:
                await asyncio.sleep(1.5)
                grown = fds() - base
                pong, _ = await member.transport.request(address, Header(Ping()), timeout_s=5.0)
                still = "fog1" in member.live_peers()
            finally:
                for s in strangers:
                    s.close()
            late = Peer(PeerConfig("late", cache_dir=tmp_path / "late", heartbeat_s=0.3, bootstrap=(address,)))
            async with late.running():
                seen = await late.wait_for_peers(3, timeout=15.0)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    # the bound, plus a few the process opens meanwhile (the guard's duplicate while it cuts one)
    assert grown <= DEFAULT_MAX_INBOUND + 8, f"fog1 holds {grown} more descriptors after 1,000 connections"
    assert isinstance(pong.body, Pong) and still
    assert set(seen) == {"late", "fog1", "car"}
