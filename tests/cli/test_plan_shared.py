"""`fognet plan --mode throughput --sources`: several cars' chains on shared peers, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fognet.cli import main
from fognet.cli.plan import node_times
from fognet.config.cluster import load_cluster
from fognet.matching.period_check import check
from fognet.model.load import load_model
from fognet.partition.encoding import Encoding
from fognet.placement.chains import solo_chains
from fognet.placement.state import cluster_state

LOCAL_CARS = str(Path(__file__).resolve().parents[2] / "peers" / "local-cars.toml")


def _cluster(tmp_path: Path) -> str:
    # two cars, three laptops lending 13 MB each: squeezenet (11.3 MB whole) fits one, two
    # copies do not, so memory decides where the cars' stages can share a laptop
    # car2's profile (inline) says it streams 4 frames/s
    peers = "".join(f'[[peers]]\nname = "car{k}"\nprofile = "{p}"\nmemory = 4.0e6\n' for k, p in ((1, "car"), (2, "car4")))
    peers += "".join(f'[[peers]]\nname = "w{k}"\nprofile = "laptop"\nrole = "worker"\nspeed = {s}\nmemory = 1.3e7\n'
                     for k, s in ((1, 2.0), (2, 1.0), (3, 0.5)))
    path = tmp_path / "cars.toml"
    car4 = '[profiles.car4]\nspeed = 0.25\nquota = 0\nrole = "source"\nrate = 4.0\n'
    path.write_text(f'name = "cars"\n[default_link]\nbandwidth = 2.0e7\nlatency = 0.001\n{peers}{car4}')
    return str(path)


def test_shared_chains_fit_every_memory_and_no_step_improves_them(tmp_path) -> None:
    file = _cluster(tmp_path)
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", file, "--estimate", "--no-emulate",
                                       "--mode", "throughput", "--sources", "all", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sources"] == ["car1", "car2"]
    stages = data["assignment"]
    assert {s.split("/")[0] for s in stages} == {"car1", "car2"}
    for stage, peer in stages.items():
        assert peer.startswith("w") or peer == stage.split("/")[0]  # a car hosts only its own stages
    assert all(used <= (1.3e7 if peer.startswith("w") else 4e6) for peer, used in data["memory_bytes"].items())
    assert data["bottleneck"] == max(data["utilisation"].values())
    assert data["bottleneck"] <= data["phase1_bottleneck"]
    assert data["bottleneck"] <= data["fixed_cuts_bottleneck"]
    assert data["rates_fps"] == {"car1": 1.0, "car2": 4.0}  # car1: the default; car2: its profile's
    assert data["caps"] == {"car1": 1.0, "car2": 1.0, "w1": 0.9, "w2": 0.9, "w3": 0.9}  # laptops' profile cap
    assert data["scale"] == 1 / data["bottleneck"]
    # rebuild the same instance on the printed cuts and check the printed placement independently
    cluster = load_cluster(file)
    graph, times, _ = node_times(load_model("squeezenet"), None, True)
    setup = solo_chains(graph, times, cluster_state(cluster), ["car1", "car2"], {p.name for p in cluster.workers},
                        Encoding(), [1.0, 4.0])
    assert [setup.cuts()[j] for j in range(2)] == [data["solo_cuts"]["car1"], data["solo_cuts"]["car2"]]
    bounds = [[p.positions.index(c) for c in data["cuts"][s]] for p, s in zip(setup.problems, ("car1", "car2"), strict=True)]
    inst = setup.instance(bounds)
    where = tuple(tuple(inst.peers.index(stages[inst.stage_name(j, k)]) for k in range(job.n_stages))
                  for j, job in enumerate(inst.jobs))
    assert check(inst, where).stable


def test_the_table_names_the_joint_period_and_the_plans_apart() -> None:
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate",
                                       "--mode", "throughput", "--sources", "car1,car3"])
    assert result.exit_code == 0, result.output
    assert "car3/0" in result.output and "car2/0" not in result.output
    assert "joint U = " in result.output and "planned apart" in result.output
    assert "fixed solo cuts" in result.output and "joint planning gains" in result.output
    assert "rates (frames/s): car1 1, car3 1" in result.output


def test_bad_sources_are_one_error_line_and_exit_2() -> None:
    bad = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate",
                                    "--mode", "throughput", "--sources", "car1,fog-nano"])
    assert bad.exit_code == 2
    assert "Error: --sources: fog-nano is no source of local-cars (its sources: car1, car2, car3)" in bad.output
    latency = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate",
                                        "--sources", "all"])
    assert latency.exit_code == 2 and "it needs --mode throughput" in latency.output


def _plan(*args: str):
    return CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate", "--no-emulate",
                                     "--mode", "throughput", *args])


def test_rates_set_the_common_scale_the_output_reports() -> None:
    slow = json.loads(_plan("--sources", "car1,car2", "--rate", "2", "--json").output)
    mixed = json.loads(_plan("--sources", "car1,car2", "--rate", "car2=6", "--json").output)
    assert slow["rates_fps"] == {"car1": 2.0, "car2": 2.0}
    assert mixed["rates_fps"] == {"car1": 1.0, "car2": 6.0}  # car1 named nowhere: 1 frame/s
    for data in (slow, mixed):
        assert data["scale"] * data["bottleneck"] == pytest.approx(1.0, rel=1e-12)
        assert data["bottleneck"] == max(data["utilisation"].values())
    table = _plan("--sources", "car1,car2", "--rate", "car1=2,car2=6")
    assert table.exit_code == 0, table.output
    assert "rates (frames/s): car1 2, car2 6; worker caps: fog-nano 0.9, fog-server 0.9" in table.output
    assert "the rates can be scaled by" in table.output


def test_bad_rates_are_one_error_line_and_exit_2() -> None:
    cases = {("--sources", "all", "--rate", "car9=3"): "--rate: 'car9=3' is not SOURCE=FRAMES_PER_S",
             ("--sources", "all", "--rate", "fast"): "--rate: car1's rate must be a positive number",
             ("--sources", "all", "--rate", "car1=-1"): "--rate: car1's rate must be a positive number",
             ("--rate", "2"): "--rate is the sources' frame rates: it needs --mode throughput --sources"}
    for args, message in cases.items():
        bad = _plan(*args)
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output
        assert len([line for line in bad.output.splitlines() if line.startswith("Error:")]) == 1
