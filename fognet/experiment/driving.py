"""`fognet experiment driving`: cars streaming through DINA's model set, every approach.

The run has four parts, each written to the output directory and summarised in
`results.json` (which the plots and the report read):

- the simulator: the config's scenario (cars running AlexNet, VGG16, ResNet34, NiN,
  PilotNet, YOLOv3-tiny) and each sweep file's points, once per seed, every approach;
  points run in parallel on the executor given (`parallel.run_points`);
- PArtNNer's setting (`partnner.replay`), as fognet calibrates today and with link probes;
- Feltin et al.'s acceleration region (`region.acceleration_map`) per model;
- optionally, a short live run per model on the emulated cluster (`live.run_live`).

A dataset, when given, sets every car's frame rate (its timestamps' mean rate) and
supplies the live run's frames.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from fognet.experiment import machine
from fognet.experiment.config import DrivingConfig
from fognet.experiment.parallel import run_points
from fognet.experiment.points import PointResult, SimPoint, run_sim_point
from fognet.sim.scenario import Scenario, Sweep, load

Tick = Callable[[str], None]  # called once per finished step, with what finished


@dataclass(frozen=True)
class Dataset:
    path: str
    layout: str
    frames: int
    fps: float
    timed: bool


def open_dataset(path: Path) -> Dataset:
    """The dataset's layout and rate (`fognet data`'s readers); a bad path is a DatasetError."""
    from fognet.data.layouts import open_source

    source = open_source(path)
    return Dataset(str(path), source.layout, len(source), float(source.fps), bool(source.timed))


def with_fps(scenario: Scenario, fps: float | None) -> Scenario:
    if fps is None:
        return scenario
    return replace(scenario, sources=tuple(replace(g, fps=fps) for g in scenario.sources))


def approaches_for(cfg: DrivingConfig, scenario: Scenario) -> tuple[str, ...]:
    from fognet.sim.experiment import parse_approaches

    text = cfg.approaches if isinstance(cfg.approaches, str) else ",".join(cfg.approaches)
    return tuple(parse_approaches(text, scenario))


def sim_points(cfg: DrivingConfig, fps: float | None = None) -> list[SimPoint]:
    """The driving scenario at every seed (frame records kept), then every sweep point at
    every seed."""
    base = with_fps(cfg.scenario, fps)
    points = [SimPoint("driving", base, approaches_for(cfg, base), seed, keep_records=True) for seed in cfg.seeds]
    for path in cfg.sweeps:
        sweep = load(path)
        if not isinstance(sweep, Sweep):
            from fognet.errors import ConfigError

            raise ConfigError(f"{path}: listed under `sweeps` but has no [sweep] table")
        for value, point in zip(sweep.values, sweep.points, strict=True):
            point = with_fps(point, fps)
            names = approaches_for(cfg, point)
            points += [SimPoint(sweep.name, point, names, seed, sweep.param, value) for seed in cfg.seeds]
    return points + region_points(cfg)


def region_points(cfg: DrivingConfig) -> list[SimPoint]:
    """Every acceleration-map cell as a simulator point (first seed only: one source at a
    fixed rate, so the seed only moves its phase)."""
    from fognet.experiment.region import PREFIX, cell_scenario

    r = cfg.region
    if not r.simulate:
        return []
    return [SimPoint(PREFIX + model, cell_scenario(model, b, ratio, r.latency, r.fps, r.rounds, cfg.path),
                     ("fognet", "best-node"), cfg.seeds[0], "cell", [b, ratio])
            for model in r.models for b in r.bandwidths for ratio in r.ratios]


def steps(cfg: DrivingConfig, points: list[SimPoint], live: bool) -> int:
    """How many times `run` calls its tick: a progress bar's total."""
    return len(points) + 2 + len(cfg.region.models) + (2 * len(cfg.live.models) if live else 0)


def run(cfg: DrivingConfig, points: list[SimPoint], executor: Executor | None = None,
        dataset: Dataset | None = None, live: bool = False, tick: Tick | None = None) -> dict[str, Any]:
    """Every part of the experiment; the results as one JSON-able dict (the driving points'
    (seed, frame record) pairs under the private key `_records`, which `outputs.write` turns
    into frames.csv)."""
    done = tick or (lambda label: None)
    names = [f"{p.experiment} {p.param}={p.value} seed {p.seed}" if p.param else f"{p.experiment} seed {p.seed}"
             for p in points]
    results = run_points(run_sim_point, points, executor, lambda i: done(names[i]))
    out: dict[str, Any] = {
        "name": cfg.name, "description": cfg.description, "config": str(cfg.path),
        "machine": machine.describe(), "seeds": list(cfg.seeds),
        "dataset": None if dataset is None else asdict(dataset),
        "scenario": _scenario_facts(points[0].scenario),
        "points": [_point_json(r) for r in results],
        "latencies": _latencies(results),
        "_records": [(r.seed, rec) for r in results for rec in r.records],
    }
    out["partnner"] = _partnner(cfg, done)
    out["region"] = _region(cfg, done, out["points"])
    out["live"] = _live(cfg, dataset, done) if live else None
    from fognet.experiment.headline import headline

    out["headline"] = headline(out)
    return out


def _scenario_facts(s: Scenario) -> dict[str, Any]:
    return {
        "name": s.name, "description": s.description, "rounds": s.rounds, "round_s": s.round_s,
        "cars": sum(g.count for g in s.sources), "fog_nodes": sum(g.count for g in s.workers),
        "models": sorted(s.models), "fps": sorted({g.fps for g in s.sources}),
        "bandwidth": s.bandwidth, "latency": s.latency, "arrival": s.arrival, "queue": s.queue,
    }


def _point_json(r: PointResult) -> dict[str, Any]:
    data = asdict(r)
    data.pop("records")
    return data


def _latencies(results: list[PointResult]) -> dict[str, list[float]]:
    """Every driving frame's latency per approach, all seeds pooled (the CDF's data), to the
    microsecond."""
    out: dict[str, list[float]] = {}
    for r in results:
        for rec in r.records:
            out.setdefault(rec.approach, []).append(round(rec.latency_s, 6))
    return out


def _costs(model: str):
    from fognet.sim.experiment import ModelCache
    from fognet.sim.scenario import ModelSpec

    global _CACHE
    if _CACHE is None:
        _CACHE = ModelCache()
    return _CACHE.get(ModelSpec(model, model))


_CACHE = None


def _partnner(cfg: DrivingConfig, done: Tick) -> dict[str, Any]:
    from fognet.experiment.partnner import gains, replay, rules

    p = cfg.partnner
    costs = _costs(p.model)
    variants = {}
    for name, probe in (("as-is", 0.0), ("probing", p.probe_s or 1.0)):
        steps_, conv = replay(costs, replace(p, probe_s=probe))
        variants[name] = {"probe_s": probe, "gains": gains(steps_), "convergence": [asdict(c) for c in conv],
                          "steps": [asdict(s) for s in steps_]}
        done(f"partnner {name}")
    return {"model": p.model, "fps": p.fps, "car_speed": p.car_speed, "cloud_speed": p.cloud_speed,
            "latency": p.latency, "segments": [asdict(s) for s in p.segments], "variants": variants,
            "rules": rules(p)}


def _region(cfg: DrivingConfig, done: Tick, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The predicted map, each cell with its simulated speed-up beside (None if not run)."""
    from fognet.experiment.region import PREFIX, acceleration_map

    r = cfg.region
    simulated = {(p["experiment"], *p["value"]): p["speedup"].get("best-node")
                 for p in points if p["experiment"].startswith(PREFIX)}
    cells = []
    for model in r.models:
        for c in acceleration_map(_costs(model), model, r.bandwidths, r.ratios, r.latency):
            cells.append({**asdict(c), "speedup": c.speedup,
                          "simulated_speedup": simulated.get((PREFIX + model, c.bandwidth, c.ratio))})
        done(f"region {model}")
    return cells


def _live(cfg: DrivingConfig, dataset: Dataset | None, done: Tick) -> list[dict[str, Any]]:
    from fognet.experiment.live import run_live

    cluster = cfg.live.cluster or _default_cluster()
    runs = []
    for model in cfg.live.models:
        for mode in ("local", "fognet"):
            result = run_live(model, mode, cfg.live.frames, cluster=cluster,
                              source=Path(dataset.path) if dataset else None)
            runs.append({"model": model, "mode": mode, "cluster": str(cluster), "emulation": result.emulation,
                         **result.stats(), "latencies_s": result.latencies().tolist(),
                         "frames_detail": [asdict(f) for f in result.frames]})
            done(f"live {model} {mode}")
    return runs


def _default_cluster() -> Path:
    from fognet.errors import ConfigError

    here = Path("peers") / "local-4.toml"
    if not here.exists():
        raise ConfigError("the live run needs [live] cluster in the config (no peers/local-4.toml here)")
    return here
