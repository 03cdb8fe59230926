from __future__ import annotations

import asyncio

import numpy as np
import pytest

from fognet.errors import ModelError, WireError
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.peer.executor import Executor, Job, TaskKey
from fognet.peer.store import ModelStore


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
        a = await fast.run(Job(key, feeds))
        b = await slow.run(Job(key, feeds))
    finally:
        fast.close()
        slow.close()
    assert slow.stretch == pytest.approx(20.0) and fast.stretch == 1.0
    assert np.array_equal(a.outputs["y"], b.outputs["y"])
    # the stretched time (20x the measured run) is reported as compute
    assert b.compute_s > a.compute_s
