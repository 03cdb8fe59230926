"""Peers as real processes (LocalCluster): started, used, one SIGKILLed mid-stream (no frame
lost), all stopped."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import onnx
import pytest

from fognet.data.driving import DrivingStream
from fognet.errors import ConfigError
from fognet.infer.launch import LocalCluster
from fognet.infer.session import SessionOptions, run_session
from fognet.model.load import load_model
from tests.graphs import branches_model

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
speed = 3.0
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_sigkilled_worker_loses_no_frame_the_rest_finish_on_the_survivor(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    model = tmp_path / "m.onnx"
    onnx.save(branches_model(), model)
    images = iter(DrivingStream(16, 5.0, size=(32, 32)))
    with LocalCluster(path, heartbeat_s=0.3, cache_root=tmp_path / "caches") as local:
        pids = {p.name: p.pid for p in local.launched}
        options = SessionOptions(
            via=(local.launched[0].address,), expect_workers=2, heartbeat_s=0.3, window=1,
            timeout_s=1.0, paced=True, cache_dir=tmp_path / "source", verify=True,
            warmup=1, calibrate=False, replan_threshold=float("inf"),  # unemulated, w1 and w2
            # measure equally fast: re-plan only when a peer leaves
        )

        def on_result(result) -> None:
            if result.index == 2:
                os.kill(pids["w2"], signal.SIGKILL)

        async with asyncio.timeout(60):
            report = await run_session(load_model(model), images, options=options, on_result=on_result)
        assert {s.peer for s in report.plans[0].stages} == {"w2"}  # the fast one
        assert not _alive(pids["w2"]) or os.waitpid(pids["w2"], os.WNOHANG)
    assert not any(_alive(p) for p in pids.values())
    assert [r.index for r in report.results] == list(range(16))  # no frame vanishes
    assert all(r.ok for r in report.results) and report.verified == 16  # nor fails
    assert report.results[-1].ok and {t.peer for t in report.results[-1].timings} == {"w1"}


def test_unknown_peer_name_or_bad_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    with pytest.raises(ConfigError, match="no peer 'nope'"):
        LocalCluster(path, names=["nope"])
    with pytest.raises(ConfigError):
        LocalCluster(tmp_path / "missing.toml")
