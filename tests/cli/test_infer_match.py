"""`fognet infer` plays the matching game by default: real peer processes on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLUSTER = Path(__file__).resolve().parents[2] / "peers" / "local-2.toml"


def test_infer_uses_the_game_by_default_and_verifies() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fognet", "infer", "--cluster", str(CLUSTER), "--model", "pilotnet",
         "--frames", "3", "--verify"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "verified: 3/3 outputs match" in out
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    assert rounds and all("sent " in line and "ROUND_OPEN" in line for line in rounds), out
    assert "(failed" not in out
