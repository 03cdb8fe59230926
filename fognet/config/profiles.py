"""Device profiles: what a kind of device is, and where a profile's name is looked for.

A **profile** (`peers/profiles/<name>.toml`) describes a kind of device:

    speed = 0.4          # reference-seconds of work per second (1.0 = the profiling machine)
    quota = 2            # subtasks accepted per round (0 for a pure source); the live round's count
    cap = 0.9            # optional (default 0.9, at most 0.999): the share of its time a worker lends
    role = "worker"      # "source" (has frames), "worker" (accepts work) or "both"
    nic = 1.0e8          # optional: interface bandwidth shared by concurrent sends (bytes/s)
    memory = 4.0e9       # optional: bytes available for models and activations
    threads = 1          # optional (default 1): onnxruntime intra-op threads
    rate = 10.0          # optional: frames/s a source streams (`fognet plan --mode throughput --sources`)
    description = "..."  # optional

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
cluster file (or to the current directory for `load_profile`). Simulator scenarios look
first in the nearest `peers/profiles` above the scenario, then in 3-5.

API
    Profile(name, speed, quota, role, nic=None, memory=None, threads=1, description="", cap=0.9, rate=None)
    read_cap(raw, where, who=) -> float                  a worker's utilisation cap (profiles, scenarios)
    read_device(raw, where, who=) -> dict                the DEVICE_KEYS fields (profiles, cluster peers)
    device_fields(profile) -> dict                       a profile's DEVICE_KEYS values, to override
    parse_profile(name, raw, where) -> Profile
    load_profile(name_or_path, search=None) -> Profile
    find_profile(ref, base, inline, where) -> Profile   a cluster file's `profile = ...`
    profile_dirs(base=None) -> list[Path]                where profile names are looked for
    read_role(raw, where), check_quota(role, quota, where)   shared with scenarios
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fognet.config import toml
from fognet.config.toml import Where
from fognet.errors import ConfigError

ROLES = ("source", "worker", "both")
DEVICE_KEYS = ("speed", "quota", "role", "nic", "memory", "threads", "cap")  # a cluster file's peer overrides these
PROFILE_KEYS = (*DEVICE_KEYS, "description", "rate")
DEFAULT_CAP = 0.9  # DESIGN.md: the share of its time a worker lends, unless it says
MAX_CAP = 0.999
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
    cap: float = DEFAULT_CAP  # utilisation a worker lends at most: past it, it refuses work
    rate: float | None = None  # frames/s a source streams, if the profile says (throughput planning)


def read_cap(raw: Mapping[str, Any], where: Where, default: float = DEFAULT_CAP, who: str = "a worker") -> float:
    """A worker's utilisation cap: capacity is how busy a worker may get (DESIGN.md "System
    model"), in (0, 0.999]; a queue at 1 never drains, so 1 is not a cap. `who` names the
    device in the error (a cluster file's peer by its name)."""
    cap = raw.get("cap", default)
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < cap <= MAX_CAP:
        raise where.key("cap").error(
            f"must be a number above 0 and at most {MAX_CAP} (the share of its time {who} lends), not {cap!r}")
    return float(cap)


def read_role(raw: Mapping[str, Any], where: Where) -> str:
    return toml.choice(raw, "role", where, ROLES)


def check_quota(role: str, quota: int, where: Where) -> None:
    """A pure source accepts no work; anything that works accepts at least one subtask."""
    if role == "source" and quota != 0:
        raise where.key("quota").error('a source accepts no work; use role = "both" or quota = 0')
    if role != "source" and quota < 1:
        raise where.key("quota").error(f"a {role} must accept at least 1 subtask per round")


def read_device(raw: Mapping[str, Any], where: Where, who: str = "a worker") -> dict[str, Any]:
    """The DEVICE_KEYS fields, read and checked by one rule for a profile and for a cluster
    file's peer (its profile's values with the entry's overrides): speed, quota (checked
    against the role), role, nic, memory, threads (default 1) and cap (default 0.9); `who`
    names the device in the cap's error."""
    role = read_role(raw, where)
    quota = toml.integer(raw, "quota", where)
    check_quota(role, quota, where)
    return {
        "speed": toml.number(raw, "speed", where),
        "quota": quota,
        "role": role,
        "nic": toml.optional_number(raw, "nic", where),
        "memory": toml.optional_number(raw, "memory", where),
        "threads": toml.integer(raw, "threads", where, 1, minimum=1),
        "cap": read_cap(raw, where, who=who),
    }


def device_fields(profile: Profile) -> dict[str, Any]:
    """A profile's DEVICE_KEYS fields as a file would give them (None ones absent), the
    values a cluster file's peer entry overrides."""
    values = {k: getattr(profile, k) for k in DEVICE_KEYS}
    return {k: v for k, v in values.items() if v is not None}


def parse_profile(name: str, raw: Mapping[str, Any], where: Where) -> Profile:
    """A Profile from a profile file's (or inline table's) fields; `where` names them in errors."""
    if not isinstance(raw, Mapping):
        raise where.error("a profile must be a table")
    toml.check_keys(raw, PROFILE_KEYS, where)
    return Profile(
        name=name,
        **read_device(raw, where),
        description=toml.string(raw, "description", where, ""),
        rate=toml.optional_number(raw, "rate", where),
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


def is_path(text: str) -> bool:
    """Whether a `profile = ...` value names a file rather than a profile."""
    return text.endswith(".toml") or "/" in text or os.sep in text


def _load_file(path: Path) -> Profile:
    return parse_profile(path.stem, toml.read(path), Where(str(path)))


def load_profile(name_or_path: str | Path, search: Sequence[Path] | None = None) -> Profile:
    """A profile by name (looked up in `search`, default `profile_dirs()`) or by file path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or is_path(text):
        return _load_file(Path(text))
    dirs = profile_dirs() if search is None else list(search)
    for d in dirs:
        path = d / f"{text}.toml"
        if path.is_file():
            return parse_profile(text, toml.read(path), Where(str(path)))
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise ConfigError(
        f"unknown profile {text!r} (looked in {', '.join(str(d) for d in dirs)}; "
        f"known: {', '.join(known) or 'none'})"
    )


def find_profile(ref: str, base: Path, inline: Mapping[str, Any], where: Where) -> Profile:
    """What `profile = ref` at `where` in a file under `base` means: an inline
    `[profiles.ref]`, a path relative to `base`, or a name looked up from `base`."""
    if ref in inline:
        return parse_profile(ref, inline[ref], Where(where.file, f"profiles.{ref}"))
    if is_path(ref):
        path = Path(ref) if Path(ref).is_absolute() else base / ref
        if not path.is_file():
            raise where.key("profile").error(f"no profile file {str(path)!r}")
        return _load_file(path)
    try:
        return load_profile(ref, profile_dirs(base))
    except ConfigError as exc:
        raise where.key("profile").error(str(exc)) from None
