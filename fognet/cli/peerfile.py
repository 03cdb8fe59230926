"""`fognet peer --config FILE`: a device's peer settings in one TOML file, so it runs the
same peer at every boot (a systemd unit just runs `fognet peer --config FILE`).

    name = "fog1"                          # required (here or --name)
    profile = "rpi4"                       # or: cluster = "cluster.toml" (relative to this file)
    bind = "0.0.0.0:5555"
    advertise = "192.168.1.21"             # the address other devices reach this one at
    bootstrap = ["car1@192.168.1.20:5555"] # name@host:port (a closed peer must name them)
    discovery = true                       # the UDP beacon
    heartbeat = 1.0                        # seconds; dead after 3 missed
    cache = "/var/lib/fognet/models"
    emulate = false
    keys = "/etc/fognet/fog1.key_secret"   # keys + allow: a closed peer (see README)
    allow = "/etc/fognet/allow.toml"

Every field is optional but `name`; a flag given on the command line wins over the file.
Paths are relative to the file. A field it does not know, or a value of the wrong type,
is one ConfigError naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from fognet.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# file field -> (the `fognet peer` parameter it sets, its type); Path: relative to the file
FIELDS: Mapping[str, tuple[str, type]] = {
    "name": ("name", str), "profile": ("profile", str), "cluster": ("cluster_file", Path),
    "bind": ("bind", str), "advertise": ("advertise", str), "bootstrap": ("bootstrap", list), "discovery": ("discovery", bool),
    "emulate": ("emulate", bool), "cache": ("cache", Path), "heartbeat": ("heartbeat", float),
    "keys": ("keys_file", Path), "allow": ("allow_file", Path),
}


def read_peer_file(path: Path) -> dict[str, Any]:
    """The file's settings as `fognet peer` parameters (ConfigError naming the field)."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from exc
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    return {FIELDS[key][0]: _value(path, key, value) for key, value in raw.items()}


def _value(path: Path, key: str, value: Any) -> Any:
    kind = FIELDS[key][1]
    where = f"{path}: {key}"
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a path (a string)")
        return (Path(path).parent / value) if not Path(value).is_absolute() else Path(value)
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{where}: expected a list of "name@host:port" strings')
        return tuple(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{where}: expected a positive number, not {value!r}")
        return float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected a {kind.__name__}, not {value!r}")
    return value


def merge(ctx: click.Context, params: dict[str, Any], from_file: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with the file's values wherever the command line did not set them."""
    merged = dict(params)
    for name, value in from_file.items():
        source = ctx.get_parameter_source(name)
        if source in (None, click.core.ParameterSource.DEFAULT):
            merged[name] = value
    return merged
