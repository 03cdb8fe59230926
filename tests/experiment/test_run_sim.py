"""experiments/run_sim.py: a partial run refreshes its scenarios and keeps the others'."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "run_sim.py"


def _run(out: Path, *args: str) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "1", "--out", str(out), *args],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_run_of_one_scenario_keeps_the_others_rows_in_the_summary(tmp_path) -> None:
    _run(tmp_path, "--only", "small", "--baselines", "fognet,greedy,optimum")
    _run(tmp_path, "--only", "small-spatial", "--baselines", "fognet,greedy")
    summary = json.loads((tmp_path / "sim_summary.json").read_text())
    assert [row["scenario"] for row in summary["scenarios"]] == ["small-spatial", "small"]
    assert summary["rounds_capped_at"] == {"small-spatial": 1, "small": 1}
    small = summary["scenarios"][1]
    assert set(small["mean_s"]["admission"]) == {"fognet", "greedy", "optimum"}
    assert small["game_gap"] is not None and small["game_gap"] >= -1e-9  # the game is never below the optimum
    table = (tmp_path / "sim_summary.md").read_text()
    assert "| small-spatial |" in table and "| small |" in table
    # a Poisson control goes to its own files and leaves the shipped summary alone
    _run(tmp_path, "--only", "small", "--baselines", "fognet,greedy", "--arrival", "poisson")
    assert json.loads((tmp_path / "sim_summary.json").read_text()) == summary
    control = json.loads((tmp_path / "sim_summary-poisson.json").read_text())
    assert control["arrival_override"] == "poisson"
    assert [row["scenario"] for row in control["scenarios"]] == ["small"]
