from __future__ import annotations

import numpy as np

from fognet.infer.requester import Requester, Timed, summarise
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.partition.stages import Plan, Stage
from fognet.peer.executor import Executor
from fognet.peer.store import ModelStore
from fognet.placement.pricing import model_costs
from fognet.placement.subtasks import plan_pieces


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
        results = await Requester(run_subtask, graph).run([Timed(f) for f in frames], plan, window=3,
                                                          on_result=seen.append)
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


async def test_each_subtask_carries_the_work_the_one_slice_rule_gives_it(tmp_path) -> None:
    from tests import graphs

    path, sha = graphs.save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    graph = analyse(load_model(path).model)
    costs = model_costs(graph, [0.01] * len(graph), sha)
    executors = {}
    for name in ("a", "b"):
        store = ModelStore(tmp_path / name)
        store.register(path, sha)
        executors[name] = Executor(store)

    async def run_subtask(peer, job, timeout):
        return await executors[peer].run(job)

    n = len(graph)
    plan = Plan(sha, "a", (Stage(0, 2, ("a",)), Stage(2, n, ("a", "b"), ((0, 3), (3, 8)))))
    frames = [random_feeds(graph.inputs, seed=0)]
    try:
        (result,) = await Requester(run_subtask, graph, costs=costs).run([Timed(frames[0], 2.5)], plan)
    finally:
        for ex in executors.values():
            ex.close()
    expected = run(make_session(graph.model), frames[0])
    assert result.ok and all(np.allclose(result.outputs[k], v, atol=1e-5) for k, v in expected.items())
    assert result.timestamp == 2.5  # the frame's own stamp, carried through
    # the planner's and the game's numbers: whole-stage work, and each slice's halo-walk share
    pieces = plan_pieces(costs, plan)
    assert [(t.stage, t.peer, t.work_s) for t in result.timings] == [
        (k, p.peer, p.work) for k, stage in enumerate(pieces) for p in stage]
    assert result.timings[2].work_s > costs.work(2, n) * 5 / 8  # the halo costs work too
