"""No frame lost (issue 12): a worker killed, stalled or BUSY mid-stream, at window 4.

Real peer processes (LocalCluster) or real peers in this process, over ZeroMQ on 127.0.0.1;
every frame must finish and equal whole-model inference (verify)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import onnx

from fognet.data.driving import DrivingStream
from fognet.errors import FrameSkipped
from fognet.infer.launch import LocalCluster
from fognet.infer.matched import MatchedPlacement
from fognet.infer.placement import GreedyPlacement
from fognet.infer.session import SessionOptions, run_session
from fognet.model.load import load_model
from fognet.peer.node import Peer, PeerConfig
from tests.graphs import branches_model

HEARTBEAT_S = 0.3
CLUSTER = """
[default_link]
bandwidth = 1.0e8
latency = 0.0005
[[peers]]
name = "w1"
profile = "laptop"
[[peers]]
name = "w2"
profile = "laptop"
[[peers]]
name = "w3"
profile = "laptop"
"""


def images(n: int, fps: float = 30.0):
    return iter(DrivingStream(n, fps, size=(32, 32), seed=3))


def stream_options(via: str, tmp_path: Path, workers: int) -> SessionOptions:
    return SessionOptions(
        via=(via,), expect_workers=workers, heartbeat_s=HEARTBEAT_S, window=4, timeout_s=5.0,
        cache_dir=tmp_path / "source", verify=True, warmup=1, calibrate=False,
        replan_threshold=float("inf"),  # re-plan only when a peer of the plan goes
    )


def plan_peers(plan) -> set[str]:
    return {p for stage in plan.stages for p in stage.peers}


async def _stream_with_fault(tmp_path: Path, sig: int, placement, frames: int = 24):
    """A stream over three worker processes; at frame 3 `sig` goes to a peer of the plan."""
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    model = tmp_path / "m.onnx"
    onnx.save(branches_model(), model)
    hit: list[str] = []
    with LocalCluster(path, heartbeat_s=HEARTBEAT_S, cache_root=tmp_path / "caches") as local:
        pids = {p.name: p.pid for p in local.launched}

        def on_result(result) -> None:
            if result.index == 3 and not hit:
                hit.append(sorted(plan_peers(result.plan))[0])
                os.kill(pids[hit[0]], sig)

        try:
            async with asyncio.timeout(90):
                report = await run_session(load_model(model), images(frames), placement,
                                           stream_options(local.launched[0].address, tmp_path, 3), on_result=on_result)
        finally:
            if hit and sig == signal.SIGSTOP:
                os.kill(pids[hit[0]], signal.SIGCONT)
    return report, hit[0]


async def test_a_worker_killed_mid_stream_at_window_4_loses_no_frame(tmp_path: Path) -> None:
    report, victim = await _stream_with_fault(tmp_path, signal.SIGKILL, GreedyPlacement(use_source=False))
    assert [r.index for r in report.results] == list(range(24))
    assert all(r.ok for r in report.results), [str(r.error) for r in report.results if not r.ok]
    assert report.verified == 24
    assert victim in plan_peers(report.plans[0])
    assert victim not in plan_peers(report.results[-1].plan)  # the survivors run the last frames
    assert victim not in {t.peer for t in report.results[-1].timings}


async def test_a_stalled_worker_is_routed_around_and_its_frames_re_matched(tmp_path: Path) -> None:
    """SIGSTOP: no connection closes, so only its silence tells; the game re-matches."""
    placement = MatchedPlacement(use_source=False)
    report, victim = await _stream_with_fault(tmp_path, signal.SIGSTOP, placement)
    assert all(r.ok for r in report.results), [str(r.error) for r in report.results if not r.ok]
    assert report.verified == 24
    assert report.replayed >= 1  # frames that were on it ran again elsewhere
    assert victim not in plan_peers(report.results[-1].plan)
    last_round = placement.rounds[-1]
    assert victim not in {site.split("#")[0] for site in last_round.final.values()}


@contextlib.asynccontextmanager
async def in_process_workers(tmp_path: Path, configs: list[PeerConfig]):
    first, *rest = configs
    peers = [Peer(first)]
    peers += [Peer(PeerConfig(**{**c.__dict__, "bootstrap": (peers[0].address,)})) for c in rest]
    async with contextlib.AsyncExitStack() as stack:
        for p in peers:
            await stack.enter_async_context(p.running())
        yield peers


async def test_a_busy_worker_answers_busy_and_frames_go_elsewhere_none_lost(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    onnx.save(branches_model(), model)
    configs = [
        # the fast one takes no EXEC at all: its queue holds none (max_queue 0)
        PeerConfig("full", speed=8.0, max_queue=0, heartbeat_s=HEARTBEAT_S, cache_dir=tmp_path / "full"),
        PeerConfig("free", speed=1.0, heartbeat_s=HEARTBEAT_S, cache_dir=tmp_path / "free"),
    ]
    async with asyncio.timeout(60), in_process_workers(tmp_path, configs) as peers:
        options = stream_options(peers[0].address, tmp_path, 2)
        options = SessionOptions(**{**options.__dict__, "warmup": 0})  # the first frame meets BUSY
        report = await run_session(load_model(model), images(12), GreedyPlacement(use_source=False), options)
        busy_answers = peers[0].transport.stats().errors_sent
    assert plan_peers(report.plans[0]) == {"full"}  # planned on the fast one
    assert all(r.ok for r in report.results) and report.verified == 12
    assert report.busy >= 1 and busy_answers >= report.busy
    assert all({t.peer for t in r.timings} == {"free"} for r in report.results)


async def test_more_arrivals_than_the_cluster_serves_skip_stale_frames_and_hold_at_most_a_window(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    onnx.save(branches_model(), model)
    # one emulated worker 100x slower than this machine: far fewer frames than 1000 fps
    configs = [PeerConfig("slow", speed=0.01, emulate=True, heartbeat_s=HEARTBEAT_S, cache_dir=tmp_path / "slow")]
    async with asyncio.timeout(60), in_process_workers(tmp_path, configs) as peers:
        options = SessionOptions(**{**stream_options(peers[0].address, tmp_path, 1).__dict__,
                                    "paced": True, "max_lag_s": 0.05, "window": 2})
        in_flight, most = [0], [0]
        executor = peers[0].executor
        real_run = executor.run

        async def counted(job):  # the worker's queue, as it sees it
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            try:
                return await real_run(job)
            finally:
                in_flight[0] -= 1

        executor.run = counted
        report = await run_session(load_model(model), images(40, fps=1000.0), GreedyPlacement(use_source=False),
                                   options)
    skipped = [r for r in report.results if isinstance(r.error, FrameSkipped)]
    served = [r for r in report.results if r.ok]
    assert len(skipped) + len(served) == 40 and report.summary.failed == 0
    assert skipped and served and report.summary.skipped == len(skipped)
    assert report.verified == len(served)  # every frame sent came back right
    assert all(r.timings == () for r in skipped)  # never sent
    assert most[0] <= 2  # the worker never held more than the window
