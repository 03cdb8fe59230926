"""`fognet plan --mode throughput --sources`: several cars' chains on shared peers, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fognet.cli import main
from fognet.cli.plan import node_times
from fognet.config.cluster import load_cluster
from fognet.matching.period_check import check
from fognet.model.load import load_model
from fognet.partition.encoding import Encoding
from fognet.placement.chains import shared_chains
from fognet.placement.state import cluster_state

LOCAL_CARS = str(Path(__file__).resolve().parents[2] / "peers" / "local-cars.toml")


def _cluster(tmp_path: Path) -> str:
    # two cars, three laptops lending 13 MB each: squeezenet (11.3 MB whole) fits one, two
    # copies do not, so memory decides where the cars' stages can share a laptop
    peers = "".join(f'[[peers]]\nname = "car{k}"\nprofile = "car"\nmemory = 4.0e6\n' for k in (1, 2))
    peers += "".join(f'[[peers]]\nname = "w{k}"\nprofile = "laptop"\nrole = "worker"\nspeed = {s}\nmemory = 1.3e7\n'
                     for k, s in ((1, 2.0), (2, 1.0), (3, 0.5)))
    path = tmp_path / "cars.toml"
    path.write_text(f'name = "cars"\n[default_link]\nbandwidth = 2.0e7\nlatency = 0.001\n{peers}')
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
    # rebuild the same instance and check the printed placement independently
    cluster = load_cluster(file)
    graph, times, _ = node_times(load_model("squeezenet"), None, True)
    inst, _, _ = shared_chains(graph, times, cluster_state(cluster), ["car1", "car2"],
                                 {p.name for p in cluster.workers}, Encoding())
    where = tuple(tuple(inst.peers.index(stages[inst.stage_name(j, k)]) for k in range(job.n_stages))
                  for j, job in enumerate(inst.jobs))
    assert check(inst, where).stable


def test_the_table_names_the_joint_period_and_the_plans_apart() -> None:
    result = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate",
                                       "--mode", "throughput", "--sources", "car1,car3"])
    assert result.exit_code == 0, result.output
    assert "car3/0" in result.output and "car2/0" not in result.output
    assert "joint period U = " in result.output and "planned apart" in result.output


def test_bad_sources_are_one_error_line_and_exit_2() -> None:
    bad = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate",
                                    "--mode", "throughput", "--sources", "car1,fog-nano"])
    assert bad.exit_code == 2
    assert "Error: --sources: fog-nano is no source of local-cars (its sources: car1, car2, car3)" in bad.output
    latency = CliRunner().invoke(main, ["plan", "squeezenet", "--cluster", LOCAL_CARS, "--estimate",
                                        "--sources", "all"])
    assert latency.exit_code == 2 and "it needs --mode throughput" in latency.output
