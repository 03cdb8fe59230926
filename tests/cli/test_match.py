"""`fognet match` end to end through the click group: play, check, optimum, random, bad input."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from fognet.cli import main
from tests.matching.test_game import DISPLACE
from tests.matching.test_instance import BAD, GOOD


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def instance_file(tmp_path):
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(DISPLACE))
    return path


def test_table_by_default(instance_file) -> None:
    result = _run("match", "--instance", str(instance_file))
    assert result.exit_code == 0, result.output
    assert "car1" in result.output and "w1" in result.output
    assert "displacements 1" in result.output
    assert "J 0.070000 frame-s/s (phase 1 0.510000)" in result.output
    assert "car1 20.00 ms" in result.output and "car2 50.00 ms" in result.output


def test_json_output(instance_file) -> None:
    result = _run("match", "--instance", str(instance_file), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["assignment"] == {"a": "car1", "b": "w1"}
    assert data["latency"] == pytest.approx({"a": 0.02, "b": 0.05})
    assert data["objective"] == pytest.approx(0.07)
    assert data["task_latency"] == pytest.approx({"car1": 0.02, "car2": 0.05})
    for key in ("rounds", "proposals", "rejections", "swaps", "moves", "displacements", "passes"):
        assert isinstance(data[key], int)


def test_check_stable_and_blocked(instance_file, tmp_path) -> None:
    played = tmp_path / "m.json"
    played.write_text(_run("match", "--instance", str(instance_file), "--json").output)
    ok = _run("match", "--instance", str(instance_file), "--check", str(played))
    assert ok.exit_code == 0 and ok.output.strip() == "stable"
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"assignment": {"a": "w1", "b": "car2"}}))
    blocked = _run("match", "--instance", str(instance_file), "--check", str(planted))
    assert blocked.exit_code == 1
    assert blocked.output.startswith("not stable: displace a from w1 by b")
    fair = _run("match", "--instance", str(instance_file), "--check", str(planted), "--rule", "fair")
    assert fair.exit_code == 0 and fair.output.strip() == "stable"


@pytest.mark.parametrize("content", ['{"assignment": ', '{"total": 1}', '{"assignment": {"a": 1}}'])
def test_check_malformed_matching_exits_2(instance_file, tmp_path, content) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = _run("match", "--instance", str(instance_file), "--check", str(bad))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("InstanceError: ")


def test_optimal_reports_gap(instance_file) -> None:
    result = _run("match", "--instance", str(instance_file), "--optimal")
    assert result.exit_code == 0, result.output
    assert "optimum J 0.070000" in result.output and "gap 0.000%" in result.output
    data = json.loads(_run("match", "--instance", str(instance_file), "--optimal", "--json").output)
    assert data["gap"] == pytest.approx(0.0, abs=1e-12)


def test_optimal_refuses_large_instance(tmp_path) -> None:
    path = tmp_path / "big.json"
    _run("match", "--random-instance", "--sources", "10", "--workers", "4",
         "--subtasks-per-source", "4", "--out", str(path))
    result = _run("match", "--instance", str(path), "--optimal")
    assert result.exit_code == 2 and "limited to 12 subtasks" in result.output


def test_random_instance_round_trip(tmp_path) -> None:
    path = tmp_path / "r.json"
    args = ["match", "--random-instance", "--sources", "3", "--workers", "2",
            "--subtasks-per-source", "2", "--seed", "4"]
    wrote = _run(*args, "--out", str(path))
    assert wrote.exit_code == 0 and "6 subtasks" in wrote.output
    assert json.loads(_run(*args).output) == json.loads(path.read_text())
    data = json.loads(path.read_text())
    assert data["version"] == 2 and all("rate" in d for d in data["local"])
    assert all("stage" in s for s in data["subtasks"]) and all("cap" in w for w in data["workers"])
    played = _run("match", "--instance", str(path), "--json")
    assert played.exit_code == 0 and len(json.loads(played.output)["assignment"]) == 6
    missing = _run("match", "--random-instance", "--sources", "3")
    assert missing.exit_code == 2 and "--workers" in missing.output


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_instances_one_line_exit_2(tmp_path, name) -> None:
    edit, expected = BAD[name]
    data = copy.deepcopy(GOOD)
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = _run("match", "--instance", str(path))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("InstanceError: ") and expected in result.output


@pytest.mark.parametrize("content", ["", "{", "[1, 2]", "null"])
def test_malformed_instance_files(tmp_path, content) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = _run("match", "--instance", str(path))
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("InstanceError: ")


def test_version_1_instance_one_line_exit_2(tmp_path) -> None:
    from tests.matching.test_instance import VERSION_1

    path = tmp_path / "v1.json"
    path.write_text(json.dumps(VERSION_1))
    result = _run("match", "--instance", str(path))
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("InstanceError: this is a version-1 instance")


def test_missing_instance_file(tmp_path) -> None:
    result = _run("match", "--instance", str(tmp_path / "absent.json"))
    assert result.exit_code == 2 and result.output.startswith("InstanceError: cannot read")


def test_random_instance_refuses_options_it_would_ignore(tmp_path) -> None:
    from click.testing import CliRunner

    from fognet.cli import main

    result = CliRunner().invoke(main, ["match", "--random-instance", "--check", str(tmp_path / "m.json")])
    assert result.exit_code == 2 and "does not take --check" in result.output
