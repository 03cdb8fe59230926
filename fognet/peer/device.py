"""The device a peer plays: its PeerConfig, pacer and link hook from a profile or cluster file.

`fognet peer`, `fognet cluster` and `fognet infer` all turn the same TOML into the same
things here: a `PeerConfig` (speed, quota, threads, emulated compute and its time scale),
a `Pacer` (the peer's NIC and its links to the others, when network emulation is on), and
a membership hook that sets a link on the pacer as each named peer joins (addresses are
known only then). What is emulated, and the time scale, is `Cluster.emulated`
(config.emulation); the pacer paces exactly the links and NIC the source plans with,
`placement.state.cluster_state(cluster, mode.link_scale)`.

API
    config_from_profile(name, profile, **peer_options) -> PeerConfig   cap and memory: the profile's
    config_from_cluster(cluster, name, emulate=None, **peer_options) -> PeerConfig   ... and the file's
    pacer_for(cluster, name, emulate=None) -> Pacer | None
    profile_pacer(profile, emulate) -> Pacer | None        a lone device paces its NIC only
    link_setter(cluster, name, pacer, emulate=None) -> Callable[[MemberEvent], None]
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fognet.config.cluster import Cluster
from fognet.config.profiles import Profile
from fognet.net.emulation import Link, Pacer
from fognet.partition.cost import ClusterState, LinkState
from fognet.peer.membership import EventKind, MemberEvent
from fognet.peer.node import PeerConfig
from fognet.placement.state import cluster_state


def config_from_profile(name: str, profile: Profile, **options) -> PeerConfig:
    """The device's peer; its utilisation cap and the memory it advertises are the
    profile's unless `options` say otherwise (`fognet peer --cap/--memory`)."""
    limits = {"cap": profile.cap, "memory": profile.memory, **options}
    return PeerConfig(
        name, speed=profile.speed, threads=profile.threads, quota=profile.quota,
        profile=profile.name, **limits,
    )


def config_from_cluster(cluster: Cluster, name: str, emulate: bool | None = None, **options) -> PeerConfig:
    """As `config_from_profile`, with the cluster file's overrides (its cap, memory) applied."""
    spec = cluster.peer(name)
    mode = cluster.emulated(emulate)
    limits = {"cap": spec.cap, "memory": spec.memory, **options}
    return PeerConfig(
        name, speed=spec.speed, threads=spec.threads, quota=spec.quota,
        profile=spec.profile.name, emulate=mode.compute, time_scale=mode.scale, **limits,
    )


def profile_pacer(profile: Profile, emulate: bool) -> Pacer | None:
    """An emulated device known only by its profile paces its NIC; its links are unknown."""
    return Pacer(nic_Bps=profile.nic) if emulate and profile.nic else None


def _paced(cluster: Cluster, emulate: bool | None) -> ClusterState | None:
    """The file's links and NICs in emulated time, or None when sends are not paced."""
    mode = cluster.emulated(emulate)
    return cluster_state(cluster, mode.link_scale) if mode.network else None


def _link(link: LinkState | None) -> Link | None:
    if link is None or math.isinf(link.bandwidth):
        return None
    return Link(link.bandwidth, link.latency)


def pacer_for(cluster: Cluster, name: str, emulate: bool | None = None) -> Pacer | None:
    state = _paced(cluster, emulate)
    if state is None:
        return None
    return Pacer(nic_Bps=state.peer(name).nic, default=_link(state.default_link))


def link_setter(
    cluster: Cluster, name: str, pacer: Pacer | None, emulate: bool | None = None
) -> Callable[[MemberEvent], None]:
    """A membership hook: when peer q of the file joins, pace sends to it over link (name, q).

    The transport paces requests by address and replies by node id, so both are keyed.
    """
    cluster.peer(name)
    state = _paced(cluster, emulate)

    def on_event(event: MemberEvent) -> None:
        member = event.member
        if pacer is None or state is None or event.kind is not EventKind.JOIN or member.node_id not in state.peers:
            return
        link = _link(state.link(name, member.node_id))
        if link is not None:
            pacer.set_link([member.node_id, member.address], link)

    return on_event
