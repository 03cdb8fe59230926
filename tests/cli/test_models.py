"""`fognet models` through the click group, with the zoo cache in a temporary directory."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fognet.cli import main
from fognet.model import zoo


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FOGNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_quick_listing_names_every_model_and_its_source() -> None:
    result = _run("models", "--quick")
    assert result.exit_code == 0, result.output
    for name in zoo.names():
        assert name in result.output
    assert "bvlc-alexnet" in result.output and "onnx" in result.output and "built" in result.output
    assert not (zoo.cache_dir() / "zoo").exists()  # --quick builds nothing


def test_figures_for_one_model_and_a_slim_variant() -> None:
    result = _run("models", "pilotnet", "squeezenet")
    assert result.exit_code == 0, result.output
    pilot = next(line for line in result.output.splitlines() if "pilotnet" in line)
    assert "1x3x66x200" in pilot and "0.25" in pilot and " 18 " in pilot  # params (M), nodes
    assert "0.05" in pilot  # GFLOPs
    squeeze = next(line for line in result.output.splitlines() if "squeezenet" in line)
    assert "1.24" in squeeze and "onnx" in squeeze


def test_unknown_model_is_one_line_and_exit_2() -> None:
    result = _run("models", "resnt18")
    assert result.exit_code == 2
    assert "ModelError: unknown model 'resnt18'" in result.output
    assert "did you mean 'resnet18'" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_given_to_another_command_is_exit_2() -> None:
    result = _run("cuts", "yolo3-tiny")
    assert result.exit_code == 2
    assert "unknown model 'yolo3-tiny'" in result.output and "yolov3-tiny" in result.output
