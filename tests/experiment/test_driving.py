"""The driving experiment on a tiny config: parallel equals serial, every figure is drawn
and the report links them, results round-trip through the files."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from fognet.errors import ConfigError
from fognet.experiment import driving
from fognet.experiment.config import load_config
from fognet.experiment.outputs import load_results, write
from fognet.experiment.parallel import process_executor, run_points
from fognet.experiment.plots import figure_names
from fognet.experiment.points import run_sim_point, stable
from fognet.experiment.region import PREFIX
from fognet.experiment.report import build_report


def _canonical(results) -> list[str]:
    return [json.dumps(asdict(stable(r)), sort_keys=True, default=str) for r in results]


def test_jobs_two_equals_jobs_one(tiny_config):
    points = driving.sim_points(load_config(tiny_config))
    assert len(points) == 2 + 2 * 2 + 4  # the scenario at 2 seeds, 2 sweep values at 2 seeds, 4 map cells
    serial = run_points(run_sim_point, points)
    executor = process_executor(2)
    try:
        finished = []
        parallel = run_points(run_sim_point, points, executor, finished.append)
    finally:
        executor.shutdown()
    assert sorted(finished) == list(range(len(points)))
    assert _canonical(parallel) == _canonical(serial)
    assert all(r.summaries["fognet"]["frames"] > 0 for r in serial)
    assert serial[0].records and not serial[2].records  # frames kept for the driving points only


def test_seeds_change_the_run(tiny_config):
    points = driving.sim_points(load_config(tiny_config))
    first, second = run_points(run_sim_point, points[:2])
    assert (first.seed, second.seed) == (1, 2)
    starts = [[r.start_s for r in res.records if r.approach == "local"] for res in (first, second)]
    assert starts[0] != starts[1]  # a seed draws each car's phase


def test_report_builder_draws_every_figure_and_links_them(tiny_config, tmp_path):
    cfg = load_config(tiny_config)
    points = driving.sim_points(cfg)
    ticks = []
    results = driving.run(cfg, points, tick=ticks.append)
    assert len(ticks) == driving.steps(cfg, points, live=False)
    out = tmp_path / "out"
    write(results, out)
    report = build_report(out, tmp_path / "docs" / "report.md")
    names = figure_names(load_results(out))
    assert {"latency_cdf.png", "speedup.png", "timeline.png", "sweep_tiny-sweep.png", "partnner.png",
            "region_pilotnet.png"} == set(names)
    text = report.read_text()
    for name in names:
        figure = out / "figures" / name
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"](../out/figures/{name})" in text, name
    assert f"{results['machine']['cores']} cores" in text
    assert "**Seeds**: 1, 2" in text
    assert "DINA" in text and "PArtNNer" in text and "Feltin" in text
    # the replay's rule and the second segment's row, figures from the run's results
    assert "a DP at most every 5 s" in text and "forgotten" in text
    second = results["partnner"]["variants"]["as-is"]["convergence"][0]
    assert f"| 2: 1e+05 B/s, load 0 | {second['fognet_s'] * 1e3:.0f} |" in text
    assert all(c["simulated_speedup"] > 0 for c in results["region"])
    for name in ("points.csv", "frames.csv", "partnner.csv", "region.csv"):
        assert len((out / name).read_text().splitlines()) > 1, name


def test_dataset_rate_sets_every_car(tiny_config):
    cfg = load_config(tiny_config)
    points = driving.sim_points(cfg, fps=7.5)
    cars = [p for p in points if not p.experiment.startswith(PREFIX)]  # the map keeps its own rate
    assert len(cars) == 6 and {g.fps for p in cars for g in p.scenario.sources} == {7.5}


@pytest.mark.parametrize("text, error", [
    ("name = 'x'\n", r"needs a \[scenario\] table"),
    ("bogus = 1\n[scenario]\n", "unknown field 'bogus'"),
])
def test_bad_config_is_one_config_error(tmp_path, text, error):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(path)
