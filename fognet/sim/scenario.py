"""Scenario files: who is in the simulated city, what they run, and how they are linked.

A scenario is a TOML file (see `experiments/scenarios/`):

    name = "city"            # shown in tables and file names
    seed = 1                 # every random draw of the run follows from it
    rounds = 20              # rounds of re-planning and re-matching
    round_s = 1.0            # seconds per round
    queue = "sjf"            # worker queues: "sjf" (shortest work first, DESIGN.md) or "fifo"
    arrival = "fixed"        # frames at a fixed rate (random phase per source) or "poisson"
    rule = "welfare"         # the game's rule, "welfare" or "fair"
    approaches = ["fognet", "local", "greedy"]   # what `--baselines all` runs (default: every one)
    optimum_max_subtasks = 12  # the exact optimum runs only on rounds this small
    baseline_quotas = true   # workers admit `quota` subtasks a round from every approach
                             # (false: only the game's approaches respect quotas)

    [network]                # the link between any two peers unless a group overrides it
    bandwidth = 6.25e6       # bytes/s
    latency = 0.003          # seconds

    [planner]                # PlannerConfig fields (spatial, max_spatial_peers, ...)
    max_spatial_peers = 4

    [models.pilotnet]        # optional: a model key's zoo name / path and cost profile
    spec = "pilotnet"
    profile = "profiles/pilotnet.json"   # measured per-node times; default: FLOPs estimate

    [[sources]]              # a group of peers with frames
    profile = "car"          # peers/profiles/car.toml; any field below overrides it
    count = 20
    model = "pilotnet"
    fps = 10
    deadline_s = 0.1

    [[workers]]              # a group of peers that accept work
    profile = "fog-nano"
    count = 4
    speed = 2.0              # reference-seconds per second
    quota = 3                # subtasks accepted per round
    nic = 1.25e7             # interface bandwidth shared by its transfers (bytes/s)
    bandwidth = 1.25e7       # this group's links to everyone (else [network])

A sweep is a scenario plus `[sweep] param = "network.bandwidth", values = [...]`; the
param is a dotted path into the file (`workers.0.count` is the first worker group's
count), and each value gives one scenario.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fognet.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = {"name", "description", "seed", "rounds", "round_s", "queue", "arrival", "rule",
            "network", "planner", "models", "sources", "workers", "sweep", "optimum_max_subtasks",
            "approaches", "baseline_quotas"}
GROUP_KEYS = {"profile", "name", "count", "speed", "quota", "nic", "backlog", "bandwidth",
              "latency", "model", "fps", "deadline_s", "description", "role", "memory", "threads"}
PLANNER_KEYS = {"spatial", "max_spatial_peers", "max_anchors", "exact_groups_up_to"}


@dataclass(frozen=True)
class Group:
    """`count` identical peers named `<name>-<i>`."""

    name: str
    count: int
    speed: float
    quota: int
    nic: float | None = None
    backlog: float = 0.0
    bandwidth: float | None = None
    latency: float | None = None
    model: str | None = None  # sources only
    fps: float = 0.0
    deadline_s: float | None = None
    worker: bool = False  # sources are not workers (the game gives each site one id)

    def ids(self) -> list[str]:
        width = len(str(self.count - 1))
        return [f"{self.name}-{i:0{width}d}" for i in range(self.count)]


@dataclass(frozen=True)
class ModelSpec:
    key: str
    spec: str  # zoo name or .onnx path
    profile: Path | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    rounds: int
    round_s: float
    bandwidth: float
    latency: float
    sources: tuple[Group, ...]
    workers: tuple[Group, ...]
    models: dict[str, ModelSpec]
    queue: str = "sjf"
    arrival: str = "fixed"
    rule: str = "welfare"
    planner: dict[str, Any] = field(default_factory=dict)
    optimum_max_subtasks: int = 8
    approaches: tuple[str, ...] | None = None  # what `--baselines all` means here (None: every one)
    baseline_quotas: bool = True  # workers hold plan-only approaches to their quotas too
    description: str = ""

    @property
    def horizon_s(self) -> float:
        return self.rounds * self.round_s


@dataclass(frozen=True)
class Sweep:
    """One scenario per value of `param`."""

    name: str
    param: str
    values: tuple[Any, ...]
    points: tuple[Scenario, ...]


def load(path: str | Path, profiles_dir: Path | None = None) -> Scenario | Sweep:
    """Read a scenario or sweep file; every problem is a one-line ConfigError."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    profiles_dir = profiles_dir or find_profiles_dir(path)
    sweep = raw.pop("sweep", None)
    if sweep is None:
        return parse(raw, path, profiles_dir)
    param, values = _sweep_fields(sweep, path)
    points = []
    for value in values:
        point = copy.deepcopy(raw)
        _set_dotted(point, param, value, path)
        points.append(parse(point, path, profiles_dir))
    return Sweep(str(raw.get("name", path.stem)), param, tuple(values), tuple(points))


def find_profiles_dir(start: Path) -> Path | None:
    """`peers/profiles` in the scenario's directory or the nearest parent that has one."""
    for folder in [start.resolve().parent, *start.resolve().parents]:
        candidate = folder / "peers" / "profiles"
        if candidate.is_dir():
            return candidate
    return None


def parse(raw: Mapping[str, Any], path: Path, profiles_dir: Path | None) -> Scenario:
    where = str(path)
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
    network = _table(raw, "network", where)
    planner = _table(raw, "planner", where)
    bad = sorted(set(planner) - PLANNER_KEYS)
    if bad:
        raise ConfigError(f"{where}: unknown [planner] key {bad[0]!r}")
    models_raw = _table(raw, "models", where)
    sources = tuple(_group(g, "source", i, where, profiles_dir) for i, g in enumerate(_groups(raw, "sources", where)))
    workers = tuple(_group(g, "worker", i, where, profiles_dir) for i, g in enumerate(_groups(raw, "workers", where, required=False)))
    if not sources:
        raise ConfigError(f"{where}: needs at least one [[sources]] group")
    models = {}
    for source in sources:
        entry = models_raw.get(source.model, {})
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: [models.{source.model}] must be a table")
        profile = entry.get("profile")
        models[source.model] = ModelSpec(
            source.model,
            str(entry.get("spec", source.model)),
            None if profile is None else (path.parent / str(profile)),
        )
    names = [g.name for g in (*sources, *workers)]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"{where}: two groups are named {duplicate!r}; give one a `name`")
    scenario = Scenario(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        seed=_int(raw, "seed", where, 0, minimum=0),
        rounds=_int(raw, "rounds", where, 10, minimum=1),
        round_s=_float(raw, "round_s", where, 1.0),
        bandwidth=_float(network, "bandwidth", f"{where} [network]", None),
        latency=_float(network, "latency", f"{where} [network]", 0.0, positive=False),
        sources=sources,
        workers=workers,
        models=models,
        queue=_choice(raw, "queue", where, "sjf", ("sjf", "fifo")),
        arrival=_choice(raw, "arrival", where, "fixed", ("fixed", "poisson")),
        rule=_choice(raw, "rule", where, "welfare", ("welfare", "fair")),
        planner=dict(planner),
        optimum_max_subtasks=_int(raw, "optimum_max_subtasks", where, 8, minimum=0),
        approaches=_approaches(raw, where),
        baseline_quotas=_bool(raw, "baseline_quotas", where, True),
    )
    return scenario


# -- groups and profiles -------------------------------------------------------------
def _groups(raw: Mapping[str, Any], key: str, where: str, required: bool = True) -> list[Mapping[str, Any]]:
    groups = raw.get(key, [])
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise ConfigError(f"{where}: `{key}` must be an array of tables ([[{key}]])")
    if required and not groups:
        raise ConfigError(f"{where}: needs at least one [[{key}]] group")
    return groups


def _group(raw: Mapping[str, Any], role: str, index: int, where: str, profiles_dir: Path | None) -> Group:
    here = f"{where} [[{role}s]] #{index + 1}"
    unknown = sorted(set(raw) - GROUP_KEYS)
    if unknown:
        raise ConfigError(f"{here}: unknown key {unknown[0]!r} (known: {', '.join(sorted(GROUP_KEYS))})")
    fields: dict[str, Any] = {}
    profile_name = raw.get("profile")
    if profile_name is not None:
        fields.update(device_profile(str(profile_name), profiles_dir, here))
    fields.update(raw)
    fields.pop("role", None)  # the group's table ([[sources]] / [[workers]]) decides the role
    name = str(fields.get("name") or profile_name or f"{role}{index + 1}")
    group = Group(
        name=name,
        count=_int(fields, "count", here, 1, minimum=0),
        speed=_float(fields, "speed", here, None),
        quota=_int(fields, "quota", here, 0 if role == "source" else 1, minimum=0),
        nic=_optional_float(fields, "nic", here),
        backlog=_float(fields, "backlog", here, 0.0, positive=False),
        bandwidth=_optional_float(fields, "bandwidth", here),
        latency=_optional_float(fields, "latency", here, positive=False),
        model=None if role == "worker" else str(fields.get("model") or ""),
        fps=_float(fields, "fps", here, 0.0 if role == "worker" else None),
        deadline_s=_optional_float(fields, "deadline_s", here),
        worker=role == "worker",
    )
    if role == "source" and not group.model:
        raise ConfigError(f"{here}: a source group needs `model` (a zoo name or an .onnx path)")
    return group


def device_profile(name: str, profiles_dir: Path | None, where: str) -> dict[str, Any]:
    """speed, quota and nic of a device profile, found as the peers' cluster files find it
    (`fognet.peer.config`: next to the scenario's repo first, then FOGNET_PEERS, then fognet's)."""
    from fognet.peer.config import load_profile, profile_dirs

    search = ([profiles_dir] if profiles_dir else []) + profile_dirs()
    try:
        profile = load_profile(name, search=search)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    fields: dict[str, Any] = {"speed": profile.speed, "quota": profile.quota}
    if profile.nic is not None:
        fields["nic"] = profile.nic
    return fields


# -- field readers -------------------------------------------------------------------
def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _float(raw: Mapping[str, Any], key: str, where: str, default: float | None, positive: bool = True) -> float:
    if key not in raw:
        if default is None:
            raise ConfigError(f"{where}: `{key}` is required")
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: `{key}` must be a number, not {value!r}")
    if (positive and not value > 0) or value < 0:
        raise ConfigError(f"{where}: `{key}` must be {'positive' if positive else 'non-negative'}, not {value!r}")
    return float(value)


def _optional_float(raw: Mapping[str, Any], key: str, where: str, positive: bool = True) -> float | None:
    return _float(raw, key, where, 0.0, positive) if key in raw else None


def _int(raw: Mapping[str, Any], key: str, where: str, default: int, minimum: int = 0) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: `{key}` must be an integer >= {minimum}, not {value!r}")
    return value


def _bool(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: `{key}` must be true or false, not {value!r}")
    return value


def _choice(raw: Mapping[str, Any], key: str, where: str, default: str, choices: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}: `{key}` must be one of {', '.join(choices)}, not {value!r}")
    return value


def _approaches(raw: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
    from fognet.sim.approaches import APPROACHES

    value = raw.get("approaches")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `approaches` must be a list of names")
    unknown = [v for v in value if v not in APPROACHES]
    if unknown:
        raise ConfigError(f"{where}: unknown approach {unknown[0]!r}; known: {', '.join(APPROACHES)}")
    return tuple(value)


def _sweep_fields(sweep: Any, path: Path) -> tuple[str, list[Any]]:
    if not isinstance(sweep, Mapping) or "param" not in sweep or "values" not in sweep:
        raise ConfigError(f"{path}: [sweep] needs `param` (a dotted key) and `values` (a list)")
    values = sweep["values"]
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{path}: [sweep] `values` must be a non-empty list")
    return str(sweep["param"]), values


def _set_dotted(raw: dict[str, Any], param: str, value: Any, path: Path) -> None:
    parts = param.split(".")
    node: Any = raw
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ConfigError(f"{path}: sweep param {param!r}: no {part!r} in the scenario") from None
    if not isinstance(node, dict):
        raise ConfigError(f"{path}: sweep param {param!r} does not name a key of a table")
    node[parts[-1]] = value
