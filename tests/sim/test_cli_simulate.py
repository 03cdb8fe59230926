"""`fognet simulate` end to end on a tiny scenario: table, frames.csv, summary.json, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from fognet.cli import main
from tests.sim.conftest import write_scenario

TINY = """
name = "tiny"
seed = 5
rounds = 2
round_s = 0.5
[network]
bandwidth = 1.0e7
latency = 0.002
[models.chain]
spec = "{model}"
[[sources]]
name = "car"
count = 2
speed = 0.01
model = "chain"
fps = 4
deadline_s = 0.05
[[workers]]
name = "fog"
count = 2
speed = 1.0
quota = 2
"""


def test_simulate_writes_table_csv_and_json(tmp_path: Path, chain_path: Path) -> None:
    scenario = write_scenario(tmp_path / "tiny.toml", TINY.format(model=chain_path))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--baselines", "local,greedy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "fognet speed-up" in result.output and "local" in result.output
    rows = list(csv.DictReader(open(out / "frames.csv")))
    assert {r["approach"] for r in rows} == {"fognet", "local", "greedy"}
    assert len(rows) == 3 * 2 * 4  # approaches x sources x (4 fps * 1 s)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["approaches"]) == {"fognet", "local", "greedy"}
    local = summary["approaches"]["local"]
    assert local["frames"] == 8 and local["mean_s"] > 0
    assert summary["fognet_speedup"]["local"] == local["mean_s"] / summary["approaches"]["fognet"]["mean_s"]


def test_sweep_writes_one_csv_with_the_swept_value(tmp_path: Path, chain_path: Path) -> None:
    body = TINY.format(model=chain_path) + '[sweep]\nparam = "network.bandwidth"\nvalues = [1e6, 1e8]\n'
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["simulate", str(write_scenario(tmp_path / "sw.toml", body)),
                                       "--baselines", "local", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "frames.csv")))
    assert {r["value"] for r in rows} == {"1000000.0", "100000000.0"}
    assert {r["param"] for r in rows} == {"network.bandwidth"}
    summary = json.loads((out / "summary.json").read_text())
    assert [p["value"] for p in summary["points"]] == [1e6, 1e8]


def test_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = write_scenario(tmp_path / "bad.toml", "rounds = -1\n")
    result = CliRunner().invoke(main, ["simulate", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith("ConfigError: ") and result.output.count("\n") == 1
    result = CliRunner().invoke(main, ["simulate", str(bad), "--baselines", "magic"])
    assert result.exit_code == 2


def test_simulate_unwritable_out_is_one_line(tmp_path: Path, chain_path: Path) -> None:
    scenario = write_scenario(tmp_path / "tiny.toml", TINY.format(model=chain_path))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--out", str(blocker / "out")])
    assert result.exit_code == 2
    assert result.output.startswith("ConfigError: cannot create output directory"), result.output
    assert result.output.count("\n") == 1
