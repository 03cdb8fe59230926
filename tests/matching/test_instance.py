"""Instances: parsing, round trip, and one clear InstanceError per kind of bad input."""

from __future__ import annotations

import copy
import json

import pytest

from fognet.errors import InstanceError
from fognet.matching.instance import load_instance, parse_instance, to_json
from fognet.matching.random_instance import random_instance

GOOD = {
    "rule": "welfare", "round_s": 1.0, "arrival": "fixed", "queue": "sjf",
    "workers": [{"id": "w1", "speed": 2.0, "backlog": 0.010, "cap": 0.9, "quota": 3, "nic": 1.25e8}],
    "links": [{"a": "car1", "b": "w1", "bandwidth": 12500000, "latency": 0.002}],
    "local": [{"source": "car1", "speed": 0.25, "backlog": 0.0, "rate": 2.0, "nic": 2.5e7}],
    "subtasks": [{"id": "t1", "source": "car1", "stage": 0, "work": 0.030, "in_bytes": 150528,
                  "out_bytes": 4000}],
}

VERSION_1 = {
    "workers": [{"id": "w1", "speed": 2.0, "backlog": 0.010, "quota": 3}],
    "links": [{"a": "car1", "b": "w1", "bandwidth": 12500000, "latency": 0.002}],
    "subtasks": [{"id": "t1", "source": "car1", "work": 0.030, "in_bytes": 602112, "out_bytes": 4000}],
    "local": [{"source": "car1", "speed": 0.25, "backlog": 0.0}],
}


def test_design_example_parses() -> None:
    inst = parse_instance(GOOD)
    assert inst.rule == "welfare" and inst.round_s == 1.0
    assert (inst.arrival, inst.queue) == ("fixed", "sjf")
    w = inst.worker("w1")
    assert (w.quota, w.cap, w.nic) == (3, 0.9, 1.25e8)
    assert inst.link("w1", "car1").bandwidth == 12_500_000
    assert inst.sources == ("car1",)
    assert (inst.local_of("car1").rate, inst.local_of("car1").nic) == (2.0, 2.5e7)
    assert inst.subtasks[0].stage == 0


def test_optional_fields_take_their_defaults() -> None:
    data = copy.deepcopy(GOOD)
    for key in ("round_s", "arrival", "queue"):
        del data[key]
    for key in ("cap", "quota", "nic"):
        del data["workers"][0][key]
    del data["local"][0]["nic"]
    inst = parse_instance(data)
    w = inst.worker("w1")
    assert (w.cap, w.quota, w.nic, inst.local_of("car1").nic) == (0.9, None, None, None)
    assert (inst.round_s, inst.arrival, inst.queue) == (1.0, "fixed", "sjf")
    assert parse_instance(dict(data, version=2)) == inst


def test_version_1_file_is_refused_with_what_to_add() -> None:
    with pytest.raises(InstanceError) as info:
        parse_instance(VERSION_1)
    message = str(info.value)
    assert "\n" not in message and "version-1" in message
    assert "`rate`" in message and "`stage`" in message
    only_stage = copy.deepcopy(VERSION_1)
    only_stage["local"][0]["rate"] = 1.0
    with pytest.raises(InstanceError, match="needs `stage`") as info:
        parse_instance(only_stage)
    assert "`rate`" not in str(info.value)
    with pytest.raises(InstanceError, match="version-1"):
        parse_instance(dict(GOOD, version=1))
    with pytest.raises(InstanceError, match="version must be 2"):
        parse_instance(dict(GOOD, version=3))


def test_round_trip_through_json(tmp_path) -> None:
    inst = random_instance(3, 4, 2, seed=7, drop_links=0.3)
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(to_json(inst)))
    assert load_instance(path) == inst


def test_rule_defaults_to_welfare_and_default_link_applies() -> None:
    data = copy.deepcopy(GOOD)
    del data["rule"]
    data["links"] = []
    assert parse_instance(data).link("car1", "w1") is None
    data["default_link"] = {"bandwidth": 1e6, "latency": 0.001}
    inst = parse_instance(data)
    assert inst.rule == "welfare"
    assert inst.link("car1", "w1").bandwidth == 1e6


def _bad(edit) -> dict:
    data = copy.deepcopy(GOOD)
    edit(data)
    return data


BAD = {
    "unknown peer in link": (lambda d: d["links"][0].update(b="w9"), "unknown peer 'w9'"),
    "negative work": (lambda d: d["subtasks"][0].update(work=-0.1), "work must be >= 0"),
    "negative bytes": (lambda d: d["subtasks"][0].update(in_bytes=-1), "in_bytes must be >= 0"),
    "negative backlog": (lambda d: d["workers"][0].update(backlog=-1), "backlog must be >= 0"),
    "zero speed": (lambda d: d["workers"][0].update(speed=0), "speed must be positive"),
    "zero local speed": (lambda d: d["local"][0].update(speed=0), "speed must be positive"),
    "zero bandwidth": (lambda d: d["links"][0].update(bandwidth=0), "bandwidth must be positive"),
    "negative quota": (lambda d: d["workers"][0].update(quota=-1), "quota must be an integer"),
    "zero cap": (lambda d: d["workers"][0].update(cap=0), "cap must be in (0, 0.999]"),
    "cap of 1": (lambda d: d["workers"][0].update(cap=1.0), "cap must be in (0, 0.999]"),
    "zero rate": (lambda d: d["local"][0].update(rate=0), "rate must be positive"),
    "zero nic": (lambda d: d["workers"][0].update(nic=0), "nic must be positive"),
    "negative stage": (lambda d: d["subtasks"][0].update(stage=-1), "stage must be an integer >= 0"),
    "fractional stage": (lambda d: d["subtasks"][0].update(stage=0.5), "wrong type"),
    "unknown arrival": (lambda d: d.update(arrival="bursty"), "arrival must be one of"),
    "unknown queue": (lambda d: d.update(queue="lifo"), "queue must be one of"),
    "zero round": (lambda d: d.update(round_s=0), "round_s must be positive"),
    "fractional quota": (lambda d: d["workers"][0].update(quota=1.5), "wrong type"),
    "duplicate worker": (lambda d: d["workers"].append(dict(d["workers"][0])), "duplicate worker id 'w1'"),
    "duplicate subtask": (lambda d: d["subtasks"].append(dict(d["subtasks"][0])), "duplicate subtask id 't1'"),
    "duplicate link": (lambda d: d["links"].append({"a": "w1", "b": "car1", "bandwidth": 1e6}), "duplicate link"),
    "source missing from local": (lambda d: d["subtasks"][0].update(source="car2"), "missing from `local`"),
    "unknown rule": (lambda d: d.update(rule="greedy"), "rule must be one of"),
    "missing workers": (lambda d: d.pop("workers"), "has no 'workers'"),
    "string speed": (lambda d: d["workers"][0].update(speed="fast"), "wrong type"),
    "worker is a source": (lambda d: d["workers"][0].update(id="car1"), "both a worker and a source"),
    "not an object": (lambda d: d["workers"].__setitem__(0, 5), "must be a JSON object"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_instances_name_the_problem(name: str) -> None:
    edit, expected = BAD[name]
    with pytest.raises(InstanceError, match=expected.replace("(", r"\(").replace(")", r"\)")) as info:
        parse_instance(_bad(edit))
    assert "\n" not in str(info.value)


def test_malformed_json_file(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"workers": [')
    with pytest.raises(InstanceError, match="not valid JSON: line 1"):
        load_instance(path)
    with pytest.raises(InstanceError, match="cannot read"):
        load_instance(tmp_path / "absent.json")
    with pytest.raises(InstanceError, match="must be a JSON object"):
        parse_instance([1, 2])
