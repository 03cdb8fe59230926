"""The simulator against the cost model: hand-checked latencies, idle predictions, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.sim.approaches import Approach
from fognet.sim.experiment import ModelCache, compare
from fognet.sim.runner import Simulation
from fognet.sim.scenario import APPROACHES, load
from tests.sim.conftest import write_scenario

ONE_ON_ONE = """
name = "one-on-one"
seed = {seed}
rounds = {rounds}
round_s = 1.0
queue = "fifo"
[network]
bandwidth = {bandwidth}
latency = {latency}
[models.chain]
spec = "{model}"
[[sources]]
name = "car"
count = 1
speed = {speed}
model = "chain"
fps = {fps}
[[workers]]
name = "fog"
count = {workers}
speed = {wspeed}
quota = {quota}
"""


def _scenario(tmp_path: Path, chain_path: Path, **kw):
    values = {"seed": 3, "rounds": 1, "speed": 0.5, "fps": 1, "workers": 1, "model": chain_path, "bandwidth": 2e6,
              "latency": 0.004, "wspeed": 4.0, "quota": 2}
    values.update(kw)
    return load(write_scenario(tmp_path / "s.toml", ONE_ON_ONE.format(**values)))


def _run(scenario, name: str, models: ModelCache):
    return Simulation(scenario, Approach(name), models.for_scenario(scenario)).run()


def test_one_frame_local_and_offloaded_latency_is_the_formula(tmp_path: Path, chain_path: Path) -> None:
    scenario = _scenario(tmp_path, chain_path, speed=0.001)
    models = ModelCache()
    costs = models.for_scenario(scenario)["chain"]
    graph = costs.graph
    local = _run(scenario, "local", models).records
    assert len(local) == 1
    assert local[0].latency_s == pytest.approx(costs.total_s / 0.001, abs=1e-12)
    assert local[0].compute_s == pytest.approx(local[0].latency_s) and local[0].transfer_s == 0.0
    remote = _run(scenario, "best-node", models).records[0]
    in_b, out_b = graph.inputs[0].nbytes / 4, graph.outputs[0].nbytes  # the frame goes as uint8
    expected = 0.004 + in_b / 2e6 + costs.total_s / 4.0 + 0.004 + out_b / 2e6
    assert remote.peers == "fog-0"
    assert remote.latency_s == pytest.approx(expected, abs=1e-12)
    assert remote.transfer_s + remote.wait_s + remote.compute_s == pytest.approx(remote.latency_s)


def test_frames_queue_on_a_slow_source(tmp_path: Path, chain_path: Path) -> None:
    """Frames every 1/fps s, each needing W/s > 1/fps: frame k waits for k earlier ones."""
    scenario = _scenario(tmp_path, chain_path, fps=400, rounds=1, speed=0.05)
    models = ModelCache()
    work = models.for_scenario(scenario)["chain"].total_s
    service = work / 0.05
    assert service > 1 / 400, "the test needs an overloaded source"
    records = sorted(_run(scenario, "local", models).records, key=lambda r: r.frame)
    assert len(records) == 400
    for k, record in enumerate(records[:50]):
        assert record.latency_s == pytest.approx((k + 1) * service - k / 400, abs=1e-9)
        assert record.wait_s == pytest.approx(k * service - k / 400, abs=1e-9)


@pytest.mark.parametrize("name", APPROACHES)
def test_single_frame_on_idle_cluster_equals_planner_price(tmp_path: Path, chain_path: Path, name: str) -> None:
    scenario = _scenario(tmp_path, chain_path, workers=3, speed=0.002, bandwidth=1e9, latency=1e-4, wspeed=0.05)
    models = ModelCache()
    costs = models.for_scenario(scenario)
    probe = Simulation(scenario, Approach(name), costs)
    plan = Approach(name).place(probe.planning, 0, scenario.seed).plans["car-0"]
    priced = probe.planning.planner("car-0").price(plan)
    records = Simulation(scenario, Approach(name), costs).run().records
    assert len(records) == 1
    assert abs(records[0].latency_s - priced.predicted_s) < 1e-9


def test_modnn_splits_over_every_node(tmp_path: Path, chain_path: Path) -> None:
    scenario = _scenario(tmp_path, chain_path, workers=3, quota=100)
    record = _run(scenario, "modnn", ModelCache()).records[0]
    assert record.peers == "car-0;fog-0;fog-1;fog-2"
    stages = record.plan.split("|")
    assert all(stage.endswith("@car-0+fog-0+fog-1+fog-2") for stage in stages[:-1])


def test_workers_enforce_quotas_on_plan_only_approaches(tmp_path: Path, chain_path: Path) -> None:
    """Quota 2 per worker a round: MoDNN's first two sliced layers get the workers, the
    rest fall back to the source (equal rows over who is left)."""
    scenario = _scenario(tmp_path, chain_path, workers=3, quota=2)
    record = _run(scenario, "modnn", ModelCache()).records[0]
    stages = record.plan.split("|")
    assert stages[0].endswith("@car-0+fog-0+fog-1+fog-2") and stages[1].endswith("@car-0+fog-0+fog-1+fog-2")
    assert all(stage.endswith("@car-0") for stage in stages[2:])
    lenient = Simulation(scenario, Approach("modnn", admission=False), ModelCache().for_scenario(scenario)).run()
    assert all("+fog-2" in stage for stage in lenient.records[0].plan.split("|")[:-1])


def test_same_seed_same_records_other_seed_other_arrivals(tmp_path: Path, chain_path: Path) -> None:
    models = ModelCache()
    a = compare(_scenario(tmp_path, chain_path, fps=20, rounds=3, workers=2), ["fognet", "random"], models)
    b = compare(_scenario(tmp_path, chain_path, fps=20, rounds=3, workers=2), ["fognet", "random"], models)
    c = compare(_scenario(tmp_path, chain_path, fps=20, rounds=3, workers=2, seed=4), ["fognet"], models)
    for name in ("fognet", "random"):
        assert a.results[name].records == b.results[name].records
    assert [r.start_s for r in a.results["fognet"].records] != [r.start_s for r in c.results["fognet"].records]


def test_scenario_profile_json_sets_the_node_times(tmp_path: Path, chain_path: Path) -> None:
    from dataclasses import replace as dc_replace

    from fognet.model.load import load_model
    from fognet.model.profile import estimate_profile

    loaded = load_model(chain_path)
    profile = estimate_profile(loaded)
    measured = dc_replace(profile, nodes=tuple(dc_replace(n, time_s=0.001 * (n.index + 1)) for n in profile.nodes))
    measured.save(tmp_path / "chain.json")
    body = ONE_ON_ONE.format(seed=3, rounds=1, speed=0.5, fps=1, workers=1, model=chain_path,
                             bandwidth=2e6, latency=0.004, wspeed=4.0, quota=2)
    body = body.replace('[models.chain]\n', '[models.chain]\nprofile = "chain.json"\n')
    scenario = load(write_scenario(tmp_path / "s.toml", body))
    costs = ModelCache().for_scenario(scenario)["chain"]
    assert costs.times == tuple(0.001 * (k + 1) for k in range(len(costs.graph)))
    record = Simulation(scenario, Approach("local"), {"chain": costs}).run().records[0]
    assert record.latency_s == pytest.approx(sum(costs.times) / 0.5, abs=1e-12)


def test_a_missing_model_is_a_config_error(tmp_path: Path) -> None:
    from fognet.errors import ConfigError

    scenario = _scenario(tmp_path, tmp_path / "nowhere.onnx")
    with pytest.raises(ConfigError, match="nowhere.onnx"):
        ModelCache().for_scenario(scenario)


def test_fognet_runs_what_the_game_assigns(tmp_path: Path, chain_path: Path) -> None:
    """The simulator drives the real game: round 0's plans use exactly play()'s sites."""
    from fognet.matching.game import play
    from fognet.placement.instance import peer_of
    from fognet.sim.approaches import build_instance

    scenario = _scenario(tmp_path, chain_path, workers=3, speed=0.002, bandwidth=1e9, latency=1e-4,
                         wspeed=0.05, fps=5)
    sim = Simulation(scenario, Approach("fognet"), ModelCache().for_scenario(scenario))
    plans = {s: sim.planning.plan(s, "dina") for s in sim.topology.sources}
    instance, ids, _ = build_instance(sim.planning, plans)
    assignment = play(instance).assignment
    placed = Approach("fognet").place(sim.planning, 0, scenario.seed)
    for source, plan in placed.plans.items():
        assert plan.stages[-1].stop == plans[source].stages[-1].stop
        for planned, stage_ids in zip(plans[source].stages, ids[source], strict=True):
            matched = {peer_of(assignment[sid]) for sid in stage_ids}
            # every placed stage over this planned stage's nodes runs on its matched peers (a
            # 0-row slice drops out; whole neighbours on one peer merge into one stage)
            over = [s for s in plan.stages if s.start < planned.stop and planned.start < s.stop]
            assert over and all(set(s.peers) <= matched for s in over), (planned, over, matched)


def test_sources_keep_their_plan_until_the_state_moves_and_a_better_one_appears(tmp_path: Path, chain_path: Path) -> None:
    from fognet.partition.replan import DEFAULT_MARGIN

    scenario = _scenario(tmp_path, chain_path, workers=2, speed=0.002)
    sim = Simulation(scenario, Approach("best-node"), ModelCache().for_scenario(scenario))
    planning = sim.planning
    first = planning.plan("car-0", "best-node")
    planning.begin_round({"car-0": 0.0, "fog-0": 0.0, "fog-1": 0.0})
    assert planning.plan("car-0", "best-node") is first and planning.planner_runs == 1
    busy = first.stages[0].peer
    planning.begin_round({"car-0": 0.0, busy: 1.0})  # its worker now has a second of work queued
    moved = planning.plan("car-0", "best-node")
    assert planning.planner_runs == 2
    assert moved.stages[0].peer != busy
    assert moved.predicted_s < planning.planner("car-0").price(first).predicted_s * (1 - DEFAULT_MARGIN)
    planning.begin_round({"car-0": 0.0, busy: 0.0011})  # moved a bucket, but no clear gain
    assert planning.plan("car-0", "best-node").stages[0].peer == moved.stages[0].peer


def test_a_send_bound_by_the_sources_nic_is_priced_as_simulated(tmp_path: Path, chain_path: Path) -> None:
    """A link faster than the source's NIC: the frame leaves at the NIC's rate and still
    crosses the link's latency, in the simulator as in the stream cost model and the
    idle-cluster floor (the simulator once let such a send arrive `lat` early, and fognet
    ran below its own floor)."""
    body = ONE_ON_ONE.format(seed=3, rounds=1, speed=0.001, fps=1, workers=1, model=chain_path, bandwidth=1e9,
                             latency=0.004, wspeed=4.0, quota=2)
    body = body.replace("speed = 0.001\n", "speed = 0.001\nnic = 2e5\n", 1)
    scenario = load(write_scenario(tmp_path / "s.toml", body))
    models = ModelCache()
    comparison = compare(scenario, ["fognet", "best-node"], models)
    costs = models.for_scenario(scenario)["chain"]
    in_b, out_b = costs.graph.inputs[0].nbytes / 4, costs.graph.outputs[0].nbytes
    expected = 0.004 + in_b / 2e5 + costs.total_s / 4.0 + max(0.004 + out_b / 1e9, out_b / 2e5)
    for name in ("fognet", "best-node"):
        (record,) = comparison.results[name].records
        assert record.peers == "fog-0"
        assert record.latency_s == pytest.approx(expected, abs=1e-12)
    assert comparison.lower_bound_s == pytest.approx(expected, abs=1e-12)
    assert comparison.results["fognet"].records[0].predicted_s == pytest.approx(expected, abs=1e-12)


def test_the_floor_of_each_sweep_point_is_priced_on_that_points_links(tmp_path: Path, chain_path: Path) -> None:
    """One frame alone on an idle worker is at the floor; swept over the link's bandwidth,
    each point's floor is that point's own simulated latency (and they differ)."""
    body = ONE_ON_ONE.format(seed=3, rounds=1, speed=0.001, fps=1, workers=1, model=chain_path, bandwidth=1e6,
                             latency=0.004, wspeed=4.0, quota=2)
    body = body.replace('[network]', '[sweep]\nparam = "network.bandwidth"\nvalues = [2e5, 1e6, 5e6]\n[network]', 1)
    sweep = load(write_scenario(tmp_path / "s.toml", body))
    models = ModelCache()
    floors = []
    for point in sweep.points:
        comparison = compare(point, ["fognet"], models)
        (record,) = comparison.results["fognet"].records
        assert comparison.lower_bound_s == pytest.approx(record.latency_s, abs=1e-12)
        floors.append(comparison.lower_bound_s)
    assert floors[0] > floors[1] > floors[2]
