"""The driving experiment's file (`experiments/driving.toml`), read into frozen values.

    name = "driving"
    seeds = [1, 2, 3]                  # every point runs once per seed
    approaches = "all"                 # or a list; fognet always runs first
    sweeps = ["scenarios/sweep-devices.toml", ...]   # sweep files, relative to this file
    [scenario]                         # a scenario as in experiments/scenarios/*.toml
    [partnner]                         # one car + a far cloud, bandwidth and load over time
    [region]                           # Feltin et al.'s acceleration map
    [live]                             # the short run on the emulated cluster

Every problem is one ConfigError naming the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fognet.config import toml
from fognet.config.toml import Where
from fognet.errors import ConfigError
from fognet.sim.scenario import Scenario, find_profiles_dir, parse

TOP_KEYS = {"name", "description", "seeds", "approaches", "sweeps", "scenario", "partnner", "region", "live"}


@dataclass(frozen=True)
class Segment:
    """`seconds` of one car's stream with this car-cloud `bandwidth` (bytes/s) and this much
    other work queued at the cloud (`load`, reference-seconds)."""

    seconds: float
    bandwidth: float
    load: float


@dataclass(frozen=True)
class PartnnerConfig:
    model: str = "resnet34"
    fps: float = 5.0
    car_speed: float = 0.25
    cloud_speed: float = 8.0
    latency: float = 0.03
    threshold: float = 0.2  # re-plan when a figure moves by more than this fraction
    probe_s: float = 0.0  # measure the link this often even when nothing is offloaded (0: never,
    #                       as fognet's calibration does today)
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class RegionConfig:
    models: tuple[str, ...] = ("resnet34",)
    bandwidths: tuple[float, ...] = (1e5, 1e6, 1e7, 1e8, 1e9)
    ratios: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    latency: float = 0.002
    simulate: bool = True  # also run every cell in the simulator (fognet vs best-node)
    fps: float = 1.0  # the simulated cells' frame rate
    rounds: int = 4


@dataclass(frozen=True)
class LiveConfig:
    models: tuple[str, ...] = ("pilotnet",)
    frames: int = 10
    cluster: Path | None = None


@dataclass(frozen=True)
class DrivingConfig:
    path: Path
    name: str
    scenario: Scenario
    seeds: tuple[int, ...]
    approaches: str | tuple[str, ...] = "all"
    sweeps: tuple[Path, ...] = ()
    partnner: PartnnerConfig = field(default_factory=PartnnerConfig)
    region: RegionConfig = field(default_factory=RegionConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    description: str = ""


def load_config(path: str | Path) -> DrivingConfig:
    path = Path(path)
    try:
        raw = toml.read(path)
    except ConfigError as exc:  # say which file it was meant to be
        raise ConfigError(f"cannot read experiment config {exc}") from exc
    where = Where(str(path))
    toml.check_keys(raw, TOP_KEYS, where)
    if not isinstance(raw.get("scenario"), Mapping):
        raise ConfigError(f"{where}: needs a [scenario] table (a scenario as in experiments/scenarios/)")
    scenario = parse(raw["scenario"], path, find_profiles_dir(path))
    seeds = toml.array(raw, "seeds", where, int, [scenario.seed])
    if not seeds or any(s < 0 for s in seeds):
        raise where.key("seeds").error("must be a non-empty list of integers >= 0")
    approaches = raw.get("approaches", "all")
    if approaches != "all":
        approaches = tuple(toml.array(raw, "approaches", where, str))
    return DrivingConfig(
        path=path,
        name=toml.string(raw, "name", where, path.stem),
        description=str(raw.get("description", "")),
        scenario=scenario,
        seeds=tuple(seeds),
        approaches=approaches,
        sweeps=tuple(path.parent / s for s in toml.array(raw, "sweeps", where, str, [])),
        partnner=_partnner(toml.table(raw, "partnner", where), where.key("partnner")),
        region=_region(toml.table(raw, "region", where), where.key("region")),
        live=_live(toml.table(raw, "live", where), where.key("live"), path.parent),
    )


def _partnner(raw: Mapping[str, Any], where: Where) -> PartnnerConfig:
    toml.check_keys(raw, {"model", "fps", "car_speed", "cloud_speed", "latency", "threshold", "probe_s", "segments"},
                    where)
    segments = toml.tables(raw, "segments", where)
    if not segments:
        raise where.key("segments").error("must be a non-empty array of tables ([[partnner.segments]])")
    parsed = []
    for i, s in enumerate(segments):
        here = where.key("segments").item(i)
        toml.check_keys(s, {"seconds", "bandwidth", "load"}, here)
        parsed.append(Segment(toml.number(s, "seconds", here), toml.number(s, "bandwidth", here),
                              toml.number(s, "load", here, 0.0, positive=False)))
    d = PartnnerConfig()
    return PartnnerConfig(
        model=toml.string(raw, "model", where, d.model),
        fps=toml.number(raw, "fps", where, d.fps),
        car_speed=toml.number(raw, "car_speed", where, d.car_speed),
        cloud_speed=toml.number(raw, "cloud_speed", where, d.cloud_speed),
        latency=toml.number(raw, "latency", where, d.latency, positive=False),
        threshold=toml.number(raw, "threshold", where, d.threshold, positive=False),
        probe_s=toml.number(raw, "probe_s", where, d.probe_s, positive=False),
        segments=tuple(parsed),
    )


def _region(raw: Mapping[str, Any], where: Where) -> RegionConfig:
    toml.check_keys(raw, {"models", "bandwidths", "ratios", "latency", "simulate", "fps", "rounds"}, where)
    d = RegionConfig()
    bandwidths = toml.array(raw, "bandwidths", where, float, list(d.bandwidths))
    ratios = toml.array(raw, "ratios", where, float, list(d.ratios))
    if any(v <= 0 for v in (*bandwidths, *ratios)):
        raise where.error("`bandwidths` and `ratios` must be positive")
    return RegionConfig(
        models=tuple(toml.array(raw, "models", where, str, list(d.models))),
        bandwidths=tuple(bandwidths), ratios=tuple(ratios),
        latency=toml.number(raw, "latency", where, d.latency, positive=False),
        simulate=toml.flag(raw, "simulate", where, d.simulate),
        fps=toml.number(raw, "fps", where, d.fps),
        rounds=toml.integer(raw, "rounds", where, d.rounds, minimum=1),
    )


def _live(raw: Mapping[str, Any], where: Where, base: Path) -> LiveConfig:
    toml.check_keys(raw, {"models", "frames", "cluster"}, where)
    d = LiveConfig()
    cluster = raw.get("cluster")
    return LiveConfig(
        models=tuple(toml.array(raw, "models", where, str, list(d.models))),
        frames=toml.integer(raw, "frames", where, d.frames, minimum=1),
        cluster=None if cluster is None else Path(os.path.normpath(base / toml.string(raw, "cluster", where))),
    )
