"""The simulated cluster as fixed facts: each peer's device and each link, from a scenario.

Peers are named `<group>-<i>`. A link between two peers takes the scenario's
`[network]` bandwidth and latency unless one of their groups overrides it: then the
lower of the bandwidths given and the higher of the latencies given (a fast fog node
reached over a car's slow radio is as slow as the radio).
"""

from __future__ import annotations

from dataclasses import dataclass

from fognet.sim.scenario import Group, Scenario


@dataclass(frozen=True)
class Peer:
    id: str
    group: str
    speed: float
    quota: int
    nic: float | None
    backlog: float  # reference-seconds of other work queued at the start
    source: bool
    worker: bool
    model: str | None = None
    fps: float = 0.0
    deadline_s: float | None = None


@dataclass(frozen=True)
class Topology:
    peers: dict[str, Peer]
    sources: tuple[str, ...]
    workers: tuple[str, ...]
    default_link: tuple[float, float]  # (bytes/s, seconds)
    _overrides: dict[str, tuple[float | None, float | None]]

    def link(self, a: str, b: str) -> tuple[float, float]:
        """(bandwidth, latency) between two distinct peers."""
        bw, lat = self.default_link
        over_a = self._overrides.get(self.peers[a].group)
        over_b = self._overrides.get(self.peers[b].group)
        if over_a is None and over_b is None:
            return bw, lat
        bws = [o[0] for o in (over_a, over_b) if o is not None and o[0] is not None]
        lats = [o[1] for o in (over_a, over_b) if o is not None and o[1] is not None]
        return (min(bws) if bws else bw), (max(lats) if lats else lat)

    def is_default(self, a: str, b: str) -> bool:
        return self.link(a, b) == self.default_link

    def reachable(self, source: str) -> tuple[str, ...]:
        """The workers a source may use: every worker but itself."""
        return tuple(w for w in self.workers if w != source)


def build_topology(scenario: Scenario) -> Topology:
    peers: dict[str, Peer] = {}
    overrides: dict[str, tuple[float | None, float | None]] = {}
    for group in (*scenario.sources, *scenario.workers):
        if group.bandwidth is not None or group.latency is not None:
            overrides[group.name] = (group.bandwidth, group.latency)
    for group in scenario.sources:
        for pid in group.ids():
            peers[pid] = _peer(pid, group, source=True)
    for group in scenario.workers:
        for pid in group.ids():
            peers[pid] = _peer(pid, group, source=False)
    sources = tuple(p.id for p in peers.values() if p.source)
    workers = tuple(p.id for p in peers.values() if p.worker)
    return Topology(peers, sources, workers, (scenario.bandwidth, scenario.latency), overrides)


def _peer(pid: str, group: Group, source: bool) -> Peer:
    return Peer(
        id=pid,
        group=group.name,
        speed=group.speed,
        quota=group.quota,
        nic=group.nic,
        backlog=group.backlog,
        source=source,
        worker=group.worker,
        model=group.model if source else None,
        fps=group.fps if source else 0.0,
        deadline_s=group.deadline_s,
    )
