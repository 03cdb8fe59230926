"""`fognet demo` end to end: real peer processes on loopback, every output verified."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_runs_local_and_distributed_and_verifies_every_frame(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fognet", "demo", "--sources", "1", "--model", "pilotnet", "--frames", "3"],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "chained parts equal the whole model" in out
    assert "local: done, 3/3 outputs verified" in out and "fognet: done, 3/3 outputs verified" in out
    assert "emulation: ON" in out
    assert "security: closed (CurveZMQ): a key per peer, 4 on the allow-list" in out  # closed by default
    assert "runs OPEN" not in result.stderr


def test_demo_by_default_has_three_cars_compare_three_runs_and_their_rounds_agree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fognet", "demo", "--model", "pilotnet", "--frames", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "chained parts equal the whole model" in out
    for run in ("local", "neurosurgeon", "fognet"):
        assert f"{run}: done, 6/6 outputs verified" in out, out
    # each car's rounds: a round is one game for every source that played it, so every car
    # named among a round's players reports the same round with the same players
    played = re.findall(r"^\s+(car\d) round \d+ #(\d+) played by ([\w+-]+) ", out, re.M)
    assert {car for car, _, _ in played} == {"car1", "car2", "car3"}, out
    rounds = {(car, number): by for car, number, by in played}
    for (car, number), by in rounds.items():
        assert car in by.split("+")
        for other in by.split("+"):
            assert rounds.get((other, number)) == by, (car, number, by)
