"""`fognet demo` end to end: real peer processes on loopback, every output verified."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_local_and_distributed_and_verifies_every_frame(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fognet", "demo", "--model", "pilotnet", "--frames", "3"],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "chained parts equal the whole model" in out
    assert "local: done, 3/3 outputs verified" in out and "fognet: done, 3/3 outputs verified" in out
    assert "emulation: ON" in out
    assert "security: closed (CurveZMQ): a key per peer, 4 on the allow-list" in out  # closed by default
    assert "runs OPEN" not in result.stderr
