"""The checker: it finds planted blocking steps, names them, and flags infeasible matchings."""

from __future__ import annotations

import pytest

from fognet.errors import InstanceError
from fognet.matching.check import check, parse_assignment
from fognet.matching.instance import parse_instance
from tests.matching.test_game import DISPLACE, SWAP


def test_planted_swap_is_found_and_named() -> None:
    inst = parse_instance(SWAP)
    report = check(inst, {"heavy": "car1", "light": "w1"})
    assert not report.stable
    assert [b.kind for b in report.blocking] == ["swap"]
    best = report.blocking[0]
    # before: light on w1 4.5 ms + heavy at home 800 ms; after: 42 ms + 50 ms (1 frame/s)
    assert best.gain == pytest.approx(0.8045 - 0.092)
    assert best.text == "swap heavy<->light (sites car1,w1) lowers J by 0.7125"
    assert report.summary().startswith("not stable: swap heavy<->light")
    assert check(inst, {"heavy": "w1", "light": "car1"}).stable


def test_planted_displacement_blocks_welfare_not_fair() -> None:
    inst = parse_instance(DISPLACE)
    planted = {"a": "w1", "b": "car2"}
    report = check(inst, planted, rule="welfare")
    assert [b.kind for b in report.blocking] == ["displace"]
    assert report.blocking[0].text.startswith("displace a from w1 by b (a back to car1)")
    assert report.blocking[0].gain == pytest.approx(0.51 - 0.07)
    assert check(inst, planted, rule="fair").stable


def test_planted_move_is_found() -> None:
    inst = parse_instance(DISPLACE)
    report = check(inst, {"a": "car1", "b": "car2"})
    kinds = {(b.kind, b.subtasks) for b in report.blocking}
    assert ("move", ("b",)) in kinds and ("move", ("a",)) in kinds
    assert report.blocking[0].subtasks == ("b",)  # the larger gain first


def test_infeasible_matchings_are_named() -> None:
    inst = parse_instance(DISPLACE)
    assert check(inst, {"a": "w1", "b": "w1"}).summary() == (
        "infeasible: worker w1 cannot take its 2 subtasks (cap 0.9, quota 1)"
    )
    assert "not assigned" in check(inst, {"a": "w1"}).summary()
    assert "cannot run on 'car1'" in check(inst, {"a": "w1", "b": "car1"}).summary()
    assert "unknown subtask 'zz'" in check(inst, {"a": "w1", "b": "car2", "zz": "w1"}).summary()


def test_parse_assignment_refuses_other_shapes() -> None:
    assert parse_assignment({"assignment": {"a": "w1"}, "total": 1}) == {"a": "w1"}
    with pytest.raises(InstanceError, match="assignment"):
        parse_assignment({"a": "w1"})
    with pytest.raises(InstanceError, match="peer id string"):
        parse_assignment({"assignment": {"a": 3}})
