"""Cluster files (TOML): which peers there are, what devices they are, and how they are linked.

    name = "local-4"                 # optional, default: the file's stem
    [emulation]                      # optional; enabled = true stretches compute and paces
    enabled = true                   # sends to the numbers below (config.emulation)
    [default_link]                   # optional: any pair not listed under [[links]]
    bandwidth = 1.0e7                # bytes/s
    latency = 0.005                  # seconds
    [[peers]]
    name = "car1"
    profile = "car"                  # a profile name or a path to a .toml file (config.profiles)
    speed = 0.3                      # optional: any profile field overrides the profile
    cap = 0.5                        # (speed, quota, role, nic, memory, threads, cap)
    address = "127.0.0.1:5601"       # optional: where the peer listens
    [[links]]
    a = "car1"
    b = "fog1"
    bandwidth = 2.5e7
    latency = 0.002
    [profiles.my-board]              # optional: a profile defined inline, found first

Every malformed value raises ConfigError naming the file and the field, e.g.
`peers/x.toml: peers[2].profile: unknown profile 'rpi5' (...)`.

API
    PeerSpec(name, profile, speed, quota, role, nic, memory, threads, cap=0.9, address=None)
        .is_source, .is_worker
    LinkSpec(a, b, bandwidth, latency)      .transfer_time(nbytes) -> seconds, .joins(a, b)
    Cluster(name, peers, links, default_link, emulation, path=None)
        .link(a, b) -> LinkSpec | None   symmetric; listed link, else default, else None;
                                           a == b gives infinite bandwidth, zero latency
        .peer(name) -> PeerSpec, .names, .sources, .workers
        .emulated(emulate=None) -> EmulationMode   what a run of this file emulates
    load_cluster(path) -> Cluster
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fognet.config import toml
from fognet.config.emulation import Emulation, EmulationMode, emulation_mode, parse_emulation
from fognet.config.profiles import (
    DEFAULT_CAP,
    DEVICE_KEYS,
    Profile,
    device_fields,
    find_profile,
    read_device,
)
from fognet.config.toml import Where
from fognet.errors import ConfigError

PEER_KEYS = ("name", "profile", *DEVICE_KEYS, "address")
LINK_KEYS = ("a", "b", "bandwidth", "latency")
CLUSTER_KEYS = ("name", "description", "emulation", "default_link", "peers", "links", "profiles")


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
    cap: float = DEFAULT_CAP  # the share of its time it lends as a worker (the profile's unless the entry says)
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

    def emulated(self, emulate: bool | None = None) -> EmulationMode:
        """What a run of this file emulates; `emulate` overrides the file's switch."""
        speeds = (p.speed for p in self.peers)
        return emulation_mode(self.emulation, speeds, str(self.path or self.name), emulate)


def _peer(raw: Mapping[str, Any], where: Where, base: Path, inline: Mapping[str, Any]) -> PeerSpec:
    """A [[peers]] entry: its profile's device fields with the entry's overrides, read by
    the profiles' own reader (`config.profiles.read_device`)."""
    toml.check_keys(raw, PEER_KEYS, where)
    name = toml.string(raw, "name", where)
    profile = find_profile(toml.string(raw, "profile", where), base, inline, where)
    merged = {**device_fields(profile), **{k: v for k, v in raw.items() if k in DEVICE_KEYS}}
    fields = read_device(merged, where, who=f"peer {name!r}")
    address = raw.get("address")
    if address is not None and (not isinstance(address, str) or ":" not in address):
        raise where.key("address").error(f'must be "host:port", not {address!r}')
    return PeerSpec(name=name, profile=profile, **fields, address=address)


def _measures(raw: Mapping[str, Any], where: Where, a: str, b: str) -> LinkSpec:
    return LinkSpec(a, b, toml.number(raw, "bandwidth", where), toml.number(raw, "latency", where, positive=False))


def _link(raw: Mapping[str, Any], where: Where, names: Sequence[str]) -> LinkSpec:
    """A [[links]] entry: two different peers of the file, and the link's measures."""
    toml.check_keys(raw, LINK_KEYS, where)
    a, b = toml.string(raw, "a", where), toml.string(raw, "b", where)
    for key, end in (("a", a), ("b", b)):
        if end not in names:
            raise where.key(key).error(f"unknown peer {end!r} (peers: {', '.join(names)})")
    if a == b:
        raise where.error(f"a link joins two different peers, not {a!r} to itself")
    return _measures(raw, where, a, b)


def _links(raw: Mapping[str, Any], top: Where, names: Sequence[str]) -> tuple[LinkSpec, ...]:
    links: list[LinkSpec] = []
    for i, entry in enumerate(toml.tables(raw, "links", top)):
        where = top.key("links").item(i)
        link = _link(entry, where, names)
        if any(other.joins(link.a, link.b) for other in links):
            raise where.error(f"{link.a} - {link.b} is listed twice")
        links.append(link)
    return tuple(links)


def load_cluster(path: str | Path) -> Cluster:
    """Read and validate a cluster file; profiles resolve as config.profiles says."""
    path = Path(path)
    raw = toml.read(path)
    top = Where(str(path))
    toml.check_keys(raw, CLUSTER_KEYS, top)
    inline = toml.table(raw, "profiles", top)
    peers_raw = toml.tables(raw, "peers", top)
    if not peers_raw:
        raise top.key("peers").error("a cluster needs at least one [[peers]] entry")
    peers = tuple(_peer(p, top.key("peers").item(i), path.parent, inline) for i, p in enumerate(peers_raw))
    names = [p.name for p in peers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise top.key("peers").item(i).key("name").error(f"duplicate peer name {name!r}")
    default = None
    if "default_link" in raw:
        where = top.key("default_link")
        entry = toml.table(raw, "default_link", top)
        toml.check_keys(entry, LINK_KEYS[2:], where)
        default = _measures(entry, where, "*", "*")
    emulation = parse_emulation(toml.table(raw, "emulation", top), top.key("emulation"))
    name = toml.string(raw, "name", top, path.stem)
    return Cluster(name, peers, _links(raw, top, names), default, emulation, path)
