"""`fognet plan` through the real CLI: priced in the time `fognet infer` runs the same file in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fognet.cli import main

LOCAL4 = str(Path(__file__).resolve().parents[2] / "peers" / "local-4.toml")


def _plan(*extra: str) -> dict:
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL4, "--estimate", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_an_emulated_file_is_planned_in_its_slowed_time() -> None:
    # float32 frames: heavy enough that the plan keeps a stage on the car (links priced at all)
    emulated, real = _plan("--encoding", "float32"), _plan("--no-emulate", "--encoding", "float32")
    assert (emulated["time_scale"], real["time_scale"]) == (2.5, 1.0)
    # an idle cluster: every compute and transfer time is S times the devices', so the plan is the same
    assert [(s["start"], s["stop"], s["peers"]) for s in emulated["stages"]] == \
        [(s["start"], s["stop"], s["peers"]) for s in real["stages"]]
    assert len({p for s in real["stages"] for p in s["peers"]}) > 1  # the links are priced at all
    assert emulated["predicted_s"] == pytest.approx(2.5 * real["predicted_s"])
    for name, seconds in real["references"].items():
        assert emulated["references"][name] == pytest.approx(2.5 * seconds), name


def test_the_table_says_which_time_it_is_in() -> None:
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL4, "--estimate"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("emulation: ON") and "time scale 2.5" in result.output


def _cluster_file(tmp_path: Path, memory: float) -> str:
    text = f"""
name = "tiny"
[default_link]
bandwidth = 1.0e7
latency = 0.001
[[peers]]
name = "cam"
profile = "car"
speed = 0.25
role = "source"
memory = {memory}
[[peers]]
name = "a"
profile = "laptop"
speed = 1.0
memory = {memory}
[[peers]]
name = "b"
profile = "laptop"
speed = 1.0
memory = {memory}
"""
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return str(path)


def test_throughput_mode_prints_the_chain_its_period_and_the_verdict(tmp_path) -> None:
    # squeezenet needs 11.3 MB whole and 6.3 MB for its largest node: 8 MB per peer forces a chain
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", _cluster_file(tmp_path, 8e6),
                                       "--estimate", "--mode", "throughput", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["flow"] == "chain" and len(data["stages"]) >= 2
    assert len({s["peer"] for s in data["stages"]}) == len(data["stages"])
    assert all(s["memory_bytes"] <= 8e6 for s in data["stages"])
    worst = max([s["compute_s"] for s in data["stages"]] + [link["seconds"] for link in data["links"]])
    assert data["period"] == pytest.approx(worst)
    assert data["single_device"] is None and "fits on no single device" in data["acceleration"]["reason"]
    table = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL4, "--estimate", "--mode", "throughput"])
    assert table.exit_code == 0, table.output
    assert "period" in table.output and "acceleration region:" in table.output
    assert "throughput vs one device" in table.output


def test_a_model_that_fits_nowhere_is_one_line_and_exit_2(tmp_path) -> None:
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", _cluster_file(tmp_path, 1e5), "--estimate"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("PlanError: the model fits on no peer")
    assert "largest peer memory is 0.1 MB" in lines[0]
