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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fognet.config import toml
from fognet.config.profiles import load_profile, profile_dirs
from fognet.config.toml import REQUIRED, Where
from fognet.errors import ConfigError

# Every placement approach the simulator runs, by the name a scenario or `--baselines` gives
# (`fognet.sim.approaches` implements them; the names live here, below it, so reading a
# scenario needs no approach code).
APPROACHES = ("fognet", "local", "best-node", "neurosurgeon", "modnn", "random", "greedy", "optimum")

TOP_KEYS = {"name", "description", "seed", "rounds", "round_s", "queue", "arrival", "rule",
            "network", "planner", "models", "sources", "workers", "sweep", "optimum_max_subtasks",
            "approaches", "baseline_quotas"}
GROUP_KEYS = {"profile", "name", "count", "speed", "quota", "nic", "backlog", "bandwidth",
              "latency", "model", "fps", "deadline_s", "description", "role", "memory", "threads"}
PLANNER_KEYS = {"spatial", "max_spatial_peers", "max_anchors", "exact_groups_up_to"}
MODEL_KEYS = ("spec", "profile")


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
    raw = toml.read(path)
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
    top = Where(str(path))
    toml.check_keys(raw, TOP_KEYS, top)
    network = toml.table(raw, "network", top)
    planner = toml.table(raw, "planner", top)
    toml.check_keys(planner, PLANNER_KEYS, top.key("planner"))
    sources = tuple(_group(g, "sources", i, top, profiles_dir) for i, g in enumerate(_groups(raw, "sources", top)))
    workers = tuple(_group(g, "workers", i, top, profiles_dir)
                    for i, g in enumerate(_groups(raw, "workers", top, required=False)))
    names = [g.name for g in (*sources, *workers)]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise top.error(f"two groups are named {duplicate!r}; give one a `name`")
    return Scenario(
        name=toml.string(raw, "name", top, path.stem),
        description=toml.string(raw, "description", top, ""),
        seed=toml.integer(raw, "seed", top, 0),
        rounds=toml.integer(raw, "rounds", top, 10, minimum=1),
        round_s=toml.number(raw, "round_s", top, 1.0),
        bandwidth=toml.number(network, "bandwidth", top.key("network")),
        latency=toml.number(network, "latency", top.key("network"), 0.0, positive=False),
        sources=sources,
        workers=workers,
        models=_models(raw, sources, path, top),
        queue=toml.choice(raw, "queue", top, ("sjf", "fifo"), "sjf"),
        arrival=toml.choice(raw, "arrival", top, ("fixed", "poisson"), "fixed"),
        rule=toml.choice(raw, "rule", top, ("welfare", "fair"), "welfare"),
        planner=dict(planner),
        optimum_max_subtasks=toml.integer(raw, "optimum_max_subtasks", top, 8),
        approaches=_approaches(raw, top),
        baseline_quotas=toml.flag(raw, "baseline_quotas", top, True),
    )


def _models(raw: Mapping[str, Any], sources: tuple[Group, ...], path: Path, top: Where) -> dict[str, ModelSpec]:
    """Each source model's zoo name or path and cost profile (`[models.KEY]`, optional)."""
    models_raw = toml.table(raw, "models", top)
    models = {}
    for source in sources:
        where = top.key("models")
        entry = toml.table(models_raw, source.model, where)
        where = where.key(source.model)
        toml.check_keys(entry, MODEL_KEYS, where)
        profile = toml.string(entry, "profile", where, None)
        models[source.model] = ModelSpec(
            source.model,
            toml.string(entry, "spec", where, source.model),
            None if profile is None else path.parent / profile,
        )
    return models


# -- groups and profiles -------------------------------------------------------------
def _groups(raw: Mapping[str, Any], key: str, top: Where, required: bool = True) -> list[Mapping[str, Any]]:
    groups = toml.tables(raw, key, top)
    if required and not groups:
        raise top.error(f"needs at least one [[{key}]] group")
    return groups


def _group(raw: Mapping[str, Any], key: str, index: int, top: Where, profiles_dir: Path | None) -> Group:
    """A [[sources]] or [[workers]] group: its profile's fields, overridden by the group's."""
    here = top.key(key).item(index)
    toml.check_keys(raw, GROUP_KEYS, here)
    fields: dict[str, Any] = {}
    profile_name = toml.string(raw, "profile", here, None)
    if profile_name is not None:
        fields.update(device_profile(profile_name, profiles_dir, here))
    fields.update(raw)
    fields.pop("role", None)  # the group's table ([[sources]] / [[workers]]) decides the role
    source = key == "sources"
    name = toml.string(fields, "name", here, profile_name or f"{key[:-1]}{index + 1}")
    group = Group(
        name=name,
        count=toml.integer(fields, "count", here, 1),
        speed=toml.number(fields, "speed", here),
        quota=toml.integer(fields, "quota", here, 0 if source else 1),
        nic=toml.optional_number(fields, "nic", here),
        backlog=toml.number(fields, "backlog", here, 0.0, positive=False),
        bandwidth=toml.optional_number(fields, "bandwidth", here),
        latency=toml.optional_number(fields, "latency", here, positive=False),
        model=toml.string(fields, "model", here) if source else None,
        fps=toml.number(fields, "fps", here, REQUIRED if source else 0.0),
        deadline_s=toml.optional_number(fields, "deadline_s", here),
        worker=not source,
    )
    return group


def device_profile(name: str, profiles_dir: Path | None, where: Where) -> dict[str, Any]:
    """speed, quota and nic of a device profile, found as the peers' cluster files find it
    (`fognet.config.profiles`: next to the scenario's repo first, then FOGNET_PEERS, then fognet's)."""
    search = ([profiles_dir] if profiles_dir else []) + profile_dirs()
    try:
        profile = load_profile(name, search=search)
    except ConfigError as exc:
        raise where.key("profile").error(str(exc)) from exc
    fields: dict[str, Any] = {"speed": profile.speed, "quota": profile.quota}
    if profile.nic is not None:
        fields["nic"] = profile.nic
    return fields


def _approaches(raw: Mapping[str, Any], top: Where) -> tuple[str, ...] | None:
    value = raw.get("approaches")
    if value is None:
        return None
    where = top.key("approaches")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(f"must be a list of names, not {value!r}")
    unknown = [v for v in value if v not in APPROACHES]
    if unknown:
        raise where.error(f"unknown approach {unknown[0]!r} (known: {', '.join(APPROACHES)})")
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
