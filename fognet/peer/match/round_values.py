"""One matching round's values: what a peer tells, what it gets back, and game identities.

Game identities (the pure game refuses a worker id equal to a source id): a peer plays as
a source under its own name and as a worker under `worker_id(name)` = `name + "#w"`,
always, whether or not it is also a source this round, so ids are stable across rounds.
Peer names must not contain "#". `peer_of` maps either id back to the peer name.

    Figures(quota, speed, backlog_ref_s, local_speed, local_backlog_ref_s, links, rule)
    PeerState(name, figures, subtasks)              one peer's private state for a round
    figures_from_cluster(name, cluster, rule) -> Figures   what a node tells, from its state
    split_instance(inst) -> {name: PeerState}       an Instance as peers (tests, bench)
    game_instance(states) -> Instance               the instance the peers' states describe
    round_from_plan(plan, work_ref_s, in_bytes, out_bytes, task="f") -> tuple[Subtask, ...]
    RoundResult                                     what a peer's round ended with
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fognet.errors import InstanceError
from fognet.matching.instance import (
    Instance,
    Link,
    LocalDevice,
    PeerId,
    Subtask,
    SubtaskId,
    Worker,
)
from fognet.partition.cost import ClusterState
from fognet.partition.stages import Plan

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


@dataclass(frozen=True)
class PeerState:
    """One peer's private state for a round: its figures and its own subtasks."""

    name: str
    figures: Figures
    subtasks: tuple[Subtask, ...] = ()


@dataclass(frozen=True)
class RoundResult:
    """How a round ended on one peer. Counts are of messages this peer sent, by wire type."""

    round: int
    peer: str
    assignment: dict[SubtaskId, PeerId]  # this peer's subtasks -> site (game id)
    phase1: dict[SubtaskId, PeerId]  # the same after phase 1 (reconciled with HOSTED)
    hosted: tuple[Subtask, ...]  # what this peer's worker role hosts at the end
    sent: dict[str, int]
    completed: bool  # False: cut by the deadline, the last valid matching was kept
    dead: tuple[str, ...]  # peers found dead during the round
    elapsed_s: float
    steps: int = 0  # phase-2 steps this peer asked about, as initiator
    commits: int = 0
    extra: dict = field(default_factory=dict)


def figures_from_cluster(name: str, cluster: ClusterState, rule: str = "welfare") -> Figures:
    """A node's figures from its `cluster_state()`: its own speed, backlog and quota (as a
    worker and as its own device) and its links to every other peer that takes work."""
    me = cluster.peer(PeerId(name))
    links = []
    for pid, peer in sorted(cluster.peers.items()):
        link = cluster.link(PeerId(name), pid)
        if pid != name and peer.quota > 0 and link is not None:
            links.append(LinkFigure(pid, link.bandwidth, link.latency))
    return Figures(me.quota, me.speed, me.backlog, me.speed, me.backlog, tuple(links), rule)


def split_instance(inst: Instance) -> dict[str, PeerState]:
    """Each worker and each source of `inst` as a peer of the same name (a worker named like
    a source would be one peer in both roles)."""
    states: dict[str, PeerState] = {}
    for w in inst.workers:
        # no count quota: a count no round can reach (0 would mean "not a worker")
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
                          tuple(links), inst.rule, base.cap, dev.rate, base.nic or dev.nic or 0.0)
        states[src] = PeerState(src, figures, own)
    return states


def game_instance(states: Iterable[PeerState], rule: str | None = None) -> Instance:
    """The instance the peers' states describe, with game ids (what the checker judges)."""
    states = list(states)
    sources = [st for st in states if st.subtasks]
    workers = {st.name: st for st in states if st.figures.quota > 0}
    return Instance(
        workers=tuple(
            Worker(worker_id(st.name), st.figures.speed, st.figures.backlog_ref_s, st.figures.quota,
                   cap=st.figures.cap, nic=st.figures.nic or None)
            for st in sorted(workers.values(), key=lambda st: st.name)
        ),
        links=tuple(
            Link(PeerId(st.name), worker_id(lk.peer), lk.bandwidth_Bps, lk.latency_s)
            for st in sources for lk in st.figures.links if lk.peer in workers
        ),
        subtasks=tuple(s for st in sources for s in st.subtasks),
        local=tuple(
            LocalDevice(PeerId(st.name), st.figures.local_speed, st.figures.local_backlog_ref_s,
                        rate=st.figures.rate, nic=st.figures.nic or None)
            for st in sorted(sources, key=lambda st: st.name)
        ),
        rule=rule or (sources[0].figures.rule if sources else "welfare"),
    )


def round_from_plan(
    plan: Plan,
    work_ref_s: Sequence[float],
    in_bytes: Sequence[int],
    out_bytes: Sequence[int],
    task: str = "f",
) -> tuple[Subtask, ...]:
    """The subtasks of one frame through `plan`: one per whole stage, one per slice of a
    spatial stage (work and bytes shared in proportion to its output rows).

    `work_ref_s[i]`, `in_bytes[i]`, `out_bytes[i]` are stage i's totals. Ids are
    "<source>.<task>.s<stage>" (".r<slice>" for slices), unique across sources."""
    n = len(plan.stages)
    if not len(work_ref_s) == len(in_bytes) == len(out_bytes) == n:
        raise InstanceError(f"plan has {n} stages; give work and bytes for each stage")
    out: list[Subtask] = []
    for i, stage in enumerate(plan.stages):
        base = f"{plan.source}.{task}.s{i}"
        if not stage.spatial:
            out.append(Subtask(SubtaskId(base), PeerId(plan.source), float(work_ref_s[i]),
                               int(in_bytes[i]), int(out_bytes[i]), stage=i))
            continue
        total_rows = sum(b - a for a, b in stage.rows) or 1
        for j, (a, b) in enumerate(stage.rows):
            share = (b - a) / total_rows
            out.append(Subtask(SubtaskId(f"{base}.r{j}"), PeerId(plan.source),
                               float(work_ref_s[i]) * share, round(in_bytes[i] * share),
                               round(out_bytes[i] * share), stage=i))
    return tuple(out)


def view_instance(
    announced: Mapping[str, tuple[Figures, bool]], own: Sequence[Subtask], rule: str
) -> Instance:
    """A peer's view of the round: every peer's announced figures (worker roles, sources'
    own devices and links) plus only its own subtasks. `announced[name]` is (figures,
    is_source)."""
    workers = {n for n, (f, _) in announced.items() if f.quota > 0}
    sources = sorted(n for n, (_, is_src) in announced.items() if is_src)
    return Instance(
        workers=tuple(
            Worker(worker_id(n), announced[n][0].speed, announced[n][0].backlog_ref_s,
                   announced[n][0].quota, cap=announced[n][0].cap, nic=announced[n][0].nic or None)
            for n in sorted(workers)
        ),
        links=tuple(
            Link(PeerId(n), worker_id(lk.peer), lk.bandwidth_Bps, lk.latency_s)
            for n in sources for lk in announced[n][0].links if lk.peer in workers
        ),
        subtasks=tuple(own),
        local=tuple(
            LocalDevice(PeerId(n), announced[n][0].local_speed, announced[n][0].local_backlog_ref_s,
                        rate=announced[n][0].rate, nic=announced[n][0].nic or None)
            for n in sources
        ),
        rule=rule,
    )
