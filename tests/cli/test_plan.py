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
    emulated, real = _plan(), _plan("--no-emulate")
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
