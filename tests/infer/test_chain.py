"""Frames pipelined through a chain of real peers (ZeroMQ on 127.0.0.1), worker to worker."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from fognet.errors import WireError
from fognet.infer.chain import chain_hops, run_chain
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.net import wire
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.throughput import ChainProblem, build_plan
from fognet.peer.chain import next_exec, parse_hop
from tests import graphs
from tests.peer.test_node import TIMEOUT, cluster


async def test_chained_frames_equal_the_whole_model(tmp_path) -> None:
    path, sha = graphs.save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    graph = analyse(load_model(path).model)
    names = ["car", "f1", "f2", "f3", "f4"]
    state = ClusterState.of([PeerState(n, 1.0) for n in names], default_link=LinkState(1e8))
    problem = ChainProblem.from_graph(graph, [0.001] * len(graph), state, "car")
    assert problem.positions == (0, 1, 2, 3, 4, 5, 6)  # every cut of this chain is an articulation point
    ids = {n: problem.peers.index(n) for n in names}
    plan = build_plan(problem, [(0, 2, ids["f1"]), (2, 3, ids["f2"]), (3, 5, ids["f3"]), (5, 6, ids["f4"])])
    frames = [random_feeds(graph.inputs, seed=i) for i in range(10)]
    async with asyncio.timeout(TIMEOUT), cluster(tmp_path, names) as peers:
        car = peers[0]
        car.store.register(path, sha)
        hops = chain_hops(plan, car.live_peers())
        result = await run_chain(car, hops, sha, frames, window=4, timeout=10.0)
        for p in peers[1:]:  # every worker fetched the model (from the peer before it)
            assert p.store.has(sha)
    session = make_session(graph.model)
    assert len(result.outputs) == len(frames)
    for frame, outputs in zip(frames, result.outputs, strict=True):
        assert np.allclose(outputs["y"], run(session, frame)["y"], atol=1e-5)


def test_hops_are_parsed_or_refused() -> None:
    assert parse_hop("127.0.0.1:5555/3/7") == ("127.0.0.1:5555", 3, 7)
    body = wire.Exec("t", "s", "ab" * 32, 0, 3, forward=("127.0.0.1:1/3/5", "127.0.0.1:2/5/9"))
    address, nxt = next_exec(body, "car")
    assert address == "127.0.0.1:1" and (nxt.node_start, nxt.node_stop) == (3, 5)
    assert nxt.forward == ("127.0.0.1:2/5/9",)
    for bad in ("127.0.0.1:5555/7/3", "nohop", "/1/2", "h:1/a/b"):
        with pytest.raises(WireError):
            parse_hop(bad)


async def test_a_chain_hop_credits_its_queued_frames_to_the_frames_source(tmp_path) -> None:
    """car's frames go f1 -> f2 and queue at f2 (emulated 1000x slower than this machine):
    f2 credits them to car, whose rounds price them as its stream, not to f1, which only
    forwarded them (issue 11). A claim where no forwarded frame comes from is the sender's."""
    import contextlib

    from fognet.peer.chain import credited_source
    from fognet.peer.node import Peer, PeerConfig

    path, sha = graphs.save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    n = len(analyse(load_model(path).model))
    configs = [PeerConfig("car", quota=0), PeerConfig("f1"), PeerConfig("f2", speed=0.001, emulate=True)]
    peers = []
    for c in configs:
        boot = (peers[0].address,) if peers else ()
        peers.append(Peer(replace(c, cache_dir=tmp_path / c.name, heartbeat_s=0.1, bootstrap=boot)))
    car, f1, f2 = peers
    frames = [random_feeds(analyse(load_model(path).model).inputs, seed=i) for i in range(4)]
    async with asyncio.timeout(TIMEOUT), contextlib.AsyncExitStack() as stack:
        for p in peers:
            await stack.enter_async_context(p.running())
        for p in peers:
            await p.wait_for_peers(3, timeout=5.0)
        car.store.register(path, sha)
        hops = ((f1.address, 0, 2), (f2.address, 2, n))
        await run_chain(car, hops, sha, frames[:1], timeout=20.0)  # fetch, build, learn the work
        running = asyncio.ensure_future(run_chain(car, hops, sha, frames[1:], window=3, timeout=20.0))
        while (held := f2.executor.backlog()).total_ref_s <= 0:  # a frame waits at f2
            await asyncio.sleep(0.002)
        await running
        table = f2.membership.table

        def credited(claim: str, sender: str, start: int = 2) -> str:
            return credited_source(wire.Exec("car", "s", sha, start, n, frame_source=claim), sender, table)

        claims = {
            "forwarded by a worker": credited("car", "f1"),
            "from a peer that takes no work": credited("f1", "car"),
            "at the frame's input": credited("car", "f1", start=0),
            "naming no member": credited("ghost", "f1"),
            "no claim": credited("", "f1"),
        }
    assert [s for s, _ in held.by_source] == ["car"] and held.total_ref_s > 0
    assert claims == {"forwarded by a worker": "car", "from a peer that takes no work": "car",
                      "at the frame's input": "f1", "naming no member": "f1", "no claim": "f1"}
