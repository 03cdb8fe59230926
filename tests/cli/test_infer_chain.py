"""`fognet infer --flow chain`: frames pipelined through real peer processes, outputs verified."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CLUSTER = Path(__file__).resolve().parents[2] / "peers" / "local-4.toml"


def _infer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fognet", "infer", "--cluster", str(CLUSTER), *args],
                          capture_output=True, text=True, timeout=240)


def test_chain_flow_runs_the_chain_verified_and_measures_one_device() -> None:
    result = _infer("--model", "squeezenet", "--frames", "6", "--flow", "chain", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "verified: 6/6 outputs match" in out
    stages = re.findall(r"│ (\d+)\s+│ (\d+)\.\.(\d+)\s+│", out)
    assert stages and stages[0][:2] == ("0", "0")  # the chain starts at the model's first node
    assert all(int(b[2]) + 1 == int(a[1]) for a, b in zip(stages[1:], stages, strict=False))  # contiguous
    assert re.search(r"chain: \d+\.\d+ frames/s measured over 6 frames", out)
    assert re.search(r"one device \(fog-[a-z]+\): \d+\.\d+ frames/s measured", out)
    assert "car1 " not in "".join(line for line in out.splitlines() if line.startswith("│"))  # frames only


def test_chain_flow_refuses_a_placement_of_its_own() -> None:
    result = _infer("--model", "squeezenet", "--flow", "chain", "--placement", "greedy")
    assert result.returncode == 2 and "--flow chain plans its own chain" in result.stderr
