"""From a device profile or a cluster file to what a running peer needs.

`fognet peer`, `fognet cluster` and `fognet infer` all turn the same TOML into the same
things here: a `PeerConfig` (speed, quota, threads, emulated compute), a `Pacer` (the
peer's NIC and its links to the others, when network emulation is on), a membership hook
that sets a link on the pacer as each named peer joins (addresses are known only then),
and the link table the source plans with.

Emulation is one switch with two halves, as the cluster file says: `compute` stretches
run time to measured / speed, `network` paces sends. `emulate=None` follows the file;
True or False overrides both halves.

Time scale: this machine cannot run faster than itself, so a file with devices faster
than 1.0 is emulated in slowed time. With compute emulated, the scale S is the largest
speed in the file (at least 1): every peer's compute is stretched to
`measured * S / speed` (the fastest runs as measured), and, so that compute and
transfers keep their ratio, links and NICs are paced at `bandwidth / S` and `latency * S`,
and the source plans with reference times and links scaled the same way. Everything
measured is then S times what the devices would take; the output says so.

API
    config_from_profile(name, profile, **peer_options) -> PeerConfig
    config_from_cluster(cluster, name, emulate=None, **peer_options) -> PeerConfig
    emulation_on(cluster, emulate=None) -> tuple[bool, bool]     (compute, network)
    time_scale(cluster, emulate=None) -> float                    S >= 1 (1 when compute is real)
    pacer_for(cluster, name, emulate=None) -> Pacer | None
    link_setter(cluster, name, pacer, emulate=None) -> Callable[[MemberEvent], None]
    planning_links(cluster, emulate=None) -> (dict[(a, b), LinkState], LinkState | None)
    describe_emulation(cluster, emulate=None) -> str            one line for the output
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fognet.net.emulation import Link, Pacer
from fognet.partition.cost import LinkState
from fognet.peer.config import Cluster, LinkSpec, Profile
from fognet.peer.membership import EventKind, MemberEvent
from fognet.peer.node import PeerConfig


def config_from_profile(name: str, profile: Profile, **options) -> PeerConfig:
    return PeerConfig(
        name, speed=profile.speed, threads=profile.threads, quota=profile.quota,
        profile=profile.name, **options,
    )


def emulation_on(cluster: Cluster, emulate: bool | None = None) -> tuple[bool, bool]:
    if emulate is not None:
        return emulate, emulate
    e = cluster.emulation
    return e.enabled and e.compute, e.enabled and e.network


def time_scale(cluster: Cluster, emulate: bool | None = None) -> float:
    compute, _ = emulation_on(cluster, emulate)
    return max(1.0, *(p.speed for p in cluster.peers)) if compute else 1.0


def config_from_cluster(cluster: Cluster, name: str, emulate: bool | None = None, **options) -> PeerConfig:
    spec = cluster.peer(name)
    compute, _ = emulation_on(cluster, emulate)
    return PeerConfig(
        name, speed=spec.speed, threads=spec.threads, quota=spec.quota,
        profile=spec.profile.name, emulate=compute, time_scale=time_scale(cluster, emulate), **options,
    )


def _link(spec: LinkSpec | None, scale: float) -> Link | None:
    if spec is None or math.isinf(spec.bandwidth):
        return None
    return Link(spec.bandwidth / scale, spec.latency * scale)


def pacer_for(cluster: Cluster, name: str, emulate: bool | None = None) -> Pacer | None:
    _, network = emulation_on(cluster, emulate)
    if not network:
        return None
    scale = time_scale(cluster, emulate)
    spec = cluster.peer(name)
    default = _link(cluster.default_link, scale)
    return Pacer(nic_Bps=spec.nic / scale if spec.nic else None, default=default)


def link_setter(
    cluster: Cluster, name: str, pacer: Pacer | None, emulate: bool | None = None
) -> Callable[[MemberEvent], None]:
    """A membership hook: when peer q of the file joins, pace sends to it over link (name, q).

    The transport paces requests by address and replies by node id, so both are keyed.
    """
    names = set(cluster.names)
    scale = time_scale(cluster, emulate)

    def on_event(event: MemberEvent) -> None:
        member = event.member
        if pacer is None or event.kind is not EventKind.JOIN or member.node_id not in names:
            return
        link = _link(cluster.link(name, member.node_id), scale)
        if link is not None:
            pacer.set_link([member.node_id, member.address], link)

    return on_event


def planning_links(
    cluster: Cluster, emulate: bool | None = None
) -> tuple[dict[tuple[str, str], LinkState], LinkState | None]:
    """Links as the source should price them: in emulated time when the network is paced."""
    _, network = emulation_on(cluster, emulate)
    scale = time_scale(cluster, emulate) if network else 1.0
    links = {(s.a, s.b): LinkState(s.bandwidth / scale, s.latency * scale) for s in cluster.links}
    d = cluster.default_link
    return links, None if d is None else LinkState(d.bandwidth / scale, d.latency * scale)


def describe_emulation(cluster: Cluster, emulate: bool | None = None) -> str:
    compute, network = emulation_on(cluster, emulate)
    if not (compute or network):
        return "emulation: off (compute and transfers are this machine's, measured)"
    parts = [p for p, on in (("compute stretched to measured / speed", compute),
                             ("sends paced to link and NIC bandwidth", network)) if on]
    scale = time_scale(cluster, emulate)
    if scale > 1.0:
        parts.append(f"time scale {scale:g}: every time is {scale:g}x the devices' so the fastest runs as measured")
    return f"emulation: ON ({'; '.join(parts)}) per {cluster.path or cluster.name}"
