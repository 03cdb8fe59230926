"""Closed clusters over real ZeroMQ on 127.0.0.1: real peers with CURVE keys and an
allow-list; strangers (a key not on the list, or no CURVE at all) and a member lying
about its name, against the same over an open peer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket

import numpy as np
import pytest

from fognet.errors import ConfigError, PeerUnreachable, RemoteError
from fognet.infer.requester import Requester, Timed
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.net import wire
from fognet.net.discovery import DEFAULT_BEACON_PORT, LOOPBACK_BROADCAST, beacon_bytes
from fognet.net.keys import ClusterKeys, make_local_keys, write_keypair
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason
from fognet.partition.stages import Plan, Stage
from fognet.peer.node import Peer, PeerConfig

TIMEOUT = 30.0
REFUSED_WAIT_S = 1.0  # how long a stranger waits for the answer it never gets


@contextlib.asynccontextmanager
async def closed_cluster(tmp_path, names, extra=()):
    """Closed peers `names` (all bootstrapped to the first, by name), and the keys of
    every name in names + extra (extra: allowed, but not started)."""
    keys = make_local_keys(tmp_path / "keys", [*names, *extra])
    first = Peer(PeerConfig(names[0], cache_dir=tmp_path / names[0], heartbeat_s=0.2, keys=keys[names[0]]))
    rest = [
        Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2, keys=keys[n],
                        bootstrap=(f"{names[0]}@{first.address}",)))
        for n in names[1:]
    ]
    async with contextlib.AsyncExitStack() as stack:
        for p in (first, *rest):
            await stack.enter_async_context(p.running())
        for p in (first, *rest):
            await p.wait_for_peers(len(names), timeout=10.0)
        yield (first, *rest), keys


def stranger(tmp_path, server: Peer, keys: ClusterKeys | None) -> ZmqTransport:
    """A transport that knows the server's public key (public keys are public) and
    connects to it as `keys` (None: plain ZeroMQ, no CURVE)."""
    if keys is None:
        return ZmqTransport("stranger")
    t = ZmqTransport("stranger", keys=keys)
    t.learn(server.address, server.name)
    return t


def senders_of(peer: Peer) -> list[str]:
    """The senders of the messages `peer`'s handlers see from now on (in arrival order)."""
    seen: list[str] = []

    def watched(handler):
        async def handle(header, tensors):
            seen.append(header.sender)
            return await handler(header, tensors)
        return handle

    peer._handlers = {kind: watched(h) for kind, h in peer._handlers.items()}
    return seen


async def test_closed_cluster_runs_verified_frames(residual_file, tmp_path) -> None:
    path, sha = residual_file
    graph = analyse(load_model(path).model)
    async with asyncio.timeout(TIMEOUT), closed_cluster(tmp_path, ["car", "f1", "f2"]) as (peers, _):
        car = peers[0]
        car.store.register(path, sha)  # f1 and f2 fetch it from car over CURVE
        plan = Plan(sha, "car", (Stage(0, 2, ("f1",)), Stage(2, 4, ("f2",))))
        frames = [random_feeds(graph.inputs, seed=i) for i in range(4)]
        results = await Requester(car.run_subtask, graph, timeout=5.0).run([Timed(f) for f in frames], plan, window=2)
        assert sorted(p.name for p in peers if p.store.has(sha)) == ["car", "f1", "f2"]
        assert all(p.transport.stats().refused == 0 for p in peers)
        # f1 and f2 only bootstrapped to car: they found each other by named gossip
        assert set(peers[1].live_peers()) == {"car", "f1", "f2"}
    session = make_session(graph.model)
    for frame, result in zip(frames, results, strict=True):
        assert result.ok, result.error
        assert np.allclose(result.outputs["y"], run(session, frame)["y"], atol=1e-5)


@pytest.mark.parametrize("curve", [True, False], ids=["unlisted-key", "no-curve"])
async def test_stranger_can_neither_join_exec_nor_fetch(residual_file, tmp_path, curve, caplog) -> None:
    path, sha = residual_file
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=0)
    caplog.set_level(logging.WARNING, logger="fognet.net.auth")
    async with asyncio.timeout(TIMEOUT), closed_cluster(tmp_path, ["car", "f1"]) as ((car, f1), keys):
        f1.store.register(path, sha)
        pair = write_keypair(tmp_path / "strangers", "stranger")[0]
        intruder = stranger(tmp_path, f1, ClusterKeys(pair, keys["f1"].allow) if curve else None)
        seen = senders_of(f1)
        try:
            asks = [
                (Header(wire.Hello(intruder.address, name="stranger", speed=20.0, quota=8)), None),
                (Header(wire.Exec("t", "1", sha, 0, 4)), feeds),
                (Header(wire.ModelGet(sha, 0, 1 << 20)), None),
                (Header(wire.Ping()), None),
            ]
            for header, tensors in asks:
                with pytest.raises(PeerUnreachable, match="did not answer"):
                    await intruder.request(f1.address, header, tensors, timeout_s=REFUSED_WAIT_S)
        finally:
            await intruder.aclose()
        assert "stranger" not in seen and seen  # not one message got through; the members' did
        assert "stranger" not in f1.live_peers()
        assert set(f1.live_peers()) == {"car", "f1"}  # the members still talk
        if curve:
            assert f1.transport.stats().refused >= 1
            refusals = [r for r in caplog.records if "is not on the allow-list" in r.getMessage()]
            assert len(refusals) == 1 and pair.fingerprint in refusals[0].getMessage()


async def test_member_claiming_another_name_is_refused(tmp_path, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="fognet.net.auth")
    async with asyncio.timeout(TIMEOUT), closed_cluster(tmp_path, ["car", "f1"], extra=["f2"]) as ((car, f1), keys):
        liar = ZmqTransport("car", keys=keys["f2"])  # f2's allowed key, car's name
        liar.learn(f1.address, "f1")
        try:
            hello = Header(wire.Hello(liar.address, name="car", speed=20.0, quota=8))
            for _ in range(3):
                with pytest.raises(RemoteError) as info:
                    await liar.request(f1.address, hello, timeout_s=5.0)
                assert info.value.reason == Reason.NOT_ALLOWED and "'f2'" in str(info.value)
            await liar.send(f1.address, Header(wire.Bye()))  # a spoofed BYE for car
            await asyncio.sleep(0.5)
        finally:
            await liar.aclose()
        assert f1.address_of("car") == car.address  # neither replaced nor made to leave
        assert "f2" not in f1.live_peers()
        spoofs = [r for r in caplog.records if "claiming to be" in r.getMessage()]
        assert len(spoofs) == 1  # rate-limited: one line for the same lie


async def test_open_peer_lets_a_stranger_in_and_says_so(residual_file, tmp_path, caplog) -> None:
    path, sha = residual_file
    caplog.set_level(logging.WARNING)
    f1 = Peer(PeerConfig("f1", cache_dir=tmp_path / "f1", heartbeat_s=0.2))
    async with asyncio.timeout(TIMEOUT), f1.running():
        f1.store.register(path, sha)
        intruder = ZmqTransport("stranger")
        try:
            reply, _ = await intruder.request(f1.address, Header(wire.Hello(intruder.address, name="stranger", quota=8)))
            assert isinstance(reply.body, wire.Hello) and reply.sender == "f1" and reply.body.key == ""
            reply, data = await intruder.request(f1.address, Header(wire.ModelGet(sha, 0, 1 << 20)))
            assert bytes(data["data"]) == path.read_bytes()[: len(data["data"])]
            assert "stranger" in f1.live_peers()
        finally:
            await intruder.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "runs OPEN" in r.getMessage()]
    assert len(warnings) == 1 and "f1" in warnings[0].getMessage()


def test_closed_peer_refuses_a_key_listed_under_another_name(tmp_path) -> None:
    keys = make_local_keys(tmp_path, ["car", "f1"])
    with pytest.raises(ConfigError, match="'f1' is listed with key"):
        Peer(PeerConfig("f1", keys=keys["car"]))
    with pytest.raises(ConfigError, match="no entry for this peer's name 'f9'"):
        Peer(PeerConfig("f9", keys=keys["car"]))
    with pytest.raises(ConfigError, match="name the peer there: NAME@127.0.0.1:5000"):
        Peer(PeerConfig("car", keys=keys["car"], bootstrap=("127.0.0.1:5000",)))
    with pytest.raises(ConfigError, match="'mallory' is not on the allow-list"):
        Peer(PeerConfig("car", keys=keys["car"], bootstrap=("mallory@127.0.0.1:5000",)))


async def test_closed_peers_find_each_other_by_beacon_and_ignore_an_open_one(tmp_path) -> None:
    keys = make_local_keys(tmp_path / "keys", ["b1", "b2"])
    peers = [Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2, discovery=True, keys=keys[n]))
             for n in ("b1", "b2")]
    loud = Peer(PeerConfig("b3", cache_dir=tmp_path / "b3", heartbeat_s=0.2, discovery=True))  # open
    async with asyncio.timeout(TIMEOUT), contextlib.AsyncExitStack() as stack:
        for p in (*peers, loud):
            await stack.enter_async_context(p.running())
        for p in peers:
            await p.wait_for_peers(2, timeout=10.0)
        await asyncio.sleep(1.0)  # a few more beacons of b3's
        assert [set(p.live_peers()) for p in peers] == [{"b1", "b2"}] * 2
        assert not {"b1", "b2"} & set(loud.live_peers())


def _listener() -> socket.socket:
    """A plain TCP listener: it shows whether a peer tried to connect to the address a beacon gave."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    return srv


def _connected(srv: socket.socket) -> bool:
    return bool(select.select([srv], [], [], 0)[0])


async def _beacon(sender: socket.socket, name: str, srv: socket.socket, key: str, seconds: float = 1.2) -> None:
    address = f"127.0.0.1:{srv.getsockname()[1]}"
    for _ in range(int(seconds / 0.2)):
        sender.sendto(beacon_bytes(name, address, key), (LOOPBACK_BROADCAST, DEFAULT_BEACON_PORT))
        await asyncio.sleep(0.2)


async def test_closed_peer_ignores_beacons_whose_fingerprint_is_not_on_its_list(tmp_path) -> None:
    """Beacons are plaintext: anyone can send one naming a listed peer. A closed peer does not
    even connect to a beacon's address unless the name is on its allow-list with that key's
    fingerprint (and then the handshake, pinned to the listed key, is what proves anything)."""
    keys = make_local_keys(tmp_path / "keys", ["b1", "b2"])
    other = make_local_keys(tmp_path / "other", ["b2"])["b2"].pair.fingerprint  # b2's name, not its key
    b1 = Peer(PeerConfig("b1", cache_dir=tmp_path / "b1", heartbeat_s=0.2, discovery=True, keys=keys["b1"]))
    wrong_key, unlisted, listed = _listener(), _listener(), _listener()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    try:
        async with asyncio.timeout(TIMEOUT), b1.running():
            await asyncio.sleep(0.3)
            await asyncio.gather(_beacon(sender, "b2", wrong_key, other), _beacon(sender, "b2", wrong_key, ""),
                                 _beacon(sender, "mallory", unlisted, other))
            ignored = (_connected(wrong_key), _connected(unlisted))
            await _beacon(sender, "b2", listed, keys["b2"].pair.fingerprint)  # the control: acted on
            acted = _connected(listed)
            members = set(b1.live_peers())
    finally:
        for s in (wrong_key, unlisted, listed, sender):
            s.close()
    assert ignored == (False, False)
    assert acted  # it did connect there (and its handshake, pinned to b2's key, failed)
    assert members == {"b1"}
