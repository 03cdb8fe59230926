"""Every shipped scenario parses, and every approach makes valid plans on it.

The scenarios' own models are swapped for a small conv chain so the whole check stays
fast; the devices, links, counts and planner settings are the shipped ones.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fognet.errors import ConfigError, NotApplicable
from fognet.sim.approaches import Approach
from fognet.sim.costs import load_costs
from fognet.sim.runner import Simulation
from fognet.sim.scenario import APPROACHES, ModelSpec, Scenario, Sweep, load
from tests.sim.conftest import write_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "experiments" / "scenarios").glob("*.toml"))


def _points(path: Path) -> list[Scenario]:
    loaded = load(path)
    if isinstance(loaded, Sweep):
        assert len(loaded.points) == len(loaded.values) >= 2
        return [loaded.points[0], loaded.points[-1]]
    return [loaded]


def test_the_required_scenarios_ship() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"city", "sweep-bandwidth", "sweep-devices", "sweep-fog", "small", "scale"} <= names
    kinds = {p.stem: isinstance(load(p), Sweep) for p in SCENARIOS}
    assert kinds["sweep-bandwidth"] and kinds["sweep-devices"] and kinds["sweep-fog"] and not kinds["city"]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_approach_plans_validly(path: Path, chain_path: Path) -> None:
    chain = load_costs(ModelSpec("chain", str(chain_path)))
    for point in _points(path):
        scenario = replace(point, rounds=1)
        costs = {key: replace(chain, key=key) for key in scenario.models}
        for name in APPROACHES:
            sim = Simulation(scenario, Approach(name, optimum_max_subtasks=scenario.optimum_max_subtasks), costs)
            try:
                placed = sim.approach.place(sim.planning, 0, scenario.seed)
            except NotApplicable:
                assert name == "optimum"
                continue
            assert set(placed.plans) == set(sim.topology.sources)
            for source, plan in placed.plans.items():
                _check_plan(sim, source, plan, len(chain.graph))


def _check_plan(sim: Simulation, source: str, plan, n: int) -> None:
    assert plan.source == source
    assert plan.stages[0].start == 0 and plan.stages[-1].stop == n
    allowed = {source, *sim.topology.workers}
    assert plan.peers <= allowed, f"{source} plan uses {plan.peers - allowed}"
    pricing = sim.planning.costs[sim.topology.peers[source].model].spatial
    for stage in plan.stages:
        assert len(set(stage.peers)) == len(stage.peers)
        if stage.spatial:
            rows = list(stage.rows)
            assert rows[0][0] == 0 and rows[-1][1] == pricing.out_rows(stage.start, stage.stop)
            assert all(a < b for a, b in rows) and all(r[1] == s[0] for r, s in zip(rows, rows[1:], strict=False))


def test_small_scenarios_admit_the_exact_optimum(chain_path: Path) -> None:
    for stem in ("small", "small-spatial"):
        scenario = replace(load(SCENARIOS[[p.stem for p in SCENARIOS].index(stem)]), rounds=1)
        chain = load_costs(ModelSpec("chain", str(chain_path)))
        costs = {key: replace(chain, key=key) for key in scenario.models}
        sim = Simulation(scenario, Approach("optimum", optimum_max_subtasks=scenario.optimum_max_subtasks), costs)
        placed = sim.approach.place(sim.planning, 0, scenario.seed)
        assert 0 < placed.subtasks <= scenario.optimum_max_subtasks
        assert set(placed.plans) == set(sim.planning.topology.sources)
        game_j, best_j = placed.objectives  # both priced on this round's instance
        assert 0 < best_j <= game_j * (1 + 1e-9)  # the optimum is no worse than the game


@pytest.mark.parametrize(
    "body, message",
    [
        ("rounds = 0\n[network]\nbandwidth = 1e6\n[[sources]]\nspeed = 1\nmodel = 'm'\nfps = 1\n", "rounds"),
        ("[network]\nbandwidth = -1\n[[sources]]\nspeed = 1\nmodel = 'm'\nfps = 1\n", "bandwidth"),
        ("[network]\nbandwidth = 1e6\n", "sources"),
        ("colour = 1\n", "unknown field 'colour'"),
        ("[network]\nbandwidth = 1e6\n[[sources]]\nspeed = 1\nfps = 1\n", "model"),
        ("[network]\nbandwidth = 1e6\n[[sources]]\nprofile = 'no-such-device'\nmodel = 'm'\nfps = 1\n", "no-such-device"),
        ("[network]\nbandwidth = 1e6\n[[sources]]\nspeed = 1\nmodel = 'm'\nfps = 1\n[sweep]\nparam = 'x.y'\nvalues = [1]\n", "sweep"),
        ("queue = 'lifo'\n[network]\nbandwidth = 1e6\n[[sources]]\nspeed = 1\nmodel = 'm'\nfps = 1\n", "queue"),
        ("not toml [", "TOML"),
    ],
)
def test_bad_scenarios_are_one_line_config_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load(write_scenario(tmp_path / "bad.toml", body))
    assert "\n" not in str(info.value)


def test_sweep_sets_the_dotted_param(tmp_path: Path) -> None:
    body = (
        "[network]\nbandwidth = 1e6\n[[sources]]\nspeed = 1\nmodel = 'm'\nfps = 1\ncount = 1\n"
        "[sweep]\nparam = 'sources.0.count'\nvalues = [1, 3]\n"
    )
    sweep = load(write_scenario(tmp_path / "s.toml", body))
    assert isinstance(sweep, Sweep)
    assert [p.sources[0].count for p in sweep.points] == [1, 3]
