"""The period objective of several chains on shared sites: by hand, its reduction to one
chain's period, its order, and the independent checker on planted steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fognet.errors import PlanError
from fognet.matching.period import (
    PeriodInstance,
    evaluate,
    improves,
    key,
    loads,
    problems,
)
from fognet.matching.period_check import check
from fognet.partition.throughput import ChainProblem, period_of
from fognet.placement.chains import period_instance

PEERS = ("a", "b", "w")


def _problem(work, nbytes, need, source, speeds=(1.0, 1.0, 2.0), memory=(math.inf,) * 3, rates=None):
    rate = np.array(rates if rates is not None else [[0, 10, 100], [10, 0, 50], [100, 50, 0]], dtype=float)
    np.fill_diagonal(rate, math.inf)
    m = len(work)
    return ChainProblem(tuple(range(m)), np.array(work, float), np.array(nbytes, float),
                        np.array(need, float) if need is not None else np.zeros((m, m)), PEERS,
                        np.array(speeds, float), np.array(memory, float), rate, source)


def _two_sources(memory=(math.inf,) * 3) -> PeriodInstance:
    # a: 2 stages of 1 s and 3 s reference work, 200 B in, 40 B at the cut, 20 B out, 2 frames/s
    # b: 1 stage of 2 s, 100 B in, 10 B out, 1 frame/s; w (speed 2) lends half its time
    need_a = [[0, 30, 60], [0, 0, 30], [0, 0, 0]]
    need_b = [[0, 50], [0, 0]]
    pa = _problem([0, 1, 4], [200, 40, 20], need_a, "a", memory=memory)
    pb = _problem([0, 2], [100, 10], need_b, "b", memory=memory)
    return period_instance([pa, pb], [(0, 1, 2), (0, 1)], [2.0, 1.0], cap=(1.0, 1.0, 0.5),
                           shared=(False, False, True))


def test_objective_by_hand_on_two_sources() -> None:
    inst = _two_sources()
    # a's stage 0 on w, stage 1 at home; b's one stage on w
    where = ((2, 0), (2,))
    got = loads(inst, where)
    # site w: a's stage 0: 2 fps x 1 s / 2 (speed) / 0.5 (cap) = 2; b's: 1 x 2 / 2 / 0.5 = 2 -> 4
    # site a: 2 x 3 s / 1 = 6
    # link a->w: 2 x 200 B / 100 B/s = 4; link w->a: 2 x 40 / 100 = 0.8
    # link b->w: 1 x 100 / 50 = 2; link w->b: 1 x 10 / 50 = 0.2
    assert got == pytest.approx({("site", 2): 4.0, ("site", 0): 6.0, ("link", 0, 2): 4.0,
                                 ("link", 2, 0): 0.8, ("link", 1, 2): 2.0, ("link", 2, 1): 0.2})
    value = evaluate(inst, where)
    assert value.bottleneck == pytest.approx(6.0) and value.busiest == "site a"
    assert key(inst, where) == pytest.approx((6.0, 4.0, 4.0, 2.0, 0.8, 0.2))
    # both of a's stages on w: site w 2 x 4 / 2 / 0.5 + 2 = 10; no hop between them
    assert evaluate(inst, ((2, 2), (2,))).loads["site w"] == pytest.approx(10.0)
    assert evaluate(inst, ((2, 2), (2,))).loads["link w->a"] == pytest.approx(2 * 20 / 100)


def test_memory_sums_the_needs_of_a_sites_stages() -> None:
    inst = _two_sources(memory=(100.0, 100.0, 70.0))
    # a/0 (30 B) and b/0 (50 B) on w: 80 B over its 70
    assert problems(inst, ((2, 0), (2,))) == ["w holds 8e-05 MB of stages over its 7e-05 MB"]
    assert problems(_two_sources(memory=(100.0, 100.0, 80.0)), ((2, 0), (2,))) == []
    assert evaluate(inst, ((2, 0), (1,))).memory == {"a": 30.0, "b": 50.0, "w": 30.0}
    assert problems(inst, ((2, 0), (1,))) == []
    assert problems(inst, ((1, 0), (2,))) == ["stage a/0 cannot run on b (not shared, not its source)"]


def test_one_source_at_rate_one_is_throughputs_period() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        m, n = int(rng.integers(2, 6)), int(rng.integers(1, 5))
        work = np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 1.0, m - 1))])
        rate = rng.choice([0.0, 100.0, 1e3, 1e4], (n, n))
        np.fill_diagonal(rate, math.inf)
        peers = tuple(f"p{k}" for k in range(n))
        problem = ChainProblem(tuple(range(m)), work, rng.uniform(1, 1e3, m), np.zeros((m, m)), peers,
                               rng.uniform(0.2, 5, n), np.full(n, math.inf), rate, peers[int(rng.integers(n))])
        k = int(rng.integers(1, min(n, m - 1) + 1))
        bounds = (0, *sorted(rng.choice(np.arange(1, m - 1), k - 1, replace=False).tolist()), m - 1)
        route = tuple(int(p) for p in rng.permutation(n)[:k])
        inst = period_instance([problem], [bounds])
        want = period_of(problem, [(bounds[s], bounds[s + 1], route[s]) for s in range(k)])
        assert evaluate(inst, (route,)).bottleneck == pytest.approx(want, rel=1e-12)


def test_the_order_looks_past_the_bottleneck_and_is_strict() -> None:
    assert improves((5.0, 3.0), (5.0, 4.0))  # a plateau of U still progresses
    assert not improves((5.0, 4.0), (5.0, 4.0))
    assert not improves((5.0, 4.0 - 1e-14), (5.0, 4.0))  # float noise is no progress
    assert improves((5.0,), (5.0, 1.0)) and not improves((5.0, 1.0), (5.0,))  # missing = 0
    assert improves((4.0, 4.0, 4.0), (5.0,)) and not improves((math.inf,), (5.0,))


def test_checker_names_a_planted_improving_move() -> None:
    inst = _two_sources()
    report = check(inst, ((0, 0), (2,)))  # both of a's stages at home: site a 2 x 4 s = 8
    assert not report.stable
    texts = [b.text for b in report.blocking]
    # a/0 to w: site a 6, site w 2 + 2, links a->w 4, w->a 0.8
    assert "move a/0 a->w: U 8 -> 6" in texts
    # a/1 to w instead makes site w 2 x 3 / 2 / 0.5 + 2 = 8: U stays, the rest rises
    assert not any(t.startswith("move a/1 a->w") for t in texts)
    # b's stage home: U stays 8 but w and its links are relieved (a plateau step)
    assert "move b/0 w->b: U 8 -> 8" in texts
    assert report.blocking[0].after == min(b.after for b in report.blocking)
    assert all(b.after <= b.before for b in report.blocking)


def test_checker_flags_an_infeasible_placement_and_a_wrong_shape() -> None:
    inst = _two_sources(memory=(100.0, 100.0, 50.0))
    assert check(inst, ((2, 2), (1,))).summary().startswith("infeasible: w holds")
    assert check(inst, ((2,), (1,))).summary().startswith("infeasible: a placement needs one peer per stage")


def test_chains_on_different_clusters_or_bad_cuts_are_refused() -> None:
    pa = _problem([0, 1, 4], [200, 40, 20], None, "a")
    other = _problem([0, 2], [100, 10], None, "b", speeds=(1.0, 1.0, 3.0))
    with pytest.raises(PlanError, match="priced on another cluster"):
        period_instance([pa, other], [(0, 2), (0, 1)])
    with pytest.raises(PlanError, match="must rise from 0 to 2"):
        period_instance([pa], [(0, 2, 2)])
    inst = period_instance([pa], [(0, 2)])
    with pytest.raises(PlanError, match="has one chain"):
        PeriodInstance(PEERS, inst.memory, inst.jobs * 2)
    with pytest.raises(PlanError, match="cap must be in"):
        PeriodInstance(PEERS, inst.memory, inst.jobs, cap=(1.0, 0.0, 1.0))
    with pytest.raises(PlanError, match="another cluster than 2 peers"):
        PeriodInstance(PEERS[:2], inst.memory[:2], inst.jobs)
