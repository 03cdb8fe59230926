"""Chain instances as JSON: the defaults a file may leave out, and its errors."""

from __future__ import annotations

import pytest

from fognet.config.profiles import DEFAULT_CAP
from fognet.errors import InstanceError
from fognet.placement.period_file import parse_period_instance


def _data(**peer2) -> dict:
    return {"objective": "period",
            "peers": [{"id": "car1", "speed": 0.25, "nic": 2.5e7}, {"id": "w1", "speed": 2.0},
                      {"id": "w2", "speed": 1.0, **peer2}],
            "default_link": {"bandwidth": 1.0e7},
            "chains": [{"source": "car1", "rate": 2.0, "bytes": [1000, 500, 10],
                        "stages": [{"work": 0.03}, {"work": 0.02, "need": 5.0e6}]}]}


def test_a_worker_lends_the_profiles_default_cap_and_a_source_all_its_time() -> None:
    inst = parse_period_instance(_data(cap=0.5))
    assert inst.peers == ("car1", "w1", "w2")
    assert inst.cap == (1.0, DEFAULT_CAP, 0.5)
    assert inst.shared == (False, True, True)


def test_a_cap_out_of_range_is_one_instance_error_naming_the_peer() -> None:
    with pytest.raises(InstanceError, match=r"peers\[2\] field 'cap' must be in \(0, 1\]"):
        parse_period_instance(_data(cap=1.5))
