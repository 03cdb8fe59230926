"""Admission on hand-made times, then a worker over real ZeroMQ answering BUSY to a flood."""

from __future__ import annotations

import asyncio

import numpy as np

from fognet.errors import RemoteError
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import random_feeds
from fognet.net.wire import Reason
from fognet.peer.admission import Admission, Load, refusal
from fognet.peer.executor import Job, TaskKey
from fognet.peer.node import Peer, PeerConfig


def test_utilisation_counts_busy_spans_and_the_running_job_within_the_window() -> None:
    load = Load(window_s=1.0)
    load.start(0.0)
    load.stop(0.5)
    assert load.utilisation(1.0) == 0.5
    load.start(1.0)
    assert load.utilisation(1.25) == 0.5  # 0.25..0.5 of the old span, 1.0..1.25 running
    load.stop(2.0)
    assert load.utilisation(2.0) == 1.0 and load.utilisation(3.5) == 0.0


def test_refused_past_the_cap_with_work_in_hand_or_a_full_queue_never_when_idle() -> None:
    policy = Admission(cap=0.9, max_queue=2, window_s=1.0)
    load = Load(1.0)
    load.start(0.0)
    load.stop(0.95)
    assert refusal(policy, load, waiting=0, now=1.0) is None  # idle: take it
    load.start(1.0)
    assert "utilisation 0.95" in refusal(policy, load, waiting=0, now=1.0)
    assert refusal(Admission(cap=0.99), load, waiting=0, now=1.0) is None
    assert "queue cap 2" in refusal(Admission(cap=0.999, max_queue=2), load, waiting=2, now=1.0)


async def test_a_worker_past_its_cap_answers_busy_and_its_queue_stays_bounded(residual_file, tmp_path) -> None:
    path, sha = residual_file
    graph = analyse(load_model(path).model)
    worker = Peer(PeerConfig("w", cache_dir=tmp_path / "w", heartbeat_s=0.2, max_queue=3, emulate=True,
                             speed=0.001))  # emulated 1000x slower: jobs pile up
    source = Peer(PeerConfig("s", cache_dir=tmp_path / "s", heartbeat_s=0.2, quota=0,
                             bootstrap=(worker.address,)))
    worker.store.register(path, sha)
    key = TaskKey(sha, 0, len(graph))
    job = Job(key, random_feeds(graph.inputs, seed=1))
    async with asyncio.timeout(60), worker.running(), source.running():
        await source.wait_for_peers(2, timeout=5.0)
        await source.run_subtask("w", job, timeout=30.0)  # builds the session
        got = await asyncio.gather(*(source.run_subtask("w", job, timeout=30.0) for _ in range(12)),
                                   return_exceptions=True)
    busy = [g for g in got if isinstance(g, RemoteError)]
    done = [g for g in got if not isinstance(g, BaseException)]
    assert busy and all(b.reason is Reason.BUSY and "w is busy" in str(b) for b in busy)
    assert 1 <= len(done) <= 1 + 3  # one running, at most max_queue waiting
    assert all(np.isfinite(next(iter(d.outputs.values()))).all() for d in done)
