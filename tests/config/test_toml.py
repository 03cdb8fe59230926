"""The one set of TOML readers: places read as `file: table[i].field`, every reader checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fognet.config import toml
from fognet.config.cluster import load_cluster
from fognet.config.toml import Where
from fognet.errors import ConfigError
from fognet.sim.scenario import load as load_scenario

TOP = Where("f.toml")


def test_places_name_the_file_and_the_field() -> None:
    assert str(TOP) == "f.toml"
    assert str(TOP.key("peers").item(2).key("speed")) == "f.toml: peers[2].speed"
    assert str(TOP.key("models").key("pilotnet")) == "f.toml: models.pilotnet"
    assert str(TOP.key("x").error("bad")) == "f.toml: x: bad"


def test_read_parses_a_real_file_and_names_it_when_it_cannot(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('a = 1\n[t]\nb = "x"\n')
    assert toml.read(good) == {"a": 1, "t": {"b": "x"}}
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        toml.read(bad)
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        toml.read(tmp_path / "nope.toml")


def test_defaults_apply_only_when_absent_and_given_values_are_still_checked() -> None:
    assert toml.number({}, "bw", TOP, 2.0) == 2.0
    assert toml.number({"bw": 3}, "bw", TOP, 2.0) == 3.0 and isinstance(toml.number({"bw": 3}, "bw", TOP), float)
    assert toml.optional_number({}, "nic", TOP) is None
    assert toml.integer({}, "n", TOP, 4) == 4 and toml.flag({}, "on", TOP, True) is True
    assert toml.choice({}, "q", TOP, ("sjf", "fifo"), "sjf") == "sjf"
    assert toml.string({"s": "x"}, "s", TOP, "d") == "x"
    assert toml.table({}, "t", TOP) == {} and toml.tables({}, "t", TOP) == []
    with pytest.raises(ConfigError, match=r"f\.toml: bw: must be positive, not 0"):
        toml.number({"bw": 0}, "bw", TOP, 2.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: toml.number({}, "bw", TOP), "bw: missing (required)"),
        (lambda: toml.number({"bw": True}, "bw", TOP), "bw: must be a number, not True"),
        (lambda: toml.number({"bw": math.inf}, "bw", TOP), "bw: must be a number, not inf"),
        (lambda: toml.number({"lat": -1}, "lat", TOP, positive=False), "lat: must not be negative, not -1"),
        (lambda: toml.integer({"n": 1.5}, "n", TOP), "n: must be an integer >= 0, not 1.5"),
        (lambda: toml.integer({"n": 0}, "n", TOP, minimum=1), "n: must be an integer >= 1, not 0"),
        (lambda: toml.string({"s": " "}, "s", TOP), "s: must be a non-empty string, not ' '"),
        (lambda: toml.flag({"on": "yes"}, "on", TOP), "on: must be true or false, not 'yes'"),
        (lambda: toml.choice({"q": "lifo"}, "q", TOP, ("sjf", "fifo")), "q: must be one of sjf, fifo, not 'lifo'"),
        (lambda: toml.table({"t": 3}, "t", TOP), "t: must be a table ([t])"),
        (lambda: toml.tables({"t": [1]}, "t", TOP), "t: must be an array of tables ([[t]])"),
        (lambda: toml.check_keys({"b": 1, "z": 2}, ("a", "b"), TOP), "unknown field 'z' (known: a, b)"),
    ],
)
def test_every_reader_refuses_with_the_file_and_field(call, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    assert str(info.value) == f"f.toml: {message}"


def test_a_cluster_file_and_a_scenario_word_the_same_mistake_alike(tmp_path: Path) -> None:
    cluster = tmp_path / "c.toml"
    cluster.write_text('[default_link]\nbandwidth = -1\nlatency = 0.0\n[[peers]]\nname = "a"\nprofile = "car"\n')
    scenario = tmp_path / "s.toml"
    scenario.write_text("[network]\nbandwidth = -1\n[[sources]]\nspeed = 1\nmodel = 'm'\nfps = 1\n")
    with pytest.raises(ConfigError) as from_cluster:
        load_cluster(cluster)
    with pytest.raises(ConfigError) as from_scenario:
        load_scenario(scenario)
    assert str(from_cluster.value) == f"{cluster}: default_link.bandwidth: must be positive, not -1"
    assert str(from_scenario.value) == f"{scenario}: network.bandwidth: must be positive, not -1"
