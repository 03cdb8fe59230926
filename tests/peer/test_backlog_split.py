"""A worker's backlog split by source (issue 11): a round, and a source's planner, leave the
re-planning sources' own queued frames out of `q_p` and keep every other source's.

Real peers over ZeroMQ on 127.0.0.1; the worker is emulated very slow, so the EXECs sent to
it sit in its queue while the split is read."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from fognet.infer.session import Identity, Session, SessionOptions
from fognet.matching.instance import PeerId, Subtask, SubtaskId
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import random_feeds
from fognet.net import codec
from fognet.net.wire import Header
from fognet.peer.executor import Job, TaskKey
from fognet.peer.match.courier import figures_of
from fognet.peer.match.opening import open_body
from fognet.peer.node import Peer, PeerConfig
from fognet.placement.instance import Figures, LinkFigure, game_instance, worker_id

TIMEOUT = 30.0
WORK = {"car1": 0.3, "car2": 0.2}  # reference-seconds each car says one of its subtasks is


@contextlib.asynccontextmanager
async def fleet(tmp_path):
    """fog (a worker about 1000x slower than this machine) and two cars bootstrapped to it."""
    fog = Peer(PeerConfig("fog", speed=0.001, emulate=True, cache_dir=tmp_path / "fog", heartbeat_s=0.1))
    cars = [Peer(PeerConfig(n, quota=0, cache_dir=tmp_path / n, heartbeat_s=0.1, bootstrap=(fog.address,)))
            for n in ("car1", "car2")]
    async with contextlib.AsyncExitStack() as stack:
        for p in (fog, *cars):
            await stack.enter_async_context(p.running())
        for p in (fog, *cars):
            await p.wait_for_peers(3, timeout=5.0)
        yield fog, cars


async def _queue_at_fog(fog: Peer, cars: list[Peer], path, sha) -> list[asyncio.Task]:
    """car1 sends two subtasks and car2 one, all waiting at fog at once."""
    graph = analyse(load_model(path).model)
    key = TaskKey(sha, 0, len(graph))
    feeds = random_feeds(graph.inputs, seed=1)
    for car in cars:
        car.store.register(path, sha)
    await cars[0].run_subtask("fog", Job(key, feeds), TIMEOUT)  # fetch and build first: not queued work
    counts = {"car1": 2, "car2": 1}
    tasks = [asyncio.ensure_future(car.run_subtask("fog", Job(key, feeds, WORK[car.name]), TIMEOUT))
             for car in cars for _ in range(counts[car.name])]
    while fog.executor.backlog().total_ref_s < 0.8 - 1e-9:
        await asyncio.sleep(0.005)
    return tasks


async def test_a_round_counts_the_queued_work_of_sources_not_playing_it_only(residual_file, tmp_path) -> None:
    path, sha = residual_file
    async with asyncio.timeout(TIMEOUT), fleet(tmp_path) as (fog, cars):
        tasks = await _queue_at_fog(fog, cars, path, sha)
        figures = fog._round_figures()  # what fog tells a round it joins now
        for t in tasks:
            await t
    assert figures.backlog_ref_s == pytest.approx(0.8)
    assert [(s, round(w, 9)) for s, w in figures.backlog_by_source] == [("car1", 0.6), ("car2", 0.2)]
    # across the wire as a ROUND_OPEN, then the instance every peer of the round builds
    sent, _ = codec.decode(codec.encode(Header(open_body(1, 1.0, {"fog": fog.address}, figures, False, ()),
                                               id=1, sender="fog")))
    heard, _ = figures_of(sent.body)
    announced = {"fog": heard, **{c: Figures(links=(LinkFigure("fog", 1e7, 0.001),)) for c in WORK}}

    def fog_backlog(sources: list[str]) -> float:
        subtasks = [Subtask(SubtaskId(f"{c}.r1.s0"), PeerId(c), WORK[c], 100, 10) for c in sources]
        inst = game_instance(announced, subtasks, sources=sources)
        return next(w.backlog for w in inst.workers if w.id == worker_id("fog"))

    assert fog_backlog(["car1"]) == pytest.approx(0.2)  # car1's own two frames are its stream's
    assert fog_backlog(["car2"]) == pytest.approx(0.6)
    assert fog_backlog(["car1", "car2"]) == pytest.approx(0.0)


async def test_a_sources_planner_takes_only_its_own_work_out_of_a_workers_state(residual_file, tmp_path) -> None:
    path, sha = residual_file
    loaded = load_model(path)
    graph = analyse(loaded.model)
    async with asyncio.timeout(TIMEOUT), fleet(tmp_path) as (fog, cars):
        tasks = await _queue_at_fog(fog, cars, path, sha)
        heard = {}
        while len(heard) < 2:  # a STATE sent while all three wait, as each car heard it
            for car in cars:
                member = car.membership.table.get("fog")
                if member is not None and member.backlog_ref_s == pytest.approx(0.8):
                    heard.setdefault(car.name, Session(car, loaded, graph, [0.01] * len(graph),
                                                       SessionOptions(calibrate=False), Identity(),
                                                       {"fog": fog.address}).state())
            await asyncio.sleep(0.01)
        for t in tasks:
            await t
    assert heard["car1"].peers["fog"].backlog == pytest.approx(0.2)  # car2's frame only
    assert heard["car2"].peers["fog"].backlog == pytest.approx(0.6)  # car1's two


async def test_a_device_source_takes_its_own_work_out_of_its_own_backlog_too(residual_file, tmp_path) -> None:
    """The rule a round applies to every backlog (`game_instance`: workers and the sources'
    own devices alike) is the planner's too: fog, planning as a source, sees on its own
    device the two cars' queued work and not its own frame's."""
    path, sha = residual_file
    loaded = load_model(path)
    graph = analyse(loaded.model)
    async with asyncio.timeout(TIMEOUT), fleet(tmp_path) as (fog, cars):
        tasks = await _queue_at_fog(fog, cars, path, sha)
        key = TaskKey(sha, 0, len(graph))
        own = asyncio.ensure_future(fog.run_subtask("fog", Job(key, random_feeds(graph.inputs, seed=2), 0.5), TIMEOUT))
        while fog.executor.backlog().total_ref_s < 1.3 - 1e-9:
            await asyncio.sleep(0.005)
        session = Session(fog, loaded, graph, [0.01] * len(graph), SessionOptions(calibrate=False),
                          Identity(config=fog.config), {c.name: c.address for c in cars})
        state = session.state()
        figures = fog._round_figures()
        for t in (*tasks, own):
            await t
    assert state.peers["fog"].backlog == pytest.approx(0.8)  # car1's two and car2's one
    announced = {"fog": figures, **{c: Figures() for c in WORK}}
    inst = game_instance(announced, [Subtask(SubtaskId("fog.r1.s0"), PeerId("fog"), 0.1, 100, 10)], sources=["fog"])
    assert inst.local_of(PeerId("fog")).backlog == pytest.approx(state.peers["fog"].backlog)  # one rule
