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
