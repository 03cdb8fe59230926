"""Discovery by UDP beacon on 127.255.255.255 and by a bootstrap list with HELLO gossip."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from fognet.errors import ConfigError
from fognet.net import discovery
from fognet.net.discovery import BeaconDiscovery, BootstrapDiscovery, PeerSeen
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Hello, new_node_id
from fognet.peer.membership import Membership


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _until(predicate, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)


async def test_beacons_on_loopback_find_each_other() -> None:
    port = _free_udp_port()
    found: asyncio.Queue[PeerSeen] = asyncio.Queue()
    ids = [new_node_id() for _ in range(3)]
    peers = [
        BeaconDiscovery(node_id, f"127.0.0.1:{5000 + i}", found if i == 0 else None,
                        broadcast=discovery.LOOPBACK_BROADCAST, port=port, interval_s=0.05)
        for i, node_id in enumerate(ids)
    ]
    for p in peers:
        await p.start()
    try:
        await _until(lambda: all(len(p.peers()) == 2 for p in peers))
    finally:
        for p in peers:
            await p.stop()
    assert [s.node_id for s in peers[0].peers()] == sorted(ids[1:])
    assert {s.address for s in peers[0].peers()} == {"127.0.0.1:5001", "127.0.0.1:5002"}
    seen = found.get_nowait()
    assert seen.node_id in ids[1:] and seen.seen_at > 0


def test_beacon_parsing_ignores_strangers_and_fills_wildcard_hosts() -> None:
    assert discovery.parse_beacon(b"hello", "10.0.0.3") is None
    assert discovery.parse_beacon(discovery.beacon_bytes("n1", "0.0.0.0:7000", "ab12"), "10.0.0.3") == ("n1", "10.0.0.3:7000", "ab12")
    assert discovery.parse_beacon(b"\x00" * 1000, "10.0.0.3") is None


def test_bootstrap_addresses_are_checked() -> None:
    assert discovery.parse_bootstrap("10.0.0.2:5000, host:6000") == ["10.0.0.2:5000", "host:6000"]
    with pytest.raises(ConfigError, match="nope"):
        discovery.parse_bootstrap("nope")


@contextlib.asynccontextmanager
async def _member(transport, name: str):
    members = Membership(transport, lambda: Hello("", name=name), asyncio.Queue(), interval_s=0.1)

    async def handler(header, tensors):
        return members.handle(header)

    tasks = [asyncio.create_task(transport.serve(handler)), asyncio.create_task(members.run())]
    try:
        yield members
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await transport.aclose()


@pytest.mark.parametrize("kind", ["zmq", "memory"])
async def test_bootstrap_learns_peers_by_hello_and_gossip(kind: str) -> None:
    net = MemoryNetwork()
    make = ZmqTransport if kind == "zmq" else (lambda: MemoryTransport(net))
    async with _member(make(), "b") as b, _member(make(), "c") as c, _member(make(), "a") as a:
        await b.introduce(c.transport.address)  # b knows c; a only knows b
        found: asyncio.Queue[PeerSeen] = asyncio.Queue()
        boot = BootstrapDiscovery(a.transport, a.hello, [b.transport.address], found,
                                  interval_s=0.05, on_hello=lambda h: a.handle(h))
        await boot.start()
        try:
            await _until(lambda: len(boot.peers()) == 2)
        finally:
            await boot.stop()
        assert {p.node_id for p in boot.peers()} == {b.transport.node_id, c.transport.node_id}
        assert {m.name for m in a.table.alive()} == {"b", "c"}
        assert found.qsize() == 2
