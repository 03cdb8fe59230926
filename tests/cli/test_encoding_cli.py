"""`--encoding` through the real CLI: exact encodings verify, a lossy one reports its error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fognet.cli import main

PEERS = Path(__file__).resolve().parents[2] / "peers"


SLOW_CAR = """
name = "slow-car"
[emulation]
enabled = false
[default_link]
bandwidth = 1.0e9
latency = 0.0002
[[peers]]
name = "car"
profile = "car"
speed = 0.01
[[peers]]
name = "w1"
profile = "laptop"
"""  # a car this slow offloads everything: the encodings are exercised on every frame


def _infer(tmp_path: Path, *extra: str) -> str:
    cluster = tmp_path / "slow-car.toml"
    cluster.write_text(SLOW_CAR)
    result = subprocess.run(
        [sys.executable, "-m", "fognet", "infer", "--cluster", str(cluster), "--model", "pilotnet",
         "--frames", "3", "--placement", "planner", *extra],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stages ran on  stage 0: w1" in result.stdout
    return result.stdout


def test_lz4_activations_verify_exactly(tmp_path: Path) -> None:
    out = _infer(tmp_path, "--encoding", "uint8+lz4", "--verify")
    assert "verified: 3/3 outputs match" in out
    assert "encoding uint8+lz4 (exact): output error vs the whole model over 3 frames: max abs 0," in out


def test_fp16_reports_its_output_error(tmp_path: Path) -> None:
    out = _infer(tmp_path, "--encoding", "fp16")
    found = re.search(r"encoding uint8\+fp16 \(lossy\): output error .* max abs (\S+), max relative (\S+)", out)
    assert found, out
    # float16 activations through pilotnet: an error, well under 1%
    assert 0 < float(found.group(2)) <= 1e-2


def test_a_bad_encoding_is_one_line_and_exit_code_2() -> None:
    result = CliRunner().invoke(main, ["plan", "pilotnet", "--cluster", str(PEERS / "local-4.toml"),
                                       "--estimate", "--encoding", "uint8+zstd"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ConfigError:") and "zstd" in lines[0]


@pytest.mark.parametrize("model", ["squeezenet"])
def test_plan_prices_the_bytes_sent(model: str) -> None:
    def predicted(encoding: str) -> dict:
        result = CliRunner().invoke(main, ["plan", model, "--cluster", str(PEERS / "local-4.toml"), "--estimate",
                                           "--json", "--encoding", encoding])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    u8, f32 = predicted("uint8"), predicted("float32")
    assert (u8["encoding"], f32["encoding"]) == ("uint8", "float32")
    # the best single remote node gets the whole frame: a quarter of the bytes must cost less
    assert u8["references"]["best single node"] < f32["references"]["best single node"]
    assert u8["predicted_s"] <= f32["predicted_s"]
