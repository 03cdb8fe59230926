from __future__ import annotations

import asyncio

import numpy as np
import pytest

from fognet.errors import ModelError, WireError
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.partition.extract import extract
from fognet.peer.executor import SESSION_BYTES_PER_MODEL_BYTE, Backlog, Executor, Job, TaskKey
from fognet.peer.slicing import Slicer
from fognet.peer.store import ModelStore
from tests import graphs
from tests.graphs import save


@pytest.fixture
def executor(residual_file, tmp_path):
    path, sha = residual_file
    store = ModelStore(tmp_path / "cache")
    store.register(path, sha)
    ex = Executor(store)
    yield ex, path, sha
    ex.close()


async def test_two_ranges_chain_to_whole_model_output(executor) -> None:
    ex, path, sha = executor
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=1)
    expected = run(make_session(graph.model), feeds)
    first = await ex.run(Job(TaskKey(sha, 0, 2), feeds))
    second = await ex.run(Job(TaskKey(sha, 2, len(graph)), {**feeds, **first.outputs}))
    assert np.allclose(second.outputs["y"], expected["y"], atol=1e-5)
    assert first.compute_s > 0 and first.wait_s >= 0


async def test_queued_jobs_report_waiting_and_backlog(executor) -> None:
    ex, path, sha = executor
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=2)
    key = TaskKey(sha, 0, len(graph))
    jobs = [asyncio.ensure_future(ex.run(Job(key, feeds, work_s=0.5))) for _ in range(3)]
    await asyncio.sleep(0)
    assert ex.backlog_s == pytest.approx(1.5)
    results = await asyncio.gather(*jobs)
    assert ex.backlog_s == 0
    assert all(np.allclose(r.outputs["y"], results[0].outputs["y"]) for r in results)


async def test_the_backlog_is_split_by_the_source_each_job_came_from(executor) -> None:
    ex, path, sha = executor
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=2)
    key = TaskKey(sha, 0, len(graph))
    jobs = [asyncio.ensure_future(ex.run(Job(key, feeds, work_s=w, source=s)))
            for s, w in (("car2", 0.25), ("car1", 0.5), ("car2", 0.25), ("", 0.125))]
    await asyncio.sleep(0)
    assert ex.backlog() == Backlog(1.125, (("", 0.125), ("car1", 0.5), ("car2", 0.5)))
    await asyncio.gather(*jobs)
    assert ex.backlog() == Backlog()


async def test_bad_jobs_raise_and_executor_keeps_serving(executor) -> None:
    ex, path, sha = executor
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=3)
    with pytest.raises(WireError, match="lacks input"):
        await ex.run(Job(TaskKey(sha, 1, 3), feeds))
    with pytest.raises(WireError, match="expected float32"):
        await ex.run(Job(TaskKey(sha, 0, 2), {"x": np.zeros((1, 3, 8, 8), np.float32)}))
    with pytest.raises(WireError, match="outside"):
        await ex.run(Job(TaskKey(sha, 0, 99), feeds))
    with pytest.raises(ModelError, match="no model"):
        await ex.run(Job(TaskKey("f" * 64, 0, 1), feeds))
    ok = await ex.run(Job(TaskKey(sha, 0, len(graph)), feeds))
    assert ok.outputs["y"].shape == (1, 8, 16, 16)


async def test_emulated_slow_peer_stretches_compute(residual_file, tmp_path) -> None:
    path, sha = residual_file
    store = ModelStore(tmp_path)
    store.register(path, sha)
    fast, slow = Executor(store), Executor(store, speed=0.05, emulate=True)
    feeds = random_feeds(analyse(load_model(path).model).inputs, seed=4)
    key = TaskKey(sha, 0, 4)
    try:
        await slow.run(Job(key, feeds))  # first runs build sessions: that time counts as waiting
        runs = [await fast.run(Job(key, feeds)) for _ in range(5)]
        b = await slow.run(Job(key, feeds))
    finally:
        fast.close()
        slow.close()
    assert slow.stretch == pytest.approx(20.0) and fast.stretch == 1.0
    assert all(np.array_equal(a.outputs["y"], b.outputs["y"]) for a in runs)
    # the stretched time (20x the measured run) is reported as compute; against the
    # fastest of five plain runs, so one run the shared machine preempted cannot pass for it
    assert b.compute_s > min(a.compute_s for a in runs)


def feeds_for(graph, start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
    """Random tensors of exactly what nodes [start, stop) read (names, shapes, dtypes)."""
    rng = np.random.default_rng(seed)
    names, _ = graph.boundary(start, stop)
    return {n: rng.standard_normal(graph.tensors[n].shape).astype(graph.tensors[n].dtype) for n in names}


@pytest.fixture
def chain(tmp_path):
    path, sha = save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    store = ModelStore(tmp_path / "cache")
    store.register(path, sha)
    return store, analyse(load_model(path).model), sha


async def test_invalid_requests_build_no_session(chain) -> None:
    store, graph, sha = chain
    ex = Executor(store)
    n = len(graph)
    try:
        for start in range(n):  # every range, no tensors: the tensorless flood of issue 12
            for stop in range(start + 1, n + 1):
                with pytest.raises(WireError, match="lacks input"):
                    await ex.run(Job(TaskKey(sha, start, stop), {}))
        wrong = {"x": np.zeros((1, 3, 31, 32), np.float32)}
        with pytest.raises(WireError, match=r"expected float32\[1, 3, 32, 32\]"):
            await ex.run(Job(TaskKey(sha, 0, 2), wrong))
        with pytest.raises(WireError, match="expected float32"):
            await ex.run(Job(TaskKey(sha, 0, 2), {"x": np.zeros((1, 3, 32, 32), np.float64)}))
        with pytest.raises(WireError, match="cannot slice"):
            await ex.run(Job(TaskKey(sha, 0, 2, rows=(0, 99)), feeds_for(graph, 0, 2, 0)))
        with pytest.raises(WireError, match="outside"):
            await ex.run(Job(TaskKey(sha, 3, 3), {}))
        assert ex.sessions.entries == 0 and ex.sessions.bytes == 0
        assert ex.models.entries == 1  # checking needs the model itself, once
    finally:
        ex.close()


async def test_distinct_ranges_keep_the_session_cache_under_its_bound(chain) -> None:
    store, graph, sha = chain
    n = len(graph)
    ranges = [(a, b) for a in range(n) for b in range(a + 1, n + 1)]
    sizes = [SESSION_BYTES_PER_MODEL_BYTE * extract(graph, a, b).ByteSize() for a, b in ranges]
    bound = 3 * max(sizes)  # room for about three sessions, far fewer than the ranges asked
    ex = Executor(store, session_cache_bytes=bound)
    try:
        for i, (a, b) in enumerate(ranges):
            result = await ex.run(Job(TaskKey(sha, a, b), feeds_for(graph, a, b, i)))
            assert set(result.outputs) == set(graph.boundary(a, b)[1])
            assert 0 < ex.sessions.bytes <= bound
        stats = ex.sessions
        assert stats.entries < len(ranges) and stats.evictions == len(ranges) - stats.entries
    finally:
        ex.close()


async def test_evicted_sessions_and_models_rebuild_and_still_equal_the_whole_model(chain, residual_file) -> None:
    store, graph, sha = chain
    feeds = random_feeds(graph.inputs, seed=7)
    expected = run(make_session(graph.model), feeds)["y"]
    ex = Executor(store, session_cache_bytes=1, model_cache_bytes=1)  # keeps only the last of each
    other_path, other_sha = residual_file
    store.register(other_path, other_sha)
    other_feeds = random_feeds(analyse(load_model(other_path).model).inputs, seed=8)
    try:
        outputs = []
        for _ in range(2):  # the second pass finds nothing cached and rebuilds all of it
            first = await ex.run(Job(TaskKey(sha, 0, 2), feeds))
            await ex.run(Job(TaskKey(other_sha, 0, 4), other_feeds))  # evicts the chain model too
            rows = [await ex.run(Job(TaskKey(sha, 2, 4, rows=r), {"b": first.outputs["b"][:, :, lo:hi]}))
                    for r, (lo, hi) in _slice_inputs(graph)]
            merged = np.concatenate([r.outputs["d"] for r in rows], axis=2)
            last = await ex.run(Job(TaskKey(sha, 4, len(graph)), {"d": merged}))
            outputs.append(last.outputs["y"])
        assert ex.sessions.evictions >= 8 and ex.models.evictions >= 4
        assert ex.sessions.entries == 1 and ex.models.entries == 1
        for y in outputs:
            assert np.allclose(y, expected, atol=1e-5)
    finally:
        ex.close()


def _slice_inputs(graph):
    """Two slices of stage [2, 4) (conv stride 2 + relu, 16 output rows) and the input rows each reads."""
    specs = Slicer(graph).specs(2, 4, [(0, 9), (9, 16)])
    return [(s.rows, (s.inputs[0].start, s.inputs[0].stop)) for s in specs]
