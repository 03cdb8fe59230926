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
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fognet.errors import ConfigError
from fognet.sim.scenario import Scenario, find_profiles_dir, parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read experiment config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    where = str(path)
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
    if not isinstance(raw.get("scenario"), Mapping):
        raise ConfigError(f"{where}: needs a [scenario] table (a scenario as in experiments/scenarios/)")
    scenario = parse(raw["scenario"], path, find_profiles_dir(path))
    seeds = _list(raw, "seeds", where, int, [scenario.seed])
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"{where}: `seeds` must be a non-empty list of integers >= 0")
    approaches = raw.get("approaches", "all")
    if approaches != "all":
        approaches = tuple(_list(raw, "approaches", where, str, []))
    return DrivingConfig(
        path=path,
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        scenario=scenario,
        seeds=tuple(seeds),
        approaches=approaches,
        sweeps=tuple(path.parent / s for s in _list(raw, "sweeps", where, str, [])),
        partnner=_partnner(_table(raw, "partnner", where), f"{where} [partnner]"),
        region=_region(_table(raw, "region", where), f"{where} [region]"),
        live=_live(_table(raw, "live", where), f"{where} [live]", path.parent),
    )


def _partnner(raw: Mapping[str, Any], where: str) -> PartnnerConfig:
    _known(raw, where, {"model", "fps", "car_speed", "cloud_speed", "latency", "threshold", "probe_s", "segments"})
    segments = raw.get("segments", [])
    if not segments or not isinstance(segments, list) or not all(isinstance(s, Mapping) for s in segments):
        raise ConfigError(f"{where}: `segments` must be a non-empty array of tables ([[partnner.segments]])")
    parsed = []
    for i, s in enumerate(segments):
        here = f"{where} segment #{i + 1}"
        _known(s, here, {"seconds", "bandwidth", "load"})
        parsed.append(Segment(_num(s, "seconds", here), _num(s, "bandwidth", here), _num(s, "load", here, 0.0, zero=True)))
    d = PartnnerConfig()
    return PartnnerConfig(
        model=str(raw.get("model", d.model)),
        fps=_num(raw, "fps", where, d.fps),
        car_speed=_num(raw, "car_speed", where, d.car_speed),
        cloud_speed=_num(raw, "cloud_speed", where, d.cloud_speed),
        latency=_num(raw, "latency", where, d.latency, zero=True),
        threshold=_num(raw, "threshold", where, d.threshold, zero=True),
        probe_s=_num(raw, "probe_s", where, d.probe_s, zero=True),
        segments=tuple(parsed),
    )


def _region(raw: Mapping[str, Any], where: str) -> RegionConfig:
    _known(raw, where, {"models", "bandwidths", "ratios", "latency", "simulate", "fps", "rounds"})
    d = RegionConfig()
    bandwidths = _list(raw, "bandwidths", where, float, list(d.bandwidths))
    ratios = _list(raw, "ratios", where, float, list(d.ratios))
    if any(v <= 0 for v in (*bandwidths, *ratios)):
        raise ConfigError(f"{where}: `bandwidths` and `ratios` must be positive")
    return RegionConfig(
        models=tuple(_list(raw, "models", where, str, list(d.models))),
        bandwidths=tuple(bandwidths), ratios=tuple(ratios),
        latency=_num(raw, "latency", where, d.latency, zero=True),
        simulate=_flag(raw, "simulate", where, d.simulate),
        fps=_num(raw, "fps", where, d.fps),
        rounds=int(_num(raw, "rounds", where, d.rounds)),
    )


def _flag(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: `{key}` must be true or false, not {value!r}")
    return value


def _live(raw: Mapping[str, Any], where: str, base: Path) -> LiveConfig:
    _known(raw, where, {"models", "frames", "cluster"})
    d = LiveConfig()
    frames = raw.get("frames", d.frames)
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ConfigError(f"{where}: `frames` must be an integer >= 1, not {frames!r}")
    cluster = raw.get("cluster")
    return LiveConfig(
        models=tuple(_list(raw, "models", where, str, list(d.models))),
        frames=frames,
        cluster=None if cluster is None else Path(os.path.normpath(base / str(cluster))),
    )


# -- field readers -------------------------------------------------------------------
def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _known(raw: Mapping[str, Any], where: str, keys: set[str]) -> None:
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")


def _list(raw: Mapping[str, Any], key: str, where: str, kind: type, default: list) -> list:
    value = raw.get(key, default)
    ok = isinstance(value, list) and all(
        isinstance(v, kind) or (kind is float and isinstance(v, int)) for v in value
    ) and not any(isinstance(v, bool) for v in value)
    if not ok:
        raise ConfigError(f"{where}: `{key}` must be a list of {kind.__name__}s, not {value!r}")
    return [kind(v) for v in value]


def _num(raw: Mapping[str, Any], key: str, where: str, default: float | None = None, zero: bool = False) -> float:
    if key not in raw:
        if default is None:
            raise ConfigError(f"{where}: `{key}` is required")
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (not zero and value == 0):
        raise ConfigError(f"{where}: `{key}` must be a {'non-negative' if zero else 'positive'} number, not {value!r}")
    return float(value)
