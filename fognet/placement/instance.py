"""The game's instance, built one way from what every peer tells a round.

A live peer announces its `Figures` in ROUND_OPEN; the simulator makes the same figures
from its round's state. `game_instance` turns figures and subtasks into the `Instance`
the game plays, the checker judges and the optimum solves, so the live round, a peer's
own view of it and the simulator cannot drift apart.

Game identities (the pure game refuses a worker id equal to a source id): a peer plays as
a source under its own name and as a worker under `worker_id(name)` = `name + "#w"`,
always, whether or not it is also a source this round, so ids are stable across rounds.
Peer names must not contain "#". `peer_of` maps either id back to the peer name.

    LinkFigure(peer, bandwidth_Bps, latency_s)
    Figures(quota, speed, backlog_ref_s, local_speed, local_backlog_ref_s, links, rule, cap, rate, nic,
            counted=True, backlog_by_source=())   counted=False: a worker whose only limit is its cap
    backlog_without(total_ref_s, by_source, sources) -> float   q_p while `sources` re-plan
    PeerState(name, figures, subtasks)          one peer's private state for a round
    figures_from_cluster(name, cluster, rule) -> Figures   what a node tells, from its state
    game_instance(figures, subtasks, sources=None, rule=None, default_link=None,
                  round_s=1.0, arrival="fixed", queue="sjf") -> Instance
    states_instance(states) -> Instance         the same from PeerStates (live tests, bench)
    split_instance(inst) -> {name: PeerState}   an Instance as peers (its inverse)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fognet.matching.instance import (
    DefaultLink,
    Instance,
    Link,
    LocalDevice,
    PeerId,
    Subtask,
    Worker,
)
from fognet.partition.cost import ClusterState

WORKER_SUFFIX = "#w"


def worker_id(name: str) -> PeerId:
    """The game id of a peer's worker role."""
    return PeerId(name + WORKER_SUFFIX)


def peer_of(game_id: str) -> str:
    """The peer name behind a game id (source or worker)."""
    return game_id.removesuffix(WORKER_SUFFIX)


@dataclass(frozen=True)
class LinkFigure:
    peer: str  # the other end, by peer name (its worker role)
    bandwidth_Bps: float
    latency_s: float


@dataclass(frozen=True)
class Figures:
    """What a peer tells the round about itself (its ROUND_OPEN)."""

    quota: int = 0  # as a worker: subtasks accepted this round; 0: not a worker
    speed: float = 1.0  # as a worker, reference-seconds per second
    backlog_ref_s: float = 0.0
    local_speed: float = 1.0  # as a source: its own device
    local_backlog_ref_s: float = 0.0
    links: tuple[LinkFigure, ...] = ()  # as a source: to the peers whose worker role it reaches
    rule: str = "welfare"
    cap: float = 0.9  # as a worker: the utilisation it lends at most
    rate: float = 1.0  # as a source: frames/s
    nic: float = 0.0  # bytes/s of the peer's interface (both roles); 0: no limit
    counted: bool = True  # as a worker: `quota` is a count limit (False: it only marks a worker)
    # the part of the backlog (both roles: one device) each source sent: (source, ref-s), by name
    backlog_by_source: tuple[tuple[str, float], ...] = ()


def backlog_without(total_ref_s: float, by_source: Iterable[tuple[str, float]],
                    sources: Iterable[str]) -> float:
    """A peer's backlog `q_p` while `sources` re-plan: the work it holds that they did not
    send. Their queued frames are their streams' frames, which the round (or the planner)
    already prices at their rates; counted again as the phantom backlog job they made a
    server that all of them had just queued at look overloaded (issue 11). Work from
    sources not re-planning stays: nothing else prices it."""
    playing = set(sources)
    return max(0.0, total_ref_s - sum(w for s, w in by_source if s in playing))


@dataclass(frozen=True)
class PeerState:
    """One peer's private state for a round: its figures and its own subtasks."""

    name: str
    figures: Figures
    subtasks: tuple[Subtask, ...] = ()


def figures_from_cluster(name: str, cluster: ClusterState, rule: str = "welfare",
                         rate: float = 1.0) -> Figures:
    """A node's figures from its cluster state: its own speed, backlog, quota and NIC (as a
    worker and as its own device), its links to every other peer that takes work, and the
    frame rate it streams at as a source (its state's, when set as the planning source's;
    else `rate`)."""
    me = cluster.peer(PeerId(name))
    links = []
    for pid, peer in sorted(cluster.peers.items()):
        link = cluster.link(PeerId(name), pid)
        if pid != name and peer.quota > 0 and link is not None:
            links.append(LinkFigure(pid, link.bandwidth, link.latency))
    return Figures(me.quota, me.speed, me.backlog, me.speed, me.backlog, tuple(links), rule,
                   rate=me.rate or rate, nic=me.nic or 0.0)


def game_instance(
    figures: Mapping[str, Figures],
    subtasks: Iterable[Subtask],
    sources: Iterable[str] | None = None,
    rule: str | None = None,
    default_link: DefaultLink | None = None,
    round_s: float = 1.0,
    arrival: str = "fixed",
    queue: str = "sjf",
) -> Instance:
    """The instance that peers' figures (by peer name) and subtasks describe, with game ids.

    Workers are the peers with quota > 0 (as `worker_id(name)`); sources are `sources`, or
    the peers that own a subtask; a source's links count only to workers in the round; a
    pair not listed takes `default_link` (None: out of reach). `rule` defaults to the
    first source's. `round_s`, `arrival` and `queue` are the round's stream model (DESIGN.md):
    the length of a round, how frames arrive and how workers order their queues. Every
    backlog is `backlog_without` the round's sources."""
    subtasks = tuple(subtasks)
    names = sorted(set(sources) if sources is not None else {s.source for s in subtasks})
    workers = sorted(n for n, f in figures.items() if f.quota > 0)
    taking = set(workers)
    return Instance(
        workers=tuple(
            Worker(worker_id(n), figures[n].speed,
                   backlog_without(figures[n].backlog_ref_s, figures[n].backlog_by_source, names),
                   figures[n].quota if figures[n].counted else None,
                   cap=figures[n].cap, nic=figures[n].nic or None)
            for n in workers
        ),
        links=tuple(
            Link(PeerId(n), worker_id(lk.peer), lk.bandwidth_Bps, lk.latency_s)
            for n in names for lk in figures[n].links if lk.peer in taking and lk.peer != n
        ),
        subtasks=subtasks,
        local=tuple(
            LocalDevice(PeerId(n), figures[n].local_speed,
                        backlog_without(figures[n].local_backlog_ref_s, figures[n].backlog_by_source, names),
                        rate=figures[n].rate, nic=figures[n].nic or None)
            for n in names
        ),
        default_link=default_link,
        rule=rule or (figures[names[0]].rule if names else "welfare"),
        round_s=round_s,
        arrival=arrival,
        queue=queue,
    )


def states_instance(states: Iterable[PeerState], rule: str | None = None) -> Instance:
    """The instance a set of peers' private states describe (what the checker judges)."""
    states = list(states)
    return game_instance({st.name: st.figures for st in states}, (s for st in states for s in st.subtasks),
                         sources=[st.name for st in states if st.subtasks], rule=rule)


def split_instance(inst: Instance) -> dict[str, PeerState]:
    """Each worker and each source of `inst` as a peer of the same name (a worker named like
    a source would be one peer in both roles)."""
    states: dict[str, PeerState] = {}
    for w in inst.workers:
        # no count quota: a count no round can reach (0 would mean "not a worker"; a count,
        # not `counted=False`, because these figures may cross the wire, which carries quotas)
        quota = w.quota if w.quota is not None else max(1, len(inst.subtasks))
        states[w.id] = PeerState(w.id, Figures(quota, w.speed, w.backlog, rule=inst.rule,
                                               cap=w.cap, nic=w.nic or 0.0))
    for src in inst.sources:
        dev = inst.local_of(src)
        links = []
        for w in inst.workers:
            link = inst.link(src, w.id)
            if link is not None:
                links.append(LinkFigure(w.id, link.bandwidth, link.latency))
        own = tuple(s for s in inst.subtasks if s.source == src)
        base = states.get(src, PeerState(src, Figures(rule=inst.rule))).figures
        figures = Figures(base.quota, base.speed, base.backlog_ref_s, dev.speed, dev.backlog,
                          tuple(links), inst.rule, base.cap, dev.rate, base.nic or dev.nic or 0.0,
                          base.counted)
        states[src] = PeerState(src, figures, own)
    return states
