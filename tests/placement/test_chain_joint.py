"""Joint planning for chains: sources re-cut against the others' load, alternating with the period game."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fognet.errors import PlanError
from fognet.matching.period import PeriodInstance, improves, loads, problems
from fognet.matching.period_check import check
from fognet.partition.throughput import ChainProblem
from fognet.placement.chain_joint import plan_chains_jointly, respond
from fognet.placement.chains import ChainSetup, random_chain_setup, with_solo_cuts

PEERS = ("a", "b", "w")


def _problem(source: str, work: list[float]) -> ChainProblem:
    m = len(work)
    rate = np.full((3, 3), 1e9)
    np.fill_diagonal(rate, math.inf)
    return ChainProblem(tuple(range(m)), np.array(work), np.ones(m), np.zeros((m, m)), PEERS,
                        np.array([1.0, 0.01, 4.0]), np.full(3, math.inf), rate, source)


def _contended() -> ChainSetup:
    # car a (speed 1) alone sends its whole model (1 s of work) to w (speed 4): 0.25 s there,
    # against 0.4 s for the cut keeping its first 0.4 s at home. Car b (speed 0.01) has only
    # w: with b's 0.25 s on it, w at 0.5 is the bottleneck, and a's better cut is the split
    # (a 0.4, w 0.25 + 0.15 = 0.4).
    problems_ = (_problem("a", [0.0, 0.4, 1.0]), _problem("b", [0.0, 1.0]))
    setup = ChainSetup(problems_, (), None, (1.0, 1.0), (1.0, 1.0, 1.0), (False, False, True))
    return with_solo_cuts(setup)


def test_a_source_whose_best_cut_depends_on_the_others_load_ends_with_that_cut() -> None:
    setup = _contended()
    assert setup.bounds == ((0, 2), (0, 1))  # alone, a sends everything to w
    out = plan_chains_jointly(setup)
    assert out.fixed.value.bottleneck == pytest.approx(0.5, abs=1e-6)  # both whole on w
    assert out.bounds[0] == (0, 1, 2)
    assert out.result.placement[0] == (0, 2)  # the first part at home, the rest on w
    assert out.result.value.bottleneck == pytest.approx(0.4, abs=1e-6)
    assert out.recut == 1 and out.gain == pytest.approx(0.5 / 0.4, rel=1e-5)


def test_the_best_response_prices_the_others_load_it_is_given() -> None:
    setup = _contended()
    inst = setup.instance()
    both_on_w = ((2,), (2,))
    found = respond(setup.problems[0], inst, both_on_w, 0)
    assert found is not None and found.bounds == (0, 1, 2) and found.route == (0, 2)
    b_at_home = ((2,), (1,))  # with b off w, a's solo cut is its best again
    alone = respond(setup.problems[0], inst, b_at_home, 0)
    assert alone is not None and alone.bounds == (0, 2) and alone.route == (2,)


def _joint(seeds, *shape):
    out = []
    for seed in seeds:
        try:
            setup = with_solo_cuts(random_chain_setup(*shape, seed=seed))
            out.append((setup, plan_chains_jointly(setup)))
        except PlanError as exc:
            assert "fits no peer's memory" in str(exc) or "no chain" in str(exc)
    return out


def test_joint_planning_never_ends_above_the_fixed_cuts_game() -> None:
    played = _joint(range(12), 2, 3, 5) + _joint(range(12), 3, 4, 5) + _joint(range(6), 3, 6, 6)
    assert len(played) >= 25
    better = 0
    for setup, out in played:
        assert not problems(out.instance, out.result.placement)
        assert out.result.value.bottleneck <= out.fixed.value.bottleneck
        assert not improves(out.fixed.value.key, out.result.value.key)
        assert check(out.instance, out.result.placement).stable  # the kept iterate is the game's end
        for problem, bounds in zip(setup.problems, out.bounds, strict=True):
            assert bounds[0] == 0 and bounds[-1] == len(problem.positions) - 1
        better += out.result.value.bottleneck < out.fixed.value.bottleneck
    assert better >= len(played) // 4  # re-cutting does pay on random shared clusters


def test_loads_without_a_source_are_everything_less_its_own_part() -> None:
    inst = random_chain_setup(3, 4, 5, seed=2).instance()
    where = tuple(tuple(3 + (k + j) % 4 for k in range(job.n_stages)) for j, job in enumerate(inst.jobs))
    everything = loads(inst, where)
    for j in range(len(inst.jobs)):
        alone = PeriodInstance(inst.peers, inst.memory, (inst.jobs[j],), inst.cap, inst.shared)
        own, others = loads(alone, (where[j],)), loads(inst, where, skip=j)
        assert own and set(own) | set(others) == set(everything)
        for r, u in everything.items():
            assert others.get(r, 0.0) + own.get(r, 0.0) == pytest.approx(u, rel=1e-12)
