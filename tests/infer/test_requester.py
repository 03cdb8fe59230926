from __future__ import annotations

import numpy as np

from fognet.infer.requester import Requester, summarise
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.partition.stages import Plan, Stage
from fognet.peer.executor import Executor
from fognet.peer.store import ModelStore


async def test_frames_through_three_executors_match_local_in_order(branches_file, tmp_path) -> None:
    path, sha = branches_file
    graph = analyse(load_model(path).model)
    executors = {}
    for name in ("a", "b", "c"):
        store = ModelStore(tmp_path / name)
        store.register(path, sha)
        executors[name] = Executor(store)

    async def run_subtask(peer, job, timeout):
        return await executors[peer].run(job)

    plan = Plan(sha, "a", (Stage(0, 1, ("a",)), Stage(1, 3, ("b",)), Stage(3, len(graph), ("c",))))
    frames = [random_feeds(graph.inputs, seed=i) for i in range(6)]
    seen = []
    try:
        results = await Requester(run_subtask, graph).run(frames, plan, window=3, on_result=seen.append)
    finally:
        for ex in executors.values():
            ex.close()
    session = make_session(graph.model)
    assert [r.index for r in seen] == list(range(6))
    for frame, result in zip(frames, results, strict=True):
        expected = run(session, frame)
        assert result.ok
        assert all(np.allclose(result.outputs[k], expected[k], atol=1e-5) for k in expected)
        assert [t.peer for t in result.timings] == ["a", "b", "c"]
    summary = summarise(results, elapsed_s=1.0)
    assert summary.failed == 0 and summary.stage_peers == {0: ("a",), 1: ("b",), 2: ("c",)}
