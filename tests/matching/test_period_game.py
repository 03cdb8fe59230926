"""The period game on random multi-source chain instances: stable by the independent checker,
never worse than its phase 1, never over a peer's memory; the exact optimum by enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fognet.errors import PlanError
from fognet.matching.period import PeriodInstance, evaluate, improves, memory_used, problems
from fognet.matching.period_baselines import greedy, random_placement, solo
from fognet.matching.period_check import check
from fognet.matching.period_exact import optimum
from fognet.matching.period_game import deferred_acceptance, hold, play
from fognet.placement.chains import random_period_instance


def _played(seeds, *shape, **kw):
    """(instance, result) for every seed whose phase 1 places every stage."""
    out = []
    for seed in seeds:
        inst = random_period_instance(*shape, seed=seed, **kw)
        try:
            out.append((inst, play(inst)))
        except PlanError as exc:
            assert "fits no peer's memory" in str(exc)
    return out


def test_the_game_ends_stable_by_the_independent_checker() -> None:
    played = _played(range(120), 3, 4, 5)
    assert len(played) >= 100
    moved = 0
    for inst, result in played:
        report = check(inst, result.placement)
        assert report.stable, report.summary()
        moved += result.counts.moves + result.counts.swaps + result.counts.displacements
    assert moved > len(played)  # phase 2 did work: the checker saw more than phase 1's outcomes


def test_the_checker_finds_steps_in_phase_1s_outcomes() -> None:
    # phase 1 alone is rarely stable: the checker is not blind
    unstable = 0
    for seed in range(30):
        inst = random_period_instance(3, 4, 5, seed)
        try:
            where, _ = deferred_acceptance(inst)
        except PlanError:
            continue
        unstable += not check(inst, where).stable
    assert unstable >= 10


def test_never_worse_than_its_own_phase_1() -> None:
    for inst, result in _played(range(100), 2, 5, 6, max_stages=4):
        assert result.value.bottleneck <= result.phase1.bottleneck
        assert not improves(result.phase1.key, result.value.key)
        assert result.value.key == evaluate(inst, result.placement).key


def test_memory_is_never_exceeded() -> None:
    rng = np.random.default_rng(0)
    bound = 0
    for inst, result in _played(range(100), 3, 4, 5):
        placements = [result.placement, greedy(inst), random_placement(inst, rng), optimum(inst).placement]
        for where in placements:
            if where is None:
                continue
            assert problems(inst, where) == []
            assert (memory_used(inst, where) <= inst.memory).all()
        bound += result.counts.rejections > 0
    assert bound >= 50  # memory did bind: phase 1 saw rejections


def _enumerate(inst: PeriodInstance) -> float:
    """Every placement of every stage on every peer that may host it."""
    options = [[p for p in range(len(inst.peers)) if inst.allowed(j, p)] for j, _ in inst.stages()]
    best = math.inf
    for flat in itertools.product(*options):
        it = iter(flat)
        where = tuple(tuple(next(it) for _ in range(job.n_stages)) for job in inst.jobs)
        if not problems(inst, where):
            best = min(best, evaluate(inst, where).bottleneck)
    return best


def test_optimum_equals_enumeration_and_bounds_the_game() -> None:
    found = 0
    for seed in range(40):
        inst = random_period_instance(2, 3, 4, seed)
        truth = _enumerate(inst)
        if not math.isfinite(truth):
            with pytest.raises(PlanError):
                optimum(inst)
            continue
        found += 1
        best = optimum(inst)
        assert best.bottleneck == pytest.approx(truth, rel=1e-9)
        assert evaluate(inst, best.placement).bottleneck == pytest.approx(truth, rel=1e-9)
        try:
            assert play(inst).value.bottleneck >= truth - 1e-12
        except PlanError:
            pass  # phase 1 could not place: the optimum still exists
    assert found >= 30


def test_hold_keeps_the_largest_first_run_that_fits() -> None:
    inst = random_period_instance(3, 2, 5, seed=0, memory=6e7)
    p = len(inst.peers) - 1  # a shared worker; stages propose only where they fit alone
    stages = [s for s in inst.stages() if inst.need(*s) <= inst.memory[p]]
    loads = {s: float(inst.compute(*s)[p]) for s in stages}
    order = sorted(stages, key=lambda s: (-inst.need(*s), loads[s], s))
    held, rejected = hold(inst, p, stages[::-1])
    assert held + rejected == order  # the prefix rule, whatever the offer order
    assert held and rejected
    assert sum(inst.need(*s) for s in held) <= inst.memory[p]
    assert sum(inst.need(*s) for s in held) + inst.need(*rejected[0]) > inst.memory[p]
    assert hold(inst, p, stages) == (held, rejected)


def test_the_game_beats_planning_apart_and_random_on_average() -> None:
    ratios_solo, ratios_random = [], []
    rng = np.random.default_rng(1)
    for inst, result in _played(range(40), 3, 4, 5, memory=1e9):
        ratios_solo.append(evaluate(inst, solo(inst)).bottleneck / result.value.bottleneck)
        draw = random_placement(inst, rng)
        ratios_random.append(evaluate(inst, draw).bottleneck / result.value.bottleneck)
    assert np.mean(ratios_solo) > 1.0 and np.mean(ratios_random) > 1.5


def test_a_warm_start_plays_phase_2_from_it_and_ends_stable_no_worse() -> None:
    rng = np.random.default_rng(3)
    started = 0
    for seed in range(30):
        inst = random_period_instance(3, 4, 5, seed)
        where = random_placement(inst, rng)
        if where is None:
            continue
        started += 1
        result = play(inst, start=where)
        assert result.phase1.key == evaluate(inst, where).key
        assert not improves(evaluate(inst, where).key, result.value.key)
        assert check(inst, result.placement).stable
    assert started >= 20
    inst = random_period_instance(3, 4, 5, 0)
    home = tuple(tuple(inst.src(j) + 1 if j == 0 else inst.src(j) for _ in range(job.n_stages))
                 for j, job in enumerate(inst.jobs))  # car1's stages on car2's device
    with pytest.raises(PlanError, match="cannot start from an invalid placement"):
        play(inst, start=home)
