"""One `fognet infer` run as its own process, and what it measured.

The live figures come from the real command (peers launched, the game played over
ZeroMQ, emulated links), so an experiment or `fognet bench` measures exactly what a user
runs. Each run is a subprocess: peers, sockets and onnxruntime sessions are released
when it ends, and a crash is a failed run, not a failed experiment.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fognet.errors import ConfigError

ENTRY = [sys.executable, "-m", "fognet"]
MODES = {"local": ["--local"], "fognet": ["--placement", "match"]}
_THROUGHPUT = re.compile(r"throughput\s+([0-9.]+)\s+frames/s")


@dataclass(frozen=True)
class JoinKeys:
    """A requester's keys for joining a closed cluster with `--via` (`fognet infer --keys --allow`)."""

    keys: Path  # NAME.key_secret
    allow: Path  # the cluster's allow-list

    def args(self) -> list[str]:
        return ["--keys", str(self.keys), "--allow", str(self.allow)]


@dataclass(frozen=True)
class FrameRow:
    frame: int
    ok: bool
    latency_s: float
    transfer_s: float
    wait_s: float
    compute_s: float
    peers: str


@dataclass(frozen=True)
class LiveRun:
    model: str
    mode: str  # "local" or "fognet"
    frames: tuple[FrameRow, ...]
    throughput_fps: float | None  # as fognet infer reported it
    emulation: str  # infer's emulation line ("" when joining a running cluster)
    returncode: int

    def latencies(self) -> np.ndarray:
        return np.array([f.latency_s for f in self.frames if f.ok])

    def stats(self) -> dict[str, float | int | None]:
        """p50/p95/p99/mean in ms, frames ok and failed, throughput."""
        lat = self.latencies() * 1e3
        pct = (lambda q: float(np.percentile(lat, q))) if lat.size else (lambda q: None)
        return {"frames": int(lat.size), "failed": len(self.frames) - int(lat.size),
                "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
                "mean_ms": float(lat.mean()) if lat.size else None, "throughput_fps": self.throughput_fps}


def infer_command(model: str, mode: str, frames: int, cluster: Path | None, via: Sequence[str],
                  source: Path | None, csv_path: Path, join: JoinKeys | None = None) -> list[str]:
    if mode not in MODES:
        raise ConfigError(f"unknown live mode {mode!r}; known: {', '.join(MODES)}")
    if bool(cluster) == bool(via):
        raise ConfigError("a live run needs a cluster file or --via HOST:PORT, not both")
    cmd = [*ENTRY, "infer", "--model", model, "--frames", str(frames), "--window", "1", "--csv", str(csv_path)]
    cmd += ["--cluster", str(cluster)] if cluster else [a for v in via for a in ("--via", v)]
    if join is not None:
        if cluster:
            raise ConfigError("keys to join a closed cluster go with --via; a launched cluster makes its own")
        cmd += join.args()
    if source is not None:
        cmd += ["--source", str(source)]
    return cmd + MODES[mode]


def run_live(model: str, mode: str, frames: int, cluster: Path | None = None, via: Sequence[str] = (),
             source: Path | None = None, timeout_s: float = 900.0, join: JoinKeys | None = None) -> LiveRun:
    """`fognet infer` with one frame in flight (each frame's latency is its own)."""
    with tempfile.TemporaryDirectory(prefix="fognet-live-") as tmp:
        csv_path = Path(tmp) / "frames.csv"
        cmd = infer_command(model, mode, frames, cluster, via, source, csv_path, join)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, "COLUMNS": "200"})
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"fognet infer {model} ({mode}) did not finish in {timeout_s:.0f} s") from exc
        if not csv_path.exists():
            last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"fognet infer {model} ({mode}) failed: {last}")
        rows = _rows(csv_path)
    emulation = next((line for line in done.stdout.splitlines() if line.startswith("emulation")), "")
    found = _THROUGHPUT.search(done.stdout.replace("\n", " "))
    return LiveRun(model, mode, rows, float(found.group(1)) if found else None, emulation, done.returncode)


def _rows(path: Path) -> tuple[FrameRow, ...]:
    with path.open() as fh:
        return tuple(
            FrameRow(int(r["frame"]), r["ok"] == "1", float(r["latency_ms"]) / 1e3, float(r["transfer_ms"]) / 1e3,
                     float(r["wait_ms"]) / 1e3, float(r["compute_ms"]) / 1e3, r["peers"])
            for r in csv.DictReader(fh)
        )
