"""The stream cost model on cases computed by hand (DESIGN.md, "The stream cost model")."""

from __future__ import annotations

import copy

import pytest

from fognet.matching.cost import evaluate, fits, site_finish, site_load, standalone
from fognet.matching.instance import parse_instance


def _instance(workers, local, subtasks, links=None, **top):
    """Links of zero latency and (near) infinite bandwidth unless given: no transfer time."""
    if links is None:
        links = [{"a": d["source"], "b": w["id"], "bandwidth": 1e30, "latency": 0.0}
                 for d in local for w in workers]
    return parse_instance({"workers": workers, "local": local, "subtasks": subtasks,
                           "links": links, **top})


def _sub(sid, source, work, stage=0, in_bytes=0, out_bytes=0):
    return {"id": sid, "source": source, "work": work, "stage": stage,
            "in_bytes": in_bytes, "out_bytes": out_bytes}


ONE = {
    "workers": [{"id": "w1", "speed": 2.0, "backlog": 0.0}],
    "local": [{"source": "car1", "speed": 0.25, "rate": 4.0}],
    "subtasks": [_sub("t1", "car1", 0.05, in_bytes=100_000, out_bytes=20_000)],
    "links": [{"a": "car1", "b": "w1", "bandwidth": 1e7, "latency": 0.002}],
}


def test_one_stream_on_one_worker_by_hand() -> None:
    inst = parse_instance(ONE)
    # x = 0.05 / 2 = 25 ms; a fixed-rate stream never waits for its own frames (R = 0);
    # t_in = 2 ms + 100 kB / 10 MB/s = 12 ms, t_out = 2 ms + 2 ms
    ev = evaluate(inst, {"t1": "w1"})
    assert ev.latency["t1"] == pytest.approx(0.012 + 0.025 + 0.004, rel=1e-12)
    assert ev.task_latency["car1"] == pytest.approx(0.041, rel=1e-12)
    assert ev.objective == pytest.approx(4 * 0.041, rel=1e-12)
    assert site_load(inst, "w1", inst.subtasks) == pytest.approx(0.1, rel=1e-12)


def test_poisson_stream_waits_for_itself_fixed_does_not() -> None:
    poisson = parse_instance(dict(ONE, arrival="poisson"))
    # M/D/1: W = lambda x^2 / (2 (1 - rho)) = 4 * 0.025^2 / (2 * 0.9)
    wait = 4 * 0.025**2 / 2 / 0.9
    assert evaluate(poisson, {"t1": "w1"}).latency["t1"] == pytest.approx(0.041 + wait, rel=1e-12)
    # two stages of one fixed-rate source on one site: still no wait (its frames never overlap)
    fixed = _instance([{"id": "w1", "speed": 1.0}], [{"source": "car1", "speed": 0.1, "rate": 2.0}],
                      [_sub("a", "car1", 0.1, stage=0), _sub("b", "car1", 0.05, stage=1)])
    finish = site_finish(fixed, "w1", fixed.subtasks)
    assert finish == {("car1", 0): pytest.approx(0.1), ("car1", 1): pytest.approx(0.05)}


def test_phantom_backlog_below_and_above_the_piece() -> None:
    data = copy.deepcopy(ONE)
    data["workers"][0]["backlog"] = 0.04  # b = 0.02 s, arriving once a round (T = 1 s)
    inst = parse_instance(data)
    # rho = 0.02 + 0.1; R = (B - B_car1) / 2 = 0.02^2 / 2; the phantom (20 ms) is shorter
    # than the piece (25 ms): sigma_< = 0.02, sigma_<= = 0.12
    wait = 0.02**2 / 2 / ((1 - 0.02) * (1 - 0.12))
    assert evaluate(inst, {"t1": "w1"}).latency["t1"] == pytest.approx(0.041 + wait, rel=1e-12)
    data["workers"][0]["backlog"] = 0.1  # b = 0.05 s, longer than the piece: only itself
    inst = parse_instance(data)
    wait = 0.05**2 / 2 / (1 * (1 - 0.1))
    assert evaluate(inst, {"t1": "w1"}).latency["t1"] == pytest.approx(0.041 + wait, rel=1e-12)
    data["round_s"] = 0.5  # the same backlog twice a second
    inst = parse_instance(data)
    wait = 0.05**2 / 0.5 / 2 / (1 * (1 - 0.1))
    assert evaluate(inst, {"t1": "w1"}).latency["t1"] == pytest.approx(0.041 + wait, rel=1e-12)


TWO = ([{"id": "w1", "speed": 1.0}],
       [{"source": "car1", "speed": 0.1, "rate": 2.0}, {"source": "car2", "speed": 0.1, "rate": 5.0}])


def test_two_streams_different_work_shortest_first() -> None:
    inst = _instance(*TWO, [_sub("a", "car1", 0.1), _sub("b", "car2", 0.02)])
    finish = site_finish(inst, "w1", inst.subtasks)
    # loads 0.2 (car1) and 0.1 (car2); second moments 0.02 and 0.002
    # car1 (longer): R = 0.002 / 2, sigma_< = 0.1, sigma_<= = 0.3
    assert finish[("car1", 0)] == pytest.approx(0.1 + 0.001 / (0.9 * 0.7), rel=1e-12)
    # car2 (shorter): R = 0.02 / 2, sigma_< = 0, sigma_<= = 0.1
    assert finish[("car2", 0)] == pytest.approx(0.02 + 0.01 / 0.9, rel=1e-12)


def test_fifo_site_pollaczek_khinchine() -> None:
    inst = _instance(*TWO, [_sub("a", "car1", 0.1), _sub("b", "car2", 0.02)], queue="fifo")
    finish = site_finish(inst, "w1", inst.subtasks)
    assert finish[("car1", 0)] == pytest.approx(0.1 + 0.001 / 0.7, rel=1e-12)
    assert finish[("car2", 0)] == pytest.approx(0.02 + 0.01 / 0.7, rel=1e-12)


def test_equal_work_is_one_class() -> None:
    workers, local = TWO
    local = [dict(local[0]), dict(local[1], rate=4.0)]
    inst = _instance(workers, local, [_sub("a", "car1", 0.05), _sub("b", "car2", 0.05)])
    finish = site_finish(inst, "w1", inst.subtasks)
    # loads 0.1 and 0.2, second moments 0.005 and 0.01; neither goes before the other:
    # sigma_< = 0 and sigma_<= = 0.3 for both
    assert finish[("car1", 0)] == pytest.approx(0.05 + 0.005 / 0.7, rel=1e-12)
    assert finish[("car2", 0)] == pytest.approx(0.05 + 0.0025 / 0.7, rel=1e-12)


def test_slices_of_one_stage_on_one_site_merge() -> None:
    inst = _instance(*TWO, [_sub("a", "car1", 0.03), _sub("a2", "car1", 0.07), _sub("b", "car2", 0.02)])
    merged = site_finish(inst, "w1", inst.subtasks)
    alone = _instance(*TWO, [_sub("a", "car1", 0.1), _sub("b", "car2", 0.02)])
    assert merged == site_finish(alone, "w1", alone.subtasks)


def test_site_at_its_cap_refuses() -> None:
    workers = [{"id": "w1", "speed": 2.0, "cap": 0.5}]
    local = [{"source": "car1", "speed": 0.5, "rate": 10.0}]
    inst = _instance(workers, local, [_sub("t", "car1", 0.1)])
    # load 10 * 0.1 / 2 = 0.5 reaches the cap: refused, and phase 1 never ranks it
    assert site_load(inst, "w1", inst.subtasks) == 0.5
    assert not fits(inst, "w1", inst.subtasks)
    assert standalone(inst, inst.subtasks[0], "w1") == float("inf")
    roomier = _instance([dict(workers[0], cap=0.51)], local, [_sub("t", "car1", 0.1)])
    assert fits(roomier, "w1", roomier.subtasks)
    quota = _instance([dict(workers[0], cap=0.9, quota=1)], local,
                      [_sub("t", "car1", 0.01), _sub("u", "car1", 0.01, stage=1)])
    assert fits(quota, "w1", quota.subtasks[:1]) and not fits(quota, "w1", quota.subtasks)


def test_own_device_overload_pays_a_penalty() -> None:
    local = [{"source": "car1", "speed": 0.25, "rate": 4.0}]
    inst = _instance([{"id": "w1", "speed": 1.0}], local, [_sub("t", "car1", 0.1)])
    # x = 0.4 s, load 1.6: loads capped at 0.999, plus 1000 (1.6 - 0.999) s
    assert evaluate(inst, {"t": "car1"}).latency["t"] == pytest.approx(0.4 + 601.0, rel=1e-12)


def _nic_instance(w1_nic=None):
    workers = [{"id": "w1", "speed": 1.0}, {"id": "w2", "speed": 1.0}]
    if w1_nic is not None:
        workers[0]["nic"] = w1_nic
    local = [{"source": "car1", "speed": 0.1, "rate": 1.0, "nic": 1e6}]
    links = [{"a": "car1", "b": w, "bandwidth": 1e7, "latency": 0.001} for w in ("w1", "w2")]
    subs = [_sub("s1", "car1", 0.01, in_bytes=100_000), _sub("s2", "car1", 0.01, in_bytes=300_000),
            _sub("next", "car1", 0.02, stage=1)]
    return _instance(workers, local, subs, links=links)


def test_nic_sharing_of_two_slices() -> None:
    inst = _nic_instance()
    ev = evaluate(inst, {"s1": "w1", "s2": "w2", "next": "car1"})
    # processor sharing of the 1 MB/s NIC: s1 is done after 2 x 100 kB, s2 after 100 + 300 kB
    assert ev.latency["s1"] == pytest.approx(0.001 + 0.2 + 0.01 + 0.001, rel=1e-12)
    assert ev.latency["s2"] == pytest.approx(0.001 + 0.4 + 0.01 + 0.001, rel=1e-12)
    # a task is the sum of its stages, a stage its slowest piece
    assert ev.task_latency["car1"] == pytest.approx(0.412 + 0.2, rel=1e-12)
    # on one site the two slices are one piece of 400 kB and 20 ms
    both = evaluate(inst, {"s1": "w1", "s2": "w1", "next": "car1"})
    assert both.latency["s1"] == both.latency["s2"] == pytest.approx(0.001 + 0.4 + 0.02 + 0.001)
    # a slow worker NIC is a floor of its own: 100 kB at 100 kB/s
    slow = evaluate(_nic_instance(w1_nic=1e5), {"s1": "w1", "s2": "w2", "next": "car1"})
    assert slow.latency["s1"] == pytest.approx(1.0 + 0.01 + 0.001, rel=1e-12)
