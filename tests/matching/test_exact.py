"""The exact optimum: equal to brute force on tiny instances, never above the game."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.errors import InstanceError
from fognet.matching.check import feasibility
from fognet.matching.cost import allowed, evaluate
from fognet.matching.exact import optimum
from fognet.matching.game import play
from fognet.matching.random_instance import random_instance


def _brute_force(inst) -> float:
    subs = list(inst.subtasks)
    sites = [w.id for w in inst.workers]
    options = [[p for p in [*sites, s.source] if allowed(inst, s, p)] for s in subs]
    best = float("inf")
    for choice in itertools.product(*options):
        assignment = {s.id: p for s, p in zip(subs, choice, strict=True)}
        if feasibility(inst, assignment):
            continue
        best = min(best, evaluate(inst, assignment).objective)
    return best


@settings(max_examples=25, deadline=None)
@given(
    sources=st.integers(1, 3),
    workers=st.integers(0, 3),
    per_source=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
    drop=st.sampled_from([0.0, 0.4]),
)
def test_exact_equals_brute_force_and_bounds_the_game(sources, workers, per_source, seed, drop):
    inst = random_instance(sources, workers, per_source, seed, drop_links=drop)
    opt = optimum(inst)
    assert opt.objective == pytest.approx(_brute_force(inst), rel=1e-12)
    assert feasibility(inst, opt.assignment) == []
    for rule in ("welfare", "fair"):
        game = play(inst, rule=rule)
        assert game.objective >= opt.objective - 1e-12
        gap = (game.objective - opt.objective) / opt.objective
        assert gap >= -1e-12


def test_exact_handles_its_size_limit() -> None:
    inst = random_instance(3, 3, 4, seed=2)
    opt = optimum(inst)
    assert opt.objective <= play(inst).objective + 1e-12


def test_exact_refuses_large_instances() -> None:
    with pytest.raises(InstanceError, match="limited to 12 subtasks; this instance has 40"):
        optimum(random_instance(10, 3, 4, seed=1))
    with pytest.raises(InstanceError, match="gave up after 50 nodes on 12 subtasks"):
        optimum(random_instance(1, 6, 12, seed=0), max_nodes=50)
