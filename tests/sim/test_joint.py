"""Joint planning in a round (DESIGN.md, DINA-P item 4): plans made with the game, not before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.matching.cost import evaluate
from fognet.placement.joint import plan_jointly
from fognet.placement.policies import MATCHERS
from fognet.sim.approaches import Approach, build_instance
from fognet.sim.experiment import ModelCache
from fognet.sim.runner import Simulation
from fognet.sim.scenario import load
from tests.sim.conftest import write_scenario

# Two cameras whose standalone plans both lean on the one fast worker: each plan is the
# best for a camera alone, but together they queue on it; re-planned against each
# other's matched load, they move work elsewhere.
CONTENDED = """
name = "contended"
seed = 1
rounds = 1
round_s = 1.0
encoding = "float32"  # the contention below was sized with float32 frames
[network]
bandwidth = 2e7
latency = 0.001
[models.chain]
spec = "{model}"
[[sources]]
name = "cam"
count = 2
speed = 0.001
model = "chain"
fps = 5
[[workers]]
name = "fast"
count = 1
speed = 0.0015
[[workers]]
name = "slow"
count = 1
speed = 0.0006
"""


def _shape(plan) -> tuple:
    return tuple((s.start, s.stop, s.peers, s.rows) for s in plan.stages)


def test_the_round_ends_with_plans_better_than_the_standalone_ones(tmp_path: Path, chain_path: Path) -> None:
    scenario = load(write_scenario(tmp_path / "s.toml", CONTENDED.format(model=chain_path)))
    sim = Simulation(scenario, Approach("fognet"), ModelCache().for_scenario(scenario))
    planning = sim.planning
    alone = {s: planning.plan(s, "dina") for s in sim.topology.sources}
    instance, _, _ = build_instance(planning, alone)
    assignment, _ = MATCHERS["fognet"](instance, 0)
    standalone_j = evaluate(instance, assignment).objective

    joint = plan_jointly(alone, lambda given: build_instance(planning, given)[:2],
                         lambda inst: MATCHERS["fognet"](inst, 0), planning.respond)
    assert joint.iterations >= 2
    assert joint.replans == 2
    assert all(_shape(joint.plans[s]) != _shape(alone[s]) for s in alone)
    assert joint.objective < standalone_j * 0.995
    assert joint.objective == evaluate(joint.instance, joint.assignment).objective

    placed = sim.approach.place(planning, 0, scenario.seed)  # the simulator's fognet runs this loop
    assert sum(5.0 * placed.predicted[s] for s in alone) == pytest.approx(joint.objective, rel=1e-9)
