"""The simulated cluster as fixed facts: each peer's device and each link, from a scenario.

Peers are named `<group>-<i>`. A link between two peers takes the scenario's
`[network]` bandwidth and latency unless one of their groups overrides it: then the
lower of the bandwidths given and the higher of the latencies given (a fast fog node
reached over a car's slow radio is as slow as the radio).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fognet.sim.scenario import Group, Scenario


@dataclass(frozen=True)
class Peer:
    id: str
    group: str
    speed: float
    quota: int | None  # subtasks per round on top of the cap; None: no count limit
    cap: float  # utilisation a worker lends at most
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
    _worker_set: frozenset[str] = field(default=frozenset(), repr=False)
    _links: tuple | None = field(default=None, repr=False, compare=False)
    _group_links: dict = field(default_factory=dict, repr=False, compare=False)

    def link(self, a: str, b: str) -> tuple[float, float]:
        """(bandwidth, latency) between two distinct peers."""
        return self.group_link(self.peers[a].group, self.peers[b].group)

    def group_link(self, group_a: str, group_b: str) -> tuple[float, float]:
        key = (group_a, group_b)
        if key not in self._group_links:
            self._group_links[key] = self._group_link(group_a, group_b)
        return self._group_links[key]

    def _group_link(self, group_a: str, group_b: str) -> tuple[float, float]:
        bw, lat = self.default_link
        over_a = self._overrides.get(group_a)
        over_b = self._overrides.get(group_b)
        if over_a is None and over_b is None:
            return bw, lat
        bws = [o[0] for o in (over_a, over_b) if o is not None and o[0] is not None]
        lats = [o[1] for o in (over_a, over_b) if o is not None and o[1] is not None]
        return (min(bws) if bws else bw), (max(lats) if lats else lat)

    def reachable(self, source: str) -> tuple[str, ...]:
        """The workers a source may use: every worker but itself."""
        return self.workers if source not in self._worker_set else tuple(w for w in self.workers if w != source)

    def non_default_links(self) -> tuple[tuple[str, str, float, float], ...]:
        """(source, worker, bandwidth, latency) for every pair off the default link."""
        if self._links is None:
            out = []
            for source in self.sources:
                for w in self.reachable(source):
                    bw, lat = self.link(source, w)
                    if (bw, lat) != self.default_link:
                        out.append((source, w, bw, lat))
            object.__setattr__(self, "_links", tuple(out))
        return self._links


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
    return Topology(peers, sources, workers, (scenario.bandwidth, scenario.latency), overrides, frozenset(workers))


def _peer(pid: str, group: Group, source: bool) -> Peer:
    return Peer(
        id=pid,
        group=group.name,
        speed=group.speed,
        quota=group.quota,
        cap=group.cap,
        nic=group.nic,
        backlog=group.backlog,
        source=source,
        worker=group.worker,
        model=group.model if source else None,
        fps=group.fps if source else 0.0,
        deadline_s=group.deadline_s,
    )
