"""`fognet match --instance FILE` on chain instances (`"objective": "period"`), through the real CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fognet.cli import main


def _instance(**extra) -> dict:
    # car1 (speed 0.25) streams 2 frames/s of one 0.1 s stage: at home 2 x 0.4 s = 0.8;
    # on w1 (speed 2, cap 0.5) 2 x 0.05 / 0.5 = 0.2, its 500 kB in at 10 MB/s 2 x 0.05 = 0.1
    return {"objective": "period",
            "peers": [{"id": "car1", "speed": 0.25}, {"id": "w1", "speed": 2.0, "cap": 0.5, "memory": 2e7}],
            "default_link": {"bandwidth": 1e7},
            "chains": [{"source": "car1", "rate": 2.0, "bytes": [5e5, 1e5], "stages": [{"work": 0.1, "need": 1e7}]}]
            } | extra


def _run(tmp_path, data, *args: str):
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(data))
    return CliRunner().invoke(main, ["match", "--instance", str(path), *args])


def test_the_period_game_places_the_chain_and_prices_it_by_hand(tmp_path) -> None:
    result = _run(tmp_path, _instance(), "--json", "--optimal")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["objective"] == "period" and data["assignment"] == {"car1/0": "w1"}
    assert data["bottleneck"] == pytest.approx(0.2)
    assert data["utilisation"]["link car1->w1"] == pytest.approx(0.1)
    assert data["utilisation"]["link w1->car1"] == pytest.approx(0.02)
    assert data["optimum"] == pytest.approx(0.2) and data["gap"] == pytest.approx(0.0, abs=1e-12)
    table = _run(tmp_path, _instance())
    assert table.exit_code == 0 and "U 0.200000 (busiest: site w1" in table.output


def test_check_says_stable_or_names_the_improving_step(tmp_path) -> None:
    home, there = tmp_path / "home.json", tmp_path / "there.json"
    home.write_text(json.dumps({"assignment": {"car1/0": "car1"}}))
    there.write_text(json.dumps({"assignment": {"car1/0": "w1"}}))
    bad = _run(tmp_path, _instance(), "--check", str(home))
    assert bad.exit_code == 1 and "not stable: move car1/0 car1->w1" in bad.output
    good = _run(tmp_path, _instance(), "--check", str(there))
    assert good.exit_code == 0 and good.output.strip() == "stable"


@pytest.mark.parametrize(("change", "args", "message"), [
    ({"objective": "speed"}, (), "instance field 'objective' must be one of latency, period, not 'speed'"),
    ({}, ("--rule", "fair"), "--rule is the latency game's approval rule"),
    ({"chains": [{"source": "car1", "bytes": [1.0], "stages": [{"work": 0.1}]}]}, (),
     "chains[0] needs at least one stage and one 'bytes' entry more than stages"),
    ({"chains": [{"source": "car9", "bytes": [1.0, 1.0], "stages": [{"work": 0.1}]}]}, (),
     "chains[0] source 'car9' is no peer"),
    ({"default_link": {"bandwidth": 0}}, (), "default_link field 'bandwidth' must be positive"),
])
def test_bad_period_instances_are_one_line_and_exit_2(tmp_path, change, args, message) -> None:
    bad = _run(tmp_path, _instance(**change), *args)
    assert bad.exit_code == 2, bad.output
    assert message in bad.output
    assert len([line for line in bad.output.splitlines() if "Error" in line]) == 1
