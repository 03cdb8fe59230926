"""From a device profile or a cluster file to what a running peer needs.

`fognet peer`, `fognet cluster` and `fognet infer` all turn the same TOML into the same
things here: a `PeerConfig` (speed, quota, threads, emulated compute), a `Pacer` (the
peer's NIC and its links to the others, when network emulation is on), a membership hook
that sets a link on the pacer as each named peer joins (addresses are known only then),
and the link table the source plans with.

Emulation is one switch with two halves, as the cluster file says: `compute` stretches
run time to measured / speed, `network` paces sends. `emulate=None` follows the file;
True or False overrides both halves.

API
    config_from_profile(name, profile, **peer_options) -> PeerConfig
    config_from_cluster(cluster, name, emulate=None, **peer_options) -> PeerConfig
    emulation_on(cluster, emulate=None) -> tuple[bool, bool]     (compute, network)
    pacer_for(cluster, name, emulate=None) -> Pacer | None
    link_setter(cluster, name, pacer) -> Callable[[MemberEvent], None]
    planning_links(cluster) -> (dict[(a, b), LinkState], LinkState | None)
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


def config_from_cluster(cluster: Cluster, name: str, emulate: bool | None = None, **options) -> PeerConfig:
    spec = cluster.peer(name)
    compute, _ = emulation_on(cluster, emulate)
    return PeerConfig(
        name, speed=spec.speed, threads=spec.threads, quota=spec.quota,
        profile=spec.profile.name, emulate=compute, **options,
    )


def _link(spec: LinkSpec | None) -> Link | None:
    if spec is None or math.isinf(spec.bandwidth):
        return None
    return Link(spec.bandwidth, spec.latency)


def pacer_for(cluster: Cluster, name: str, emulate: bool | None = None) -> Pacer | None:
    _, network = emulation_on(cluster, emulate)
    if not network:
        return None
    spec = cluster.peer(name)
    default = _link(cluster.default_link)
    return Pacer(nic_Bps=spec.nic, default=default)


def link_setter(cluster: Cluster, name: str, pacer: Pacer | None) -> Callable[[MemberEvent], None]:
    """A membership hook: when peer q of the file joins, pace sends to it over link (name, q).

    The transport paces requests by address and replies by node id, so both are keyed.
    """
    names = set(cluster.names)

    def on_event(event: MemberEvent) -> None:
        member = event.member
        if pacer is None or event.kind is not EventKind.JOIN or member.node_id not in names:
            return
        link = _link(cluster.link(name, member.node_id))
        if link is not None:
            pacer.set_link([member.node_id, member.address], link)

    return on_event


def planning_links(cluster: Cluster) -> tuple[dict[tuple[str, str], LinkState], LinkState | None]:
    links = {(s.a, s.b): LinkState(s.bandwidth, s.latency) for s in cluster.links}
    d = cluster.default_link
    return links, None if d is None else LinkState(d.bandwidth, d.latency)


def describe_emulation(cluster: Cluster, emulate: bool | None = None) -> str:
    compute, network = emulation_on(cluster, emulate)
    if not (compute or network):
        return "emulation: off (compute and transfers are this machine's, measured)"
    parts = [p for p, on in (("compute stretched to measured / speed", compute),
                             ("sends paced to link and NIC bandwidth", network)) if on]
    return f"emulation: ON ({'; '.join(parts)}) per {cluster.path or cluster.name}"
