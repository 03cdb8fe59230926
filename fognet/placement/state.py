"""A cluster's facts as the planner's ClusterState: the one rule, for every caller.

`fognet plan`, `fognet infer` (and the pacer its peers send through) and the simulator
all turn devices and links into PeerState and LinkState here, so the same file's links
are priced the same everywhere. `scale` is the emulated time scale of the links
(`EmulationMode.link_scale`: S when sends are paced, else 1): a link is `bandwidth / S`
and `latency * S`, a NIC `nic / S`; speeds and quotas are the file's, since compute is
stretched by the executor and reference times by the caller. A worker lends its profile's
`cap` (a load reaching it is refused); a pure source's own device never refuses (cap 1).

API
    link_state(bandwidth, latency, scale=1.0) -> LinkState
    peer_state(name, speed, quota, nic, backlog=0.0, scale=1.0, memory=None, cap=1.0) -> PeerState
    cluster_state(cluster, scale=1.0, backlogs=None) -> ClusterState
"""

from __future__ import annotations

from collections.abc import Mapping

from fognet.config.cluster import Cluster
from fognet.errors import ConfigError
from fognet.partition.cost import ClusterState, LinkState, PeerState


def _check(scale: float) -> None:
    if not scale >= 1.0:
        raise ConfigError(f"a time scale is at least 1 (emulated seconds per device second), not {scale}")


def link_state(bandwidth: float, latency: float, scale: float = 1.0) -> LinkState:
    """A link in time slowed `scale` times: its transfers take `scale` times as long."""
    _check(scale)
    return LinkState(bandwidth / scale, latency * scale)


def peer_state(
    name: str, speed: float, quota: int, nic: float | None, backlog: float = 0.0, scale: float = 1.0,
    memory: float | None = None, cap: float = 1.0,
) -> PeerState:
    """A device as the planner sees it; its NIC, like its links, slowed `scale` times; its
    memory (bytes, a limit on the partitions placed there) and `cap` (the share of its time
    it lends) as the file says."""
    _check(scale)
    return PeerState(name, speed, backlog, quota, None if nic is None else nic / scale, memory=memory, cap=cap)


def cluster_state(
    cluster: Cluster, scale: float = 1.0, backlogs: Mapping[str, float] | None = None
) -> ClusterState:
    """Every peer of the file (idle unless `backlogs` says), its links and default link;
    a worker's cap is its entry's (its profile's unless the entry sets `cap`), so every
    planner sees the refusals the worker makes."""
    backlogs = backlogs or {}
    peers = [
        peer_state(p.name, p.speed, p.quota, p.nic, backlogs.get(p.name, 0.0), scale, p.memory,
                   p.cap if p.is_worker else 1.0)
        for p in cluster.peers
    ]
    links = {(s.a, s.b): link_state(s.bandwidth, s.latency, scale) for s in cluster.links}
    d = cluster.default_link
    return ClusterState.of(peers, links, None if d is None else link_state(d.bandwidth, d.latency, scale))
