"""A device's peer file (`fognet peer --config FILE`): its peer settings in one TOML file,
so the device runs the same peer at every boot (a systemd unit runs `fognet peer --config FILE`).

    name = "fog1"                          # required (here or --name)
    profile = "rpi4"                       # or: cluster = "cluster.toml" (relative to this file)
    bind = "0.0.0.0:5555"
    advertise = "192.168.1.21"             # the address other devices reach this one at
    bootstrap = ["car1@192.168.1.20:5555"] # name@host:port (a closed peer must name them)
    discovery = true                       # the UDP beacon
    heartbeat = 1.0                        # seconds; dead after 3 missed
    cap = 0.9                              # utilisation it lends at most (default: the profile's)
    memory = 4.0e9                         # bytes it advertises for partitions (default: the profile's)
    max_members = 128                      # peers it keeps track of; newcomers past it are refused
    cache = "/var/lib/fognet/models"
    emulate = false
    keys = "/etc/fognet/fog1.key_secret"   # keys + allow: a closed peer (README)
    allow = "/etc/fognet/allow.toml"

Every field is optional; the CLI lets a flag given on its command line win. Paths are
relative to the file. An unknown field or a value of the wrong type is one ConfigError
naming the file and the field (`fognet.config.toml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fognet.config import toml
from fognet.config.profiles import read_cap
from fognet.config.toml import Where

STRINGS = ("name", "profile", "bind", "advertise")
FLAGS = ("discovery", "emulate")
PATHS = ("cluster", "cache", "keys", "allow")
FIELDS = (*STRINGS, "bootstrap", *FLAGS, "heartbeat", "cap", "memory", "max_members", *PATHS)


def read_peer_file(path: str | Path) -> dict[str, Any]:
    """The fields the file gives (absent ones are absent), checked; paths made absolute
    against the file's directory."""
    path = Path(path)
    raw = toml.read(path)
    where = Where(str(path))
    toml.check_keys(raw, FIELDS, where)
    out: dict[str, Any] = {}
    for key in STRINGS:
        if key in raw:
            out[key] = toml.string(raw, key, where)
    for key in FLAGS:
        if key in raw:
            out[key] = toml.flag(raw, key, where)
    for key in ("heartbeat", "memory"):
        if key in raw:
            out[key] = toml.number(raw, key, where)
    if "cap" in raw:
        out["cap"] = read_cap(raw, where)
    if "max_members" in raw:
        out["max_members"] = toml.integer(raw, "max_members", where, minimum=1)
    for key in PATHS:
        if key in raw:
            out[key] = path.parent / toml.string(raw, key, where)  # an absolute one stays itself
    if "bootstrap" in raw:
        entries = raw["bootstrap"]
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise where.key("bootstrap").error('must be a list of "name@host:port" strings')
        out["bootstrap"] = tuple(entries)
    return out
