"""`fognet profile` end to end: a real model file, a real onnxruntime run, a real JSON file."""

from __future__ import annotations

from pathlib import Path

import onnx
from click.testing import CliRunner

from fognet.cli import main
from fognet.model.profile import load_profile
from tests.graphs import residual_model


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "res.onnx"
    onnx.save(residual_model(), path)
    return path


def test_profile_prints_top_nodes_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = CliRunner().invoke(
        main, ["profile", str(_model(tmp_path)), "--runs", "2", "--warmup", "1", "--top", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "top 2 of 4 nodes" in result.output
    assert "Conv" in result.output
    assert "sum of per-node medians" in result.output and "vs measured whole-model" in result.output
    profile = load_profile(out)
    assert [r.name for r in profile.nodes] == ["c1", "c2", "add", "relu"] and profile.runs == 2


def test_estimate_runs_nothing_and_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["profile", str(_model(tmp_path)), "--estimate", "--top", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("estimated (")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["profile", str(tmp_path / "missing.onnx")])
    assert result.exit_code == 2
    assert "ModelError: no such model file" in result.output
    result = CliRunner().invoke(main, ["profile", str(_model(tmp_path)), "--runs", "0"])
    assert result.exit_code == 2 and "--runs" in result.output
