"""The latency formula, checked by hand: transfers, backlog, shortest-work-first waits, ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fognet.matching.cost import CostTable, site_latencies, site_total, standalone
from fognet.matching.instance import parse_instance


def _inst(**extra):
    data = {
        "workers": [{"id": "w1", "speed": 2.0, "backlog": 0.010, "quota": 3},
                    {"id": "w2", "speed": 1.0, "backlog": 0.0, "quota": 1}],
        "links": [{"a": "car1", "b": "w1", "bandwidth": 1e6, "latency": 0.001},
                  {"a": "car2", "b": "w1", "bandwidth": 1e6, "latency": 0.001}],
        "subtasks": [
            {"id": "t1", "source": "car1", "work": 0.020, "in_bytes": 1000, "out_bytes": 1000},
            {"id": "t2", "source": "car1", "work": 0.010, "in_bytes": 2000, "out_bytes": 0},
            {"id": "u1", "source": "car2", "work": 0.010, "in_bytes": 0, "out_bytes": 0},
        ],
        "local": [{"source": "car1", "speed": 0.25, "backlog": 0.02},
                  {"source": "car2", "speed": 0.5, "backlog": 0.0}],
    }
    data.update(extra)
    return parse_instance(data)


def _sub(inst, sid):
    return next(s for s in inst.subtasks if s.id == sid)


def test_standalone_by_hand() -> None:
    inst = _inst()
    t1, t2 = _sub(inst, "t1"), _sub(inst, "t2")
    # 2 x 1 ms latency + 2000 B / 1 MB/s + 10 ms backlog / 2 + 20 ms / 2
    assert standalone(inst, t1, "w1") == pytest.approx(0.002 + 0.002 + 0.005 + 0.010)
    # own device: no transfer; (20 ms backlog + 20 ms work) / 0.25
    assert standalone(inst, t1, "car1") == pytest.approx(0.16)
    assert standalone(inst, t2, "car1") == pytest.approx(0.12)
    # no link, no default link: out of reach; another source's device: never
    assert math.isinf(standalone(inst, t1, "w2"))
    assert math.isinf(standalone(inst, t1, "car2"))


def test_default_link_reaches_unlisted_pairs() -> None:
    inst = _inst(default_link={"bandwidth": 2e6, "latency": 0.0})
    assert standalone(inst, _sub(inst, "t1"), "w2") == pytest.approx(0.001 + 0.020)


def test_shortest_work_first_wait() -> None:
    inst = _inst()
    t1, t2 = _sub(inst, "t1"), _sub(inst, "t2")
    lat = site_latencies(inst, "w1", [t1, t2])
    # t2 (10 ms) goes first: 4 ms transfer + 5 ms backlog + 5 ms compute
    assert lat["t2"] == pytest.approx(0.014)
    # t1 waits for t2's 10 ms of work at speed 2: + 5 ms
    assert lat["t1"] == pytest.approx(0.004 + 0.005 + 0.005 + 0.010)
    assert site_total(inst, "w1", [t2, t1]) == pytest.approx(0.014 + 0.024)


def test_equal_work_ties_break_by_source_then_id() -> None:
    inst = _inst()
    t2, u1 = _sub(inst, "t2"), _sub(inst, "u1")
    lat = site_latencies(inst, "w1", [u1, t2])
    # same work: car1's t2 goes before car2's u1, so u1 waits 10 ms / 2
    assert lat["t2"] == pytest.approx(0.014)
    assert lat["u1"] == pytest.approx(0.002 + 0.005 + 0.005 + 0.005)


def test_cost_table_agrees_with_the_plain_formula() -> None:
    inst = _inst(default_link={"bandwidth": 3e6, "latency": 0.002})
    ct = CostTable.build(inst)
    for i, s in enumerate(ct.subtasks):
        for j, p in enumerate(ct.sites):
            assert ct.base[i, j] == pytest.approx(standalone(inst, s, p)) or (
                math.isinf(ct.base[i, j]) and math.isinf(standalone(inst, s, p))
            )
    w1 = ct.sites.index("w1")
    members = [0, 1, 2]
    plain = site_latencies(inst, "w1", list(ct.subtasks))
    got = ct.member_latencies(w1, members)
    assert np.allclose([got[i] for i in members], [plain[ct.subtasks[i].id] for i in members])
    # inserting one subtask grows the total by the difference of the two totals
    grown = ct.site_cost(w1, [0, 1, 2]) - ct.site_cost(w1, [0, 2])
    assert ct.insertion(1, w1, [0, 2]) == pytest.approx(grown)
