"""Peers over real ZeroMQ sockets on 127.0.0.1, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from fognet.errors import PeerUnreachable, RemoteError
from fognet.infer.requester import Requester, Timed
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.net import wire
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason
from fognet.partition.stages import Plan, Stage
from fognet.peer.node import Peer, PeerConfig

TIMEOUT = 20.0


def make_peers(tmp_path, names):
    """Peers with their own caches, all bootstrapped to the first; fast heartbeats."""
    first = Peer(PeerConfig(names[0], cache_dir=tmp_path / names[0], heartbeat_s=0.2))
    rest = [
        Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2, bootstrap=(first.address,)))
        for n in names[1:]
    ]
    return [first, *rest]


@contextlib.asynccontextmanager
async def cluster(tmp_path, names):
    peers = make_peers(tmp_path, names)
    async with contextlib.AsyncExitStack() as stack:
        for p in peers:
            await stack.enter_async_context(p.running())
        for p in peers:
            await p.wait_for_peers(len(peers), timeout=5.0)
        yield peers


async def test_split_model_over_four_peers_equals_local_inference(branches_file, tmp_path) -> None:
    path, sha = branches_file
    graph = analyse(load_model(path).model)
    async with asyncio.timeout(TIMEOUT), cluster(tmp_path, ["car", "f1", "f2", "f3"]) as peers:
        car = peers[0]
        car.store.register(path, sha)
        plan = Plan(sha, "car", (Stage(0, 1, ("f1",)), Stage(1, 3, ("f2",)), Stage(3, 5, ("f3",))))
        frames = [random_feeds(graph.inputs, seed=i) for i in range(8)]
        results = await Requester(car.run_subtask, graph, timeout=5.0).run([Timed(f) for f in frames], plan, window=3)
        for p in peers[1:]:
            assert p.store.has(sha) and p.store.path(sha).parent == tmp_path / p.name / "models"
    session = make_session(graph.model)
    assert [r.index for r in results] == list(range(8))
    for frame, result in zip(frames, results, strict=True):
        assert result.ok, result.error
        expected = run(session, frame)
        assert all(np.allclose(result.outputs[k], expected[k], atol=1e-5) for k in expected)


async def test_spatial_stage_sliced_over_two_peers_equals_local_inference(residual_file, tmp_path) -> None:
    path, sha = residual_file
    graph = analyse(load_model(path).model)
    async with asyncio.timeout(TIMEOUT), cluster(tmp_path, ["car", "f1", "f2", "f3"]) as peers:
        peers[0].store.register(path, sha)
        plan = Plan(sha, "car", (Stage(0, 2, ("f1", "f2"), rows=((0, 7), (7, 16))), Stage(2, 4, ("f3",))))
        frames = [random_feeds(graph.inputs, seed=10 + i) for i in range(3)]
        results = await Requester(peers[0].run_subtask, graph, timeout=5.0).run([Timed(f) for f in frames], plan, window=2)
    session = make_session(graph.model)
    for frame, result in zip(frames, results, strict=True):
        assert result.ok, result.error
        assert np.allclose(result.outputs["y"], run(session, frame)["y"], atol=1e-5)
        assert sorted(t.peer for t in result.timings) == ["f1", "f2", "f3"]


async def test_peer_killed_under_a_fixed_plan_fails_frames_after_their_tries_naming_them(residual_file, tmp_path) -> None:
    path, sha = residual_file
    graph = analyse(load_model(path).model)
    car, f1 = make_peers(tmp_path, ["car", "f1"])
    car.store.register(path, sha)
    f1.store.register(path, sha)
    plan = Plan(sha, "car", (Stage(0, 2, ("car",)), Stage(2, 4, ("f1",))))
    requester = Requester(car.run_subtask, graph, timeout=0.5)
    frames = (random_feeds(graph.inputs, seed=i) for i in range(4))
    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as group:
        car_task, f1_task = group.create_task(car.run()), group.create_task(f1.run())
        await car.wait_for_peers(2, timeout=5.0)

        def kill(result) -> None:
            if result.index == 1:
                f1_task.cancel()  # f1's sockets close; it never answers again

        results = await requester.run((Timed(f) for f in frames), plan, window=1, on_result=kill)
        car_task.cancel()
    assert results[0].ok and results[1].ok
    for r in results[2:]:  # a fixed plan cannot route around f1: each frame fails after its tries
        assert isinstance(r.error, PeerUnreachable) and "peer f1" in str(r.error)
        assert "4 tries failed" in str(r.error) and "nodes [2, 4)" in str(r.error)


async def test_malformed_request_gets_error_and_peer_keeps_serving(residual_file, tmp_path) -> None:
    path, sha = residual_file
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=0)
    async with asyncio.timeout(TIMEOUT), cluster(tmp_path, ["f1"]) as (f1,):
        f1.store.register(path, sha)
        client = ZmqTransport("tester")
        try:
            bad = Header(wire.Exec("t", "1", sha, 0, 2))
            with pytest.raises(RemoteError) as info:  # no input tensors
                await client.request(f1.address, bad, {}, timeout_s=5.0)
            assert info.value.reason == Reason.MALFORMED and "lacks input" in str(info.value)
            with pytest.raises(RemoteError) as info:
                await client.request(f1.address, Header(wire.Exec("t", "2", "nothex", 0, 2)), feeds, timeout_s=5.0)
            assert info.value.reason == Reason.MALFORMED
            deadline = asyncio.get_running_loop().time() + 5.0
            await client._dealer(f1.address).send([b"\x93garbage", b"x"], deadline)
            reply, outputs = await client.request(f1.address, Header(wire.Exec("t", "3", sha, 0, 4)), feeds, timeout_s=5.0)
            assert isinstance(reply.body, wire.Result)
            assert np.allclose(outputs["y"], run(make_session(graph.model), feeds)["y"], atol=1e-5)
        finally:
            await client.aclose()



async def test_a_worker_tells_rounds_the_cap_its_admission_refuses_at(tmp_path) -> None:
    peer = Peer(PeerConfig("w", cache_dir=tmp_path / "w", cap=0.55))
    async with asyncio.timeout(TIMEOUT), peer.running():
        assert peer._round_figures().cap == 0.55 == peer.executor.admission.cap
