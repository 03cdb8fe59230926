"""A source session against worker peers on loopback: join, place, stream, verify."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from fognet.data.driving import DrivingStream
from fognet.errors import ModelError, PeerUnreachable
from fognet.infer.session import Identity, SessionOptions, open_session, run_session
from fognet.model.load import load_model
from fognet.peer.node import Peer, PeerConfig
from tests import graphs
from tests.graphs import save


@contextlib.asynccontextmanager
async def workers(tmp_path, names):
    first = Peer(PeerConfig(names[0], cache_dir=tmp_path / names[0], heartbeat_s=0.2))
    rest = [
        Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2, bootstrap=(first.address,)))
        for n in names[1:]
    ]
    async with contextlib.AsyncExitStack() as stack:
        for p in [first, *rest]:
            await stack.enter_async_context(p.running())
        yield [first, *rest]


def images(n: int, fps: float = 30.0):
    """`n` driving frames, stamped at `fps` (a paced session starts each at its stamp)."""
    return iter(DrivingStream(n, fps, size=(48, 64), seed=1))


async def test_session_streams_frames_over_three_workers_and_verifies(tmp_path) -> None:
    path, _ = save(graphs.branches_model(), tmp_path / "branches.onnx")
    loaded = load_model(path)
    async with asyncio.timeout(30), workers(tmp_path, ["f1", "f2", "f3"]) as peers:
        options = SessionOptions(
            via=(peers[0].address,), expect_workers=3, verify=True, heartbeat_s=0.2,
            cache_dir=tmp_path / "source", window=2, warmup=1,  # plans[0] as configured
        )
        report = await run_session(loaded, images(5), options=options)
    assert report.summary.failed == 0 and report.verified == 5
    assert report.workers == ("f1", "f2", "f3")
    used = {s.peer for s in report.plans[0].stages}
    assert used <= {"f1", "f2", "f3"} and len(report.plans[0].stages) == 3
    assert [r.index for r in report.results] == list(range(5))


async def test_unreachable_via_fails_within_join_timeout(tmp_path) -> None:
    path, _ = save(graphs.residual_model(), tmp_path / "r.onnx")
    options = SessionOptions(via=("127.0.0.1:9",), join_timeout_s=1.0, heartbeat_s=0.2, cache_dir=tmp_path)
    async with asyncio.timeout(10):
        with pytest.raises(PeerUnreachable, match="127.0.0.1:9"):
            await run_session(load_model(path), images(1), options=options)


async def test_model_with_two_inputs_is_refused_before_joining(tmp_path) -> None:
    model = graphs.make(
        [graphs.helper.make_node("Add", ["a", "b"], ["y"], name="add")], [],
        [graphs.fin("a", [1, 3, 8, 8]), graphs.fin("b", [1, 3, 8, 8])], [graphs.fin("y", [1, 3, 8, 8])],
    )
    path, _ = save(model, tmp_path / "two.onnx")
    with pytest.raises(ModelError, match="one image input"):
        await run_session(load_model(path), images(1), options=SessionOptions(cache_dir=tmp_path))


async def test_worker_stopping_mid_stream_loses_no_frame_and_the_source_replans_without_it(tmp_path) -> None:
    path, _ = save(graphs.branches_model(), tmp_path / "branches.onnx")
    loaded = load_model(path)
    first = Peer(PeerConfig("f1", cache_dir=tmp_path / "f1", heartbeat_s=0.2))
    doomed = Peer(PeerConfig("f2", cache_dir=tmp_path / "f2", heartbeat_s=0.2, speed=4.0, bootstrap=(first.address,)))
    options = SessionOptions(
        via=(first.address,), expect_workers=2, heartbeat_s=0.2, cache_dir=tmp_path / "s",
        window=1, timeout_s=0.5, paced=True, warmup=1, verify=True,
    )
    async with asyncio.timeout(30), first.running(), asyncio.TaskGroup() as group:
        doomed_task = group.create_task(doomed.run())

        def on_result(result) -> None:
            if result.index == 2:
                doomed_task.cancel()  # f2 stops answering mid-stream

        report = await run_session(loaded, images(14, fps=10.0), options=options, on_result=on_result)
    assert "f2" in {s.peer for s in report.plans[0].stages}
    assert all(r.ok for r in report.results) and report.verified == 14
    # f2 is gone from membership (its BYE, or 3 missed heartbeats); the source re-places on f1
    assert len(report.plans) == 2 and {s.peer for s in report.plans[-1].stages} == {"f1"}
    assert report.results[-1].ok and report.results[-1].timings[0].peer == "f1"


async def test_model_with_symbolic_batch_is_shared_with_static_shapes(tmp_path) -> None:
    from onnx import helper

    c1, w = graphs.conv("c1", "x", "a", 3, 4, seed=7)
    relu = helper.make_node("Relu", ["a"], ["y"], name="relu")
    graph = helper.make_graph(
        [c1, relu], "dyn", [graphs.fin("x", ["N", 3, 12, 12])], [graphs.fin("y", ["N", 4, 12, 12])], initializer=w
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", graphs.OPSET)])
    path, file_sha = save(model, tmp_path / "dyn.onnx")
    loaded = load_model(path, {"x": (1, 3, 12, 12)})
    async with asyncio.timeout(30), workers(tmp_path, ["f1", "f2"]) as peers:
        options = SessionOptions(
            via=(peers[0].address,), expect_workers=2, verify=True, heartbeat_s=0.2, cache_dir=tmp_path / "s"
        )
        report = await run_session(loaded, images(3), options=options)
    assert report.verified == 3
    shared = report.plans[0].model_sha256
    assert shared != file_sha and any(p.store.has(shared) for p in peers)


async def test_the_source_plans_with_the_nics_its_identity_knows(tmp_path) -> None:
    path, _ = save(graphs.residual_model(), tmp_path / "r.onnx")
    identity = Identity(config=PeerConfig("car", quota=0, cache_dir=tmp_path / "car"), nics={"car": 2e6, "f1": 5e6})
    async with asyncio.timeout(30), workers(tmp_path, ["f1", "f2"]) as peers:
        options = SessionOptions(via=(peers[0].address,), expect_workers=2, heartbeat_s=0.2)
        async with open_session(load_model(path), options, identity) as session:
            state = session.state()
    assert {pid: p.nic for pid, p in state.peers.items()} == {"car": 2e6, "f1": 5e6, "f2": None}


def test_stream_time_is_each_frames_stamp_and_a_new_sequence_starts_where_the_last_ended() -> None:
    import numpy as np

    from fognet.data.source import Frame
    from fognet.infer.session import stream_times

    image = np.zeros((2, 2, 3), np.uint8)
    frames = [Frame(i, image, t, sequence=s) for i, (t, s) in enumerate(
        [(0.0, "drive1"), (0.1, "drive1"), (0.2, "drive1"), (0.0, "drive2"), (0.05, "drive2")])]
    assert [round(at, 6) for _, at in stream_times(frames)] == [0.0, 0.1, 0.2, 0.2, 0.25]
    assert [f.index for f, _ in stream_times(frames)] == [0, 1, 2, 3, 4]
