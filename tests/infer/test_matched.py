"""Placement "match": a round of the game decides the peers, frames run on them, verified.

Live tests: a source session and three worker peers on 127.0.0.1 (real ZeroMQ, real
onnxruntime). Pure tests: fitting a plan to a matching on a hand-built cluster state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import replace

from fognet.data.driving import DrivingStream
from fognet.infer.matched import MatchedPlacement, fit_to_matching
from fognet.infer.placement import FixedPlan
from fognet.infer.session import SessionOptions, run_session
from fognet.matching.check import check
from fognet.matching.instance import PeerId, Subtask, SubtaskId
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.plan import Planner
from fognet.partition.stages import Plan, Stage
from fognet.peer.node import Peer, PeerConfig
from fognet.placement.instance import PeerState as GamePeer
from fognet.placement.instance import figures_from_cluster, peer_of, states_instance
from fognet.placement.pricing import HaloPricing
from fognet.placement.refit import refit
from tests import graphs
from tests.graphs import save

# In-process peers share one loop with the planner's start-up (a profile estimate, a DP
# over squeezenet): a longer heartbeat keeps a busy moment from looking like a death.
HEARTBEAT_S = 0.5


@contextlib.asynccontextmanager
async def workers(tmp_path, specs):
    """Worker peers (name, speed, quota), each recording the states its round figures came
    from, in order (one per round it joins)."""
    names = [n for n, _, _ in specs]
    peers, seen = [], {n: [] for n in names}
    for name, speed, quota in specs:
        boot = (peers[0].address,) if peers else ()
        peer = Peer(PeerConfig(name, speed=speed, quota=quota, cache_dir=tmp_path / name,
                               heartbeat_s=HEARTBEAT_S, bootstrap=boot))
        peer.matching_state = _recording(peer.cluster_state, seen[name])
        peers.append(peer)
    async with contextlib.AsyncExitStack() as stack:
        for p in peers:
            await stack.enter_async_context(p.running())
        yield peers, seen


def _recording(state, into: list):
    def read():
        into.append(state())
        return into[-1]
    return read


def images(n: int, fps: float = 30.0):
    """`n` driving frames, stamped at `fps` (a paced session starts each at its stamp)."""
    return iter(DrivingStream(n, fps, size=(48, 64), seed=1))


def options(peers, tmp_path, **kw) -> SessionOptions:
    return SessionOptions(via=(peers[0].address,), expect_workers=len(peers), verify=True,
                          heartbeat_s=HEARTBEAT_S, cache_dir=tmp_path / "source", window=2, warmup=1, **kw)


def plan_sites(plan: Plan) -> set[str]:
    return {p for stage in plan.stages for p in stage.peers}


def round_instance(record, seen: dict[str, list], k: int = 0):
    """The instance the round's peers described: the source's figures and subtasks, and
    each worker's figures as it announced them in its k-th round."""
    states = [GamePeer(record.plan.source, record.figures, record.subtasks)]
    states += [GamePeer(n, figures_from_cluster(n, got[k])) for n, got in seen.items()]
    return states_instance(states)


async def test_match_runs_frames_on_the_matched_peers_and_the_matching_is_stable(tmp_path) -> None:
    loaded = load_model("squeezenet")
    placement = MatchedPlacement(use_source=False)
    specs = [("f1", 1.0, 4), ("f2", 2.0, 4), ("f3", 1.0, 4)]
    async with asyncio.timeout(40), workers(tmp_path, specs) as (peers, seen):
        report = await run_session(loaded, images(5), placement, options(peers, tmp_path))
    assert report.summary.failed == 0 and report.verified == 5  # = whole-model inference
    assert [r.index for r in report.results] == list(range(5))  # in order
    first = placement.rounds[0]
    assert first.status == "done" and first.sent["ROUND_OPEN"] >= 1 and first.sent["PROPOSE"] >= 1
    # the frames' first plan is the round's: its peers are exactly the matched sites
    assert _shape(report.plans[0].stages) == _shape(first.plan.stages)  # (a kept plan is re-priced)
    assert plan_sites(first.plan) == {peer_of(site) for site in first.final.values()}
    assert set(first.final) == {s.id for s in first.subtasks} == set(first.phase1)
    # the round's matching is exchange-stable on the instance the peers described
    inst = round_instance(first, seen)
    verdict = check(inst, first.final)
    assert verdict.stable, verdict.summary()
    # every plan frames ran on came out of a round
    made = [r.plan.stages for r in placement.rounds]
    for plan in report.plans:
        assert any(_shape(plan.stages) == _shape(stages) for stages in made)
    for r in report.results:
        assert {t.peer for t in r.timings} <= plan_sites(r.plan)


def _shape(stages):
    return [(s.start, s.stop, s.peers, s.rows) for s in stages]


async def test_spatial_slices_are_refitted_to_the_matched_peers(tmp_path) -> None:
    path, _ = save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    loaded = load_model(path)
    n = len(analyse(loaded.model))
    # expected: the whole chain in two slices on f1 and f2; f3 is fast but takes one subtask
    expected = Plan("", f"infer-{os.getpid()}", (Stage(0, n, ("f1", "f2"), ((0, 4), (4, 8))),))
    placement = MatchedPlacement(use_source=False, expect=FixedPlan(expected))
    specs = [("f1", 1.0, 4), ("f2", 1.0, 4), ("f3", 3.0, 1)]
    async with asyncio.timeout(40), workers(tmp_path, specs) as (peers, seen):
        report = await run_session(loaded, images(4), placement, options(peers, tmp_path))
    assert report.summary.failed == 0 and report.verified == 4
    first = placement.rounds[0]
    matched = list(dict.fromkeys(peer_of(first.final[s.id]) for s in first.subtasks))
    assert "f3" in matched  # the game moved a slice to the fast peer
    stage = report.plans[0].stages[0]
    assert _shape(report.plans[0].stages) == _shape(first.plan.stages)
    assert list(stage.peers) == [p for p in matched if p in stage.peers]  # slice order kept
    assert stage.spatial and set(stage.peers) == set(matched)
    assert stage.rows[0][0] == 0 and stage.rows[-1][1] == 8
    assert all(a[1] == b[0] for a, b in zip(stage.rows, stage.rows[1:], strict=False))
    assert stage.rows != expected.stages[0].rows or stage.peers != expected.stages[0].peers
    assert check(round_instance(first, seen), first.final).stable


async def test_a_game_nobody_answers_falls_back_to_the_expected_plan(tmp_path) -> None:
    """The workers' round figures cannot be read: they never announce, the round finds
    them dead, and the source runs the plan it expected."""
    path, _ = save(graphs.branches_model(), tmp_path / "b.onnx")
    placement = MatchedPlacement(use_source=False, deadline_s=3.0)
    async with asyncio.timeout(40), workers(tmp_path, [("f1", 1.0, 4), ("f2", 1.0, 4)]) as (peers, _):
        for p in peers:
            p.matching_state = _broken
        report = await run_session(load_model(path), images(2), placement,
                                   options(peers, tmp_path, calibrate=False))
    assert report.verified == 2
    first = placement.rounds[0]
    assert first.status == "failed" and first.plan.stages == report.plans[0].stages
    assert set(first.dead) == {"f1", "f2"}
    assert plan_sites(report.plans[0]) <= {"f1", "f2"}


async def test_a_worker_leaving_mid_stream_makes_a_new_round_without_it(tmp_path) -> None:
    path, _ = save(graphs.branches_model(), tmp_path / "b.onnx")
    placement = MatchedPlacement(use_source=False)
    first = Peer(PeerConfig("f1", cache_dir=tmp_path / "f1", heartbeat_s=HEARTBEAT_S))
    doomed = Peer(PeerConfig("f2", speed=4.0, cache_dir=tmp_path / "f2", heartbeat_s=HEARTBEAT_S,
                             bootstrap=(first.address,)))
    opts = SessionOptions(via=(first.address,), expect_workers=2, heartbeat_s=HEARTBEAT_S,
                          cache_dir=tmp_path / "s", window=1, timeout_s=0.5, paced=True, warmup=1,
                          verify=True)
    async with asyncio.timeout(40), first.running(), asyncio.TaskGroup() as group:
        doomed_task = group.create_task(doomed.run())

        def on_result(result) -> None:
            if result.index == 2:
                doomed_task.cancel()  # f2 says BYE and stops answering

        report = await run_session(load_model(path), images(14, fps=10.0), placement, opts, on_result=on_result)
    assert "f2" in plan_sites(placement.rounds[0].plan)
    last = placement.rounds[-1]
    assert last.sent["ROUND_OPEN"] == 1 and last.status == "done"  # f1 alone in the roster
    assert plan_sites(last.plan) == {"f1"} and plan_sites(report.plans[-1]) == {"f1"}
    assert report.results[-1].ok and {t.peer for t in report.results[-1].timings} == {"f1"}
    assert report.verified == sum(r.ok for r in report.results)


def _broken():
    raise RuntimeError("no figures")


# --- pure: fitting a plan to a matching --------------------------------------------------


def _chain_planner(speeds: dict[str, float]):
    graph = analyse(graphs.conv_chain_model())
    times = [0.01] * len(graph)
    state = ClusterState.of(
        [PeerState("src", 1.0, quota=0), *(PeerState(p, s) for p, s in speeds.items())],
        default_link=LinkState(1e15, 0.0),
    )
    return graph, Planner(graph, times, state, "src", spatial=HaloPricing(graph))


def _subs(plan: Plan, ids: list[str]) -> tuple[Subtask, ...]:
    return tuple(Subtask(SubtaskId(i), PeerId("src"), 0.01, 1, 1) for i in ids)


def test_a_matching_by_game_ids_is_fitted_by_the_one_refit() -> None:
    graph, planner = _chain_planner({"w1": 1.0, "w2": 2.0})
    n = len(graph)
    plan = Plan("sha", "src", (
        Stage(0, 2, ("w1",)), Stage(2, 4, ("w1", "w2"), ((0, 8), (8, 16))), Stage(4, n, ("w1",)),
    ))
    subs = _subs(plan, ["s0", "s1.r0", "s1.r1", "s2"])
    # sites are game ids (a worker role is "name#w"); s2 is left out: it stays on w1
    fitted = fit_to_matching(planner, plan, subs, {"s0": "w2#w", "s1.r0": "w2#w", "s1.r1": "w2#w"})
    assert fitted == refit(planner, plan, [["w2"], ["w2", "w2"], ["w1"]])
    assert [(s.start, s.stop, s.peers) for s in fitted.stages] == [(0, 4, ("w2",)), (4, n, ("w1",))]


def test_a_round_is_one_report_line_with_its_outcome_placements_and_messages() -> None:
    from fognet.infer.matched import RoundRecord, round_lines
    from fognet.placement.instance import Figures

    plan = Plan("sha", "car1", (Stage(0, 3, ("f1",)), Stage(3, 6, ("f1", "f2"), ((0, 4), (4, 8)))))
    subs = _subs(plan, ["car1.r2.s0", "car1.r2.s1.r0", "car1.r2.s1.r1"])
    record = RoundRecord(
        2, 99, "cut", {"PROPOSE": 3, "ROUND_OPEN": 2}, {}, {s.id: "f1#w" for s in subs},
        {"car1.r2.s0": "car1", "car1.r2.s1.r0": "f1#w", "car1.r2.s1.r1": "f2#w"}, subs,
        Figures(), plan, 0.0123, ("f3",))
    line = record.line()
    assert line.startswith("round 2 (cut, 12 ms): phase 1 s0:f1 s1.r0:f1 s1.r1:f1 -> final ")
    assert "final s0:car1 s1.r0:f1 s1.r1:f2;" in line
    assert "sent 5 (PROPOSE 3 ROUND_OPEN 2); dead f3" in line
    joint = replace(record, sources=("car1", "car2")).line()  # one game for both sources
    assert joint.startswith("round 2 #99 played by car1+car2 (cut, 12 ms): phase 1 ")
    holder = MatchedPlacement()
    holder.rounds.append(record)
    assert round_lines(holder) == [line] and round_lines(FixedPlan(plan)) == []  # a baseline plays none
