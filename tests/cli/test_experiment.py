"""`fognet experiment driving / report` on the tiny config (tests/experiment/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fognet.cli import main
from tests.experiment.conftest import CONFIG, SWEEP

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "sweep.toml").write_text(SWEEP)
    (tmp_path / "tiny.toml").write_text(CONFIG)
    return tmp_path / "tiny.toml"


def test_driving_then_report(tiny, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["experiment", "driving", "--config", str(tiny), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "PArtNNer (TECS 2023)" in result.output and "paper: 10.2x" in result.output
    data = json.loads((out / "results.json").read_text())
    assert [p["experiment"] for p in data["points"]].count("driving") == 2
    assert data["live"] is None and data["dataset"] is None
    (out / "report.md").unlink()
    again = CliRunner().invoke(main, ["experiment", "report", str(out)])
    assert again.exit_code == 0, again.output
    assert "![Latency CDF per approach](figures/latency_cdf.png)" in (out / "report.md").read_text()


def test_dataset_sets_the_rate(tiny, tmp_path):
    frames = tmp_path / "frames"
    made = CliRunner().invoke(main, ["frames", "--out", str(frames), "--n", "4", "--size", "24x32", "--fps", "5"])
    assert made.exit_code == 0, made.output
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["experiment", "driving", "--config", str(tiny), "--out", str(out),
                                       "--dataset", str(frames)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["dataset"]["layout"] == "folder" and data["dataset"]["frames"] == 4
    assert data["scenario"]["fps"] == [data["dataset"]["fps"]]


@pytest.mark.parametrize("args, error", [
    (["--dataset", "{tmp}/nothing-here"], "DatasetError: "),
    (["--dask", "127.0.0.1:1"], "ConfigError: --dask needs the dask extra"),
    (["--config", "{tmp}/missing.toml"], "ConfigError: cannot read experiment config"),
])
def test_bad_input_is_one_line(tiny, tmp_path, args, error):
    args = [a.format(tmp=tmp_path) for a in args]
    if "--config" not in args:
        args += ["--config", str(tiny)]
    result = CliRunner().invoke(main, ["experiment", "driving", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert error in result.output.splitlines()[-1], result.output
    assert "Traceback" not in result.output


def test_live_run_takes_the_datasets_frames(tiny, tmp_path):
    """--live on local-2: local and fognet through `fognet infer --source`, on the folder's frames."""
    root = tiny.parent
    cluster = (ROOT / "peers" / "local-2.toml").as_posix()
    tiny.write_text(tiny.read_text() + f'\n[live]\nmodels = ["pilotnet"]\nframes = 2\ncluster = "{cluster}"\n')
    frames = root / "frames"
    assert CliRunner().invoke(main, ["frames", "--out", str(frames), "--n", "3", "--size", "24x32"]).exit_code == 0
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["experiment", "driving", "--config", str(tiny), "--out", str(out),
                                       "--dataset", str(frames), "--live"])
    assert result.exit_code == 0, result.output
    live = json.loads((out / "results.json").read_text())["live"]
    assert [(r["model"], r["mode"], r["frames"], r["failed"]) for r in live] == [
        ("pilotnet", "local", 2, 0), ("pilotnet", "fognet", 2, 0)]
    assert all(r["emulation"].startswith("emulation: ON") for r in live)
    assert (out / "figures" / "live_cdf.png").exists() and (out / "live.csv").exists()
    assert "## Live on the emulated cluster" in (out / "report.md").read_text()
