"""Joint planning in a round (DESIGN.md, DINA-P item 4): plans made with the game, not before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.matching.cost import evaluate
from fognet.placement.joint import SiteLoad, plan_jointly
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


@pytest.mark.parametrize("arrival", ["fixed", "poisson"])
def test_a_best_response_plans_its_own_stream_with_the_rounds_arrivals(
    tmp_path: Path, chain_path: Path, arrival: str
) -> None:
    """The state `respond` plans on: the matched loads on the workers, the source at its
    frame rate and with the scenario's arrivals, the ones the round's game is priced under
    (a Poisson stream waits for its own frames, a fixed-rate one does not)."""
    text = CONTENDED.format(model=chain_path).replace("round_s = 1.0", f'round_s = 1.0\narrival = "{arrival}"')
    scenario = load(write_scenario(tmp_path / "s.toml", text))
    sim = Simulation(scenario, Approach("fognet"), ModelCache().for_scenario(scenario))
    source, worker = sim.topology.sources[0], sim.topology.workers[0]
    assert build_instance(sim.planning, {source: sim.planning.plan(source)})[0].arrival == arrival
    state = sim.planning.loaded(source, {worker: SiteLoad(0.3, 0.002, 0.8)})
    own, site = state.peers[source], state.peers[worker]
    assert (own.rate, own.poisson) == (5.0, arrival == "poisson")
    assert (site.backlog, site.load, site.residual, site.cap) == (0.0, 0.3, 0.002, 0.8)
    own_term = 5.0 * 0.01**2 / 2 if arrival == "poisson" else 0.0
    assert site.stream_wait(0.01, own.rate, own.poisson) == pytest.approx((0.002 + own_term) / (1 - 0.3 - 0.05))
