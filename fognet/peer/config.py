"""Device profiles and cluster files (TOML): what each peer is and how peers are linked.

A **profile** (`peers/profiles/<name>.toml`) describes a kind of device:

    speed = 0.4          # reference-seconds of work per second (1.0 = the profiling machine)
    quota = 2            # subtasks accepted per round (0 for a pure source)
    role = "worker"      # "source" (has frames), "worker" (accepts work) or "both"
    nic = 1.0e8          # optional: interface bandwidth shared by concurrent sends (bytes/s)
    memory = 4.0e9       # optional: bytes available for models and activations
    threads = 1          # optional (default 1): onnxruntime intra-op threads
    description = "..."  # optional

A **cluster** file lists peers, the links between them and whether to emulate them:

    name = "local-4"                 # optional, default: the file's stem
    [emulation]                      # optional; enabled = true stretches compute and paces
    enabled = true                   # sends to the numbers below (DESIGN.md, one machine)
    [default_link]                   # optional: any pair not listed under [[links]]
    bandwidth = 1.0e7                # bytes/s
    latency = 0.005                  # seconds
    [[peers]]
    name = "car1"
    profile = "car"                  # a profile name or a path to a .toml file
    speed = 0.3                      # optional: any profile field overrides the profile
    address = "127.0.0.1:5601"       # optional: where the peer listens
    [[links]]
    a = "car1"
    b = "fog1"
    bandwidth = 2.5e7
    latency = 0.002
    [profiles.my-board]              # optional: a profile defined inline, found first

Where a profile named by `profile = "NAME"` is looked for, first match wins (so an
installed fognet, which has no repo next to it, still works with a self-contained
cluster file or FOGNET_PEERS):
  1. `[profiles.NAME]` inline in the cluster file;
  2. `profiles/NAME.toml` next to the cluster file (the repo's `peers/` layout);
  3. for each directory D in `$FOGNET_PEERS` (os.pathsep-separated): `D/profiles/NAME.toml`,
     then `D/NAME.toml`;
  4. `peers/profiles/NAME.toml` in the source tree fognet was imported from;
  5. `peers/profiles/NAME.toml` under the current directory.
A value ending in `.toml` or containing a path separator is a path, relative to the
cluster file (or to the current directory for `load_profile`).

Every malformed value raises ConfigError naming the file and the field, e.g.
`peers/x.toml: peers[2].profile: unknown profile 'rpi5' (...)`.

API
    Profile(name, speed, quota, role, nic=None, memory=None, threads=1, description="")
    PeerSpec(name, profile, speed, quota, role, nic, memory, threads, address=None)
        .is_source, .is_worker
    LinkSpec(a, b, bandwidth, latency)      .transfer_time(nbytes) -> seconds
    Emulation(enabled=False, compute=True, network=True)
    Cluster(name, peers, links, default_link, emulation, path=None)
        .link(a, b) -> LinkSpec | None   symmetric; listed link, else default, else None;
                                           a == b gives infinite bandwidth, zero latency
        .peer(name) -> PeerSpec, .names, .sources, .workers
    load_profile(name_or_path, search=()) -> Profile
    load_cluster(path) -> Cluster
    profile_dirs(base=None) -> list[Path]  where profile names are looked for
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fognet.errors import ConfigError
from fognet.partition.cost import ClusterState, LinkState, PeerState

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROLES = ("source", "worker", "both")
PROFILE_KEYS = ("speed", "quota", "role", "nic", "memory", "threads", "description")
PEER_KEYS = ("name", "profile", "speed", "quota", "role", "nic", "memory", "threads", "address")
LINK_KEYS = ("a", "b", "bandwidth", "latency")
EMULATION_KEYS = ("enabled", "compute", "network")
CLUSTER_KEYS = ("name", "description", "emulation", "default_link", "peers", "links", "profiles")
REPO_PROFILES = Path(__file__).resolve().parents[2] / "peers" / "profiles"


@dataclass(frozen=True)
class Profile:
    """A kind of device: its compute rate, quota, role and optional limits."""

    name: str
    speed: float  # reference-seconds of work per second
    quota: int  # subtasks accepted per round
    role: str  # "source", "worker" or "both"
    nic: float | None = None  # bytes/s shared by concurrent sends; None: no sharing
    memory: float | None = None  # bytes
    threads: int = 1  # intra-op threads
    description: str = ""


@dataclass(frozen=True)
class PeerSpec:
    """One peer of a cluster: its profile with the cluster file's overrides applied."""

    name: str
    profile: Profile  # as loaded, before overrides
    speed: float
    quota: int
    role: str
    nic: float | None
    memory: float | None
    threads: int
    address: str | None = None  # "host:port" where it listens, if the file says

    @property
    def is_source(self) -> bool:
        return self.role in ("source", "both")

    @property
    def is_worker(self) -> bool:
        return self.role in ("worker", "both")


@dataclass(frozen=True)
class LinkSpec:
    """A symmetric link: a transfer of n bytes takes `latency + n / bandwidth` seconds."""

    a: str
    b: str
    bandwidth: float  # bytes/s
    latency: float  # seconds

    def transfer_time(self, nbytes: float) -> float:
        return self.latency + nbytes / self.bandwidth

    def joins(self, a: str, b: str) -> bool:
        return {self.a, self.b} == {a, b}


@dataclass(frozen=True)
class Emulation:
    """Whether peers on one machine pretend to be the devices and links of the file."""

    enabled: bool = False
    compute: bool = True  # stretch compute to measured / speed
    network: bool = True  # pace sends to link and interface bandwidth, add latency


@dataclass(frozen=True)
class Cluster:
    """Peers, links and emulation settings of one cluster file."""

    name: str
    peers: tuple[PeerSpec, ...]
    links: tuple[LinkSpec, ...]
    default_link: LinkSpec | None  # a = b = "*"
    emulation: Emulation = field(default_factory=Emulation)
    path: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.peers)

    @property
    def sources(self) -> tuple[PeerSpec, ...]:
        return tuple(p for p in self.peers if p.is_source)

    @property
    def workers(self) -> tuple[PeerSpec, ...]:
        return tuple(p for p in self.peers if p.is_worker)

    def peer(self, name: str) -> PeerSpec:
        for p in self.peers:
            if p.name == name:
                return p
        raise ConfigError(f"cluster {self.name!r} has no peer {name!r} (peers: {', '.join(self.names)})")

    def link(self, a: str, b: str) -> LinkSpec | None:
        """The link between a and b either way round; the default link; or None (no reach)."""
        self.peer(a), self.peer(b)
        if a == b:
            return LinkSpec(a, b, math.inf, 0.0)
        for link in self.links:
            if link.joins(a, b):
                return link
        if self.default_link is None:
            return None
        return LinkSpec(a, b, self.default_link.bandwidth, self.default_link.latency)


# -- reading TOML ------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _at(where: str, key: str) -> str:
    """`file: peers[2].speed` inside a table, `file: speed` at a file's top level."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _check_keys(raw: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"{where.rstrip(':')}: unknown field {unknown[0]!r} (known: {', '.join(allowed)})")


def _number(raw: Mapping[str, Any], key: str, where: str, *, positive: bool = True) -> float:
    if key not in raw:
        raise ConfigError(f"{_at(where, key)}: missing (required)")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{_at(where, key)}: must be a number, not {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{_at(where, key)}: must be positive, not {value!r}")
    if value < 0:
        raise ConfigError(f"{_at(where, key)}: must not be negative, not {value!r}")
    return float(value)


def _integer(raw: Mapping[str, Any], key: str, where: str, minimum: int) -> int:
    if key not in raw:
        raise ConfigError(f"{_at(where, key)}: missing (required)")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{_at(where, key)}: must be an integer >= {minimum}, not {value!r}")
    return value


def _string(raw: Mapping[str, Any], key: str, where: str) -> str:
    if key not in raw:
        raise ConfigError(f"{_at(where, key)}: missing (required)")
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{_at(where, key)}: must be a non-empty string, not {value!r}")
    return value


def _role(raw: Mapping[str, Any], where: str) -> str:
    role = _string(raw, "role", where)
    if role not in ROLES:
        raise ConfigError(f"{_at(where, 'role')}: must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _check_quota(role: str, quota: int, where: str) -> None:
    if role == "source" and quota != 0:
        raise ConfigError(f"{_at(where, 'quota')}: a source accepts no work; use role = \"both\" or quota = 0")
    if role != "source" and quota < 1:
        raise ConfigError(f"{_at(where, 'quota')}: a {role} must accept at least 1 subtask per round")


def _optional(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    return _number(raw, key, where) if key in raw else None


# -- profiles ----------------------------------------------------------------------------


def parse_profile(name: str, raw: Mapping[str, Any], where: str) -> Profile:
    """A Profile from a profile file's (or inline table's) fields; `where` prefixes errors."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where.rstrip(':')}: a profile must be a table")
    _check_keys(raw, PROFILE_KEYS, where)
    role = _role(raw, where)
    quota = _integer(raw, "quota", where, 0)
    _check_quota(role, quota, where)
    return Profile(
        name=name,
        speed=_number(raw, "speed", where),
        quota=quota,
        role=role,
        nic=_optional(raw, "nic", where),
        memory=_optional(raw, "memory", where),
        threads=_integer(raw, "threads", where, 1) if "threads" in raw else 1,
        description=str(raw.get("description", "")),
    )


def profile_dirs(base: Path | None = None) -> list[Path]:
    """Directories searched for `NAME.toml`, in order (see the module docstring)."""
    dirs = [] if base is None else [base / "profiles"]
    for entry in os.environ.get("FOGNET_PEERS", "").split(os.pathsep):
        if entry:
            dirs += [Path(entry) / "profiles", Path(entry)]
    dirs += [REPO_PROFILES, Path.cwd() / "peers" / "profiles"]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _is_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or os.sep in text


def load_profile(name_or_path: str | Path, search: Sequence[Path] | None = None) -> Profile:
    """A profile by name (looked up in `search`, default `profile_dirs()`) or by file path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or _is_path(text):
        path = Path(text)
        return parse_profile(path.stem, _read_toml(path), f"{path}:")
    dirs = profile_dirs() if search is None else list(search)
    for d in dirs:
        path = d / f"{text}.toml"
        if path.is_file():
            return parse_profile(text, _read_toml(path), f"{path}:")
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise ConfigError(
        f"unknown profile {text!r} (looked in {', '.join(str(d) for d in dirs)}; "
        f"known: {', '.join(known) or 'none'})"
    )


# -- clusters ----------------------------------------------------------------------------


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _array(raw: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{where}: `{key}` must be an array of tables ([[{key}]])")
    return value


def _peer_profile(raw: Mapping[str, Any], where: str, cluster_path: Path, inline) -> Profile:
    ref = _string(raw, "profile", where)
    if ref in inline:
        return parse_profile(ref, inline[ref], f"{cluster_path}: profiles.{ref}")
    if _is_path(ref):
        path = Path(ref) if Path(ref).is_absolute() else cluster_path.parent / ref
        if not path.is_file():
            raise ConfigError(f"{_at(where, 'profile')}: no profile file {str(path)!r}")
        return load_profile(path)
    try:
        return load_profile(ref, profile_dirs(cluster_path.parent))
    except ConfigError as exc:
        raise ConfigError(f"{_at(where, 'profile')}: {exc}") from None


def _peer(raw: Mapping[str, Any], where: str, cluster_path: Path, inline) -> PeerSpec:
    _check_keys(raw, PEER_KEYS, where)
    name = _string(raw, "name", where)
    profile = _peer_profile(raw, where, cluster_path, inline)
    merged: dict[str, Any] = {k: getattr(profile, k) for k in ("speed", "quota", "role", "threads")}
    merged.update({k: getattr(profile, k) for k in ("nic", "memory") if getattr(profile, k) is not None})
    merged.update({k: v for k, v in raw.items() if k not in ("name", "profile", "address")})
    role = _role(merged, where)
    quota = _integer(merged, "quota", where, 0)
    _check_quota(role, quota, where)
    address = raw.get("address")
    if address is not None and (not isinstance(address, str) or ":" not in address):
        raise ConfigError(f"{_at(where, 'address')}: must be \"host:port\", not {address!r}")
    return PeerSpec(
        name=name,
        profile=profile,
        speed=_number(merged, "speed", where),
        quota=quota,
        role=role,
        nic=_optional(merged, "nic", where),
        memory=_optional(merged, "memory", where),
        threads=_integer(merged, "threads", where, 1),
        address=address,
    )


def _link(raw: Mapping[str, Any], where: str, names: Sequence[str]) -> LinkSpec:
    _check_keys(raw, LINK_KEYS, where)
    a, b = _string(raw, "a", where), _string(raw, "b", where)
    for key, end in (("a", a), ("b", b)):
        if end not in names:
            raise ConfigError(f"{_at(where, key)}: unknown peer {end!r} (peers: {', '.join(names)})")
    if a == b:
        raise ConfigError(f"{where}: a link joins two different peers, not {a!r} to itself")
    return LinkSpec(a, b, _number(raw, "bandwidth", where), _number(raw, "latency", where, positive=False))


def _emulation(raw: Mapping[str, Any], where: str) -> Emulation:
    _check_keys(raw, EMULATION_KEYS, where)
    for key, value in raw.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{_at(where, key)}: must be true or false, not {value!r}")
    return Emulation(**raw)


def load_cluster(path: str | Path) -> Cluster:
    """Read and validate a cluster file; profiles resolve as the module docstring says."""
    path = Path(path)
    raw = _read_toml(path)
    where = str(path)
    _check_keys(raw, CLUSTER_KEYS, where)
    inline = _table(raw, "profiles", where)
    peers_raw = _array(raw, "peers", where)
    if not peers_raw:
        raise ConfigError(f"{where}: peers: a cluster needs at least one [[peers]] entry")
    peers = tuple(_peer(p, f"{where}: peers[{i}]", path, inline) for i, p in enumerate(peers_raw))
    names = [p.name for p in peers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{where}: peers[{i}].name: duplicate peer name {name!r}")
    links: list[LinkSpec] = []
    for i, link_raw in enumerate(_array(raw, "links", where)):
        link = _link(link_raw, f"{where}: links[{i}]", names)
        if any(other.joins(link.a, link.b) for other in links):
            raise ConfigError(f"{where}: links[{i}]: {link.a} - {link.b} is listed twice")
        links.append(link)
    default = None
    if "default_link" in raw:
        d = _table(raw, "default_link", where)
        dwhere = f"{where}: default_link"
        _check_keys(d, ("bandwidth", "latency"), dwhere)
        default = LinkSpec("*", "*", _number(d, "bandwidth", dwhere),
                           _number(d, "latency", dwhere, positive=False))
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: name: must be a non-empty string, not {name!r}")
    emulation = _emulation(_table(raw, "emulation", where), f"{where}: emulation")
    return Cluster(name, peers, tuple(links), default, emulation, path)


def cluster_state(cluster: Cluster, backlogs: Mapping[str, float] | None = None) -> ClusterState:
    """The planner's view of a cluster file: speeds, quotas, NICs and links, idle by default."""
    backlogs = backlogs or {}
    peers = [
        PeerState(p.name, p.speed, backlogs.get(p.name, 0.0), p.quota, p.nic) for p in cluster.peers
    ]
    links = {(link.a, link.b): LinkState(link.bandwidth, link.latency) for link in cluster.links}
    default = cluster.default_link
    return ClusterState.of(
        peers, links, LinkState(default.bandwidth, default.latency) if default else None
    )
