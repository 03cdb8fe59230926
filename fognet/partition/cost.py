"""The latency formulas of DESIGN.md ("System model"), and nothing else.

The planner, the simulator and `fognet predict` all price with these, so a prediction
means the same thing everywhere. Pure: state comes in as frozen values, no clock is read.

- A transfer of n bytes over link (a, b) takes `lat_ab + n / bw_ab`, also for n = 0 (a
  message still crosses the link); on the same peer it takes 0; with no link it takes inf.
- A subtask of `work` reference-seconds on peer p, sent from `src`, finishes after
  `transfer_in + wait + work / speed_p + transfer_out`, with `wait = backlog_p / speed_p`
  plus any `extra_wait` (the work queued ahead of it this round, already in seconds).
- A stage is a list of (peer, Slice); a whole stage is one slice. The source's NIC is
  shared by the stage's sends: when `nic_src` is known, the sends go out one after the
  other in the stage's order (the order the requester sends them), each holding the NIC
  for `in / min(bw, nic_src)`, so a slice's input arrives after its link's latency plus
  the airtime of every send before it and its own; the stage's sends never take less
  than `total bytes / nic_src`. This is what one shared radio does and what the
  emulation's pacer does; pricing the sends as parallel under-predicted the last slice
  by the first one's airtime (measured on yolov3-tiny over car1 + laptop + server).
  Returning outputs are priced per link alone. A slice on the source itself moves
  nothing. A stage ends with its slowest slice. (The matching game prices each subtask
  on its link alone, `subtask_latency`, as DESIGN.md says.)
- A plan's latency is the sum of its stages' (the source merges between stages).
- Joint planning (DESIGN.md, DINA-P item 4): a peer may carry the streams other sources put
  on it, as `load` (their share of its time, the backlog's phantom job included) and
  `residual` (seconds: half their second moment of service). A piece of service x
  from a source streaming at `rate` then waits `R / (1 - load - rate * x)` on it, with
  `R = residual` for a fixed-rate stream (its frames do not overlap each other) and
  `R = residual + rate * x^2 / 2` for a Poisson one (the source's `poisson`): the stream
  model's queueing at that site, its shortest-work-first classes taken as one FIFO class
  (the planner's estimate, the game prices the exact formula). A worker whose load would
  reach its `cap` refuses it (inf). Without a background every wait is `backlog / speed`
  plus, for a Poisson stream, its own term.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fognet.errors import ConfigError, PlanError

PeerId = str


@dataclass(frozen=True)
class PeerState:
    """What a peer offers: `speed` reference-seconds per second, `backlog` reference-seconds
    queued, `quota` subtasks per round, `nic` bytes/s shared by its transfers (None: unshared),
    `memory` bytes it lends to partitions (None: no limit; see partition/memory.py);
    for joint planning the others' streams on it (`load`, `residual` s, refused at `cap`), and
    as the planning source its own frame `rate` and whether its frames arrive as a Poisson
    stream (`poisson`; module doc)."""

    id: PeerId
    speed: float
    backlog: float = 0.0
    quota: int = 1
    nic: float | None = None
    load: float = 0.0
    residual: float = 0.0
    cap: float = 1.0  # 1.0: never refuses (a source's own device)
    rate: float = 0.0  # frames/s, as the planning source; 0: the piece's own load is not counted
    poisson: bool = False  # as the planning source: its frames arrive as a Poisson stream
    memory: float | None = None

    def __post_init__(self) -> None:
        if not self.speed > 0 or not math.isfinite(self.speed):
            raise ConfigError(f"peer {self.id!r}: speed must be a positive number, not {self.speed}")
        if not self.backlog >= 0:
            raise ConfigError(f"peer {self.id!r}: backlog must be >= 0 reference-seconds, not {self.backlog}")
        if self.quota < 0:
            raise ConfigError(f"peer {self.id!r}: quota must be >= 0, not {self.quota}")
        if self.nic is not None and not self.nic > 0:
            raise ConfigError(f"peer {self.id!r}: nic must be a positive bytes/s, not {self.nic}")
        if self.memory is not None and not self.memory > 0:
            raise ConfigError(f"peer {self.id!r}: memory must be a positive number of bytes, not {self.memory}")

    @property
    def wait(self) -> float:
        """Seconds until this peer's backlog is cleared (and the others' streams' wait for a
        piece that adds no load of its own)."""
        return self.stream_wait(0.0, 0.0)

    def stream_wait(self, service, rate: float, poisson: bool = False):
        """The wait of a piece of `service` s (a number or numpy array) at `rate` frames/s
        among the others' streams (module doc); a `poisson` stream's frames also wait for
        each other (its own `rate * service^2 / 2` in the residual); inf where the load
        would reach the cap."""
        base = self.backlog / self.speed
        if self.residual <= 0 and self.load <= 0 and rate <= 0:
            return base + 0.0 * np.asarray(service) if isinstance(service, np.ndarray) else base
        x = np.asarray(service, dtype=float)
        load = self.load + rate * x
        residual = self.residual + rate * x * x / 2 if poisson else self.residual
        room = np.maximum(1.0 - load, 1e-3)
        wait = base + residual / room
        if self.cap < 1.0:
            wait = np.where(load >= self.cap, math.inf, wait)
        return wait if isinstance(service, np.ndarray) else float(wait)


@dataclass(frozen=True)
class LinkState:
    """A symmetric link: `bandwidth` bytes/s, `latency` seconds."""

    bandwidth: float
    latency: float = 0.0

    def __post_init__(self) -> None:
        if not self.bandwidth > 0:
            raise ConfigError(f"link bandwidth must be a positive bytes/s, not {self.bandwidth}")
        if not self.latency >= 0:
            raise ConfigError(f"link latency must be >= 0 s, not {self.latency}")


LOCAL = LinkState(bandwidth=math.inf, latency=0.0)  # a peer to itself: free


def _pair(a: PeerId, b: PeerId) -> tuple[PeerId, PeerId]:
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class ClusterState:
    """Peers by id, links by unordered pair, and the link assumed for pairs not listed.

    `links` may be keyed by (a, b) in either order; it is stored with sorted keys.
    """

    peers: Mapping[PeerId, PeerState]
    links: Mapping[tuple[PeerId, PeerId], LinkState] = field(default_factory=dict)
    default_link: LinkState | None = None

    def __post_init__(self) -> None:
        for pid, peer in self.peers.items():
            if pid != peer.id:
                raise ConfigError(f"peer listed as {pid!r} calls itself {peer.id!r}")
        links: dict[tuple[PeerId, PeerId], LinkState] = {}
        for (a, b), link in self.links.items():
            key = _pair(a, b)
            if key in links and links[key] != link:
                raise ConfigError(f"link {a}-{b} is given twice with different values")
            links[key] = link
        object.__setattr__(self, "peers", dict(self.peers))
        object.__setattr__(self, "links", links)

    @classmethod
    def of(
        cls,
        peers: Iterable[PeerState],
        links: Mapping[tuple[PeerId, PeerId], LinkState] | None = None,
        default_link: LinkState | None = None,
    ) -> ClusterState:
        return cls({p.id: p for p in peers}, dict(links or {}), default_link)

    def link(self, a: PeerId, b: PeerId) -> LinkState | None:
        """The link between a and b (either order); free for a == b; None if out of reach."""
        if a == b:
            return LOCAL
        return self.links.get(_pair(a, b), self.default_link)

    def peer(self, pid: PeerId) -> PeerState:
        try:
            return self.peers[pid]
        except KeyError:
            raise PlanError(f"peer {pid!r} is not in the cluster state") from None


def transfer_time(cluster: ClusterState, a: PeerId, b: PeerId, nbytes):
    """Seconds to move `nbytes` (a number or a numpy array) from a to b; inf if unreachable."""
    return _over_link(cluster, a, b, nbytes, nic_capped=False)


def _over_link(cluster: ClusterState, a: PeerId, b: PeerId, nbytes, nic_capped: bool):
    """The one transfer rule of the module doc: 0 on the same peer, inf out of reach, else
    latency plus bytes over the link's bandwidth (capped by a's NIC when `nic_capped`)."""
    if a == b:
        return 0.0 * np.asarray(nbytes) if isinstance(nbytes, np.ndarray) else 0.0
    link = cluster.link(a, b)
    if link is None:
        return np.full(np.shape(nbytes), math.inf) if isinstance(nbytes, np.ndarray) else math.inf
    rate = send_rate(link, cluster.peer(a).nic) if nic_capped else link.bandwidth
    return link.latency + nbytes / rate


@dataclass(frozen=True)
class SubtaskTiming:
    """The parts of a subtask's predicted latency, in seconds."""

    transfer_in: float
    wait: float
    compute: float
    transfer_out: float

    @property
    def total(self) -> float:
        return self.transfer_in + self.wait + self.compute + self.transfer_out


def subtask_latency(
    cluster: ClusterState,
    src: PeerId,
    peer: PeerId,
    work: float,
    in_bytes: float,
    out_bytes: float,
    extra_wait: float = 0.0,
    streamed: bool = False,
) -> SubtaskTiming:
    """`f_s(p)`: input sent src -> peer on its link alone, queue, compute, output sent back.
    `streamed`: the wait counts the source's own stream on the peer (`PeerState.stream_wait`
    at its `rate`, `poisson`), as the planner prices a whole stage; else it is `p.wait`."""
    p = cluster.peer(peer)
    compute = work / p.speed
    if streamed:
        own = cluster.peer(src)
        wait = float(p.stream_wait(compute, own.rate, own.poisson))
    else:
        wait = p.wait
    return SubtaskTiming(
        transfer_in=float(transfer_time(cluster, src, peer, in_bytes)),
        wait=wait + extra_wait,
        compute=compute,
        transfer_out=float(transfer_time(cluster, peer, src, out_bytes)),
    )


@dataclass(frozen=True)
class Slice:
    """One subtask of a stage: `work` reference-seconds, bytes in from and out to the source."""

    work: float
    in_bytes: float
    out_bytes: float


@dataclass(frozen=True)
class StageTiming:
    slices: tuple[SubtaskTiming, ...]
    nic_floor: float  # seconds of NIC airtime all the stage's sends take (0 if unshared)

    @property
    def total(self) -> float:
        return max(s.total for s in self.slices)


def send_rate(link: LinkState, nic: float | None) -> float:
    """Bytes/s a source sends at over `link`: the link's bandwidth, capped by the source's
    NIC when it is known (one place for the NIC rule of the module doc)."""
    return min(link.bandwidth, nic) if nic else link.bandwidth


def send_time(cluster: ClusterState, src: PeerId, peer: PeerId, nbytes):
    """Seconds for `src` to send `nbytes` (a number or array) to `peer` alone, at the slower
    of the link and the source's NIC; 0 on the same peer, inf out of reach."""
    return _over_link(cluster, src, peer, nbytes, nic_capped=True)


def stage_latency(
    cluster: ClusterState,
    src: PeerId,
    placements: Sequence[tuple[PeerId, Slice]],
    extra_waits: Sequence[float] | None = None,
    streamed: bool = False,
) -> StageTiming:
    """A stage's slices on their peers, the source's NIC shared by their sends (module doc);
    `streamed` as in `subtask_latency`."""
    if not placements:
        raise PlanError("a stage needs at least one slice")
    waits = list(extra_waits) if extra_waits is not None else [0.0] * len(placements)
    nic = cluster.peer(src).nic
    airtime = 0.0
    timings = []
    for (peer, s), extra in zip(placements, waits, strict=True):
        t = subtask_latency(cluster, src, peer, s.work, s.in_bytes, s.out_bytes, extra, streamed)
        link = cluster.link(src, peer)
        if peer != src and nic and link is not None:
            airtime += s.in_bytes / send_rate(link, nic)
            t = SubtaskTiming(link.latency + airtime, t.wait, t.compute, t.transfer_out)
        timings.append(t)
    return StageTiming(tuple(timings), airtime)


def plan_latency(
    cluster: ClusterState, src: PeerId, stages: Iterable[Sequence[tuple[PeerId, Slice]]]
) -> float:
    """Sum of the stages' latencies: the source merges each stage before sending the next."""
    return sum(stage_latency(cluster, src, stage).total for stage in stages)


def finish_together_shares(
    total_rows: float, fixed: Sequence[float], per_row: Sequence[float]
) -> tuple[list[float], float]:
    """Real row shares x_p >= 0 summing to `total_rows` with `fixed_p + x_p * per_row_p` equal
    (= the returned finish time T) for every peer given rows, and `fixed_p >= T` for the others.

    Water-filling: peers join in order of fixed cost while the common finish time still
    exceeds their fixed cost. A peer with per-row cost 0 (a stage of free ops) caps T at
    its fixed cost and takes every row the others cannot finish by then.
    """
    n = len(fixed)
    if n != len(per_row) or n == 0:
        raise PlanError(f"{len(fixed)} fixed costs and {len(per_row)} per-row costs: need equal, non-zero counts")
    for c in per_row:
        if not c >= 0:
            raise PlanError(f"per-row cost must be >= 0, not {c}")
    usable = [p for p in range(n) if math.isfinite(fixed[p]) and math.isfinite(per_row[p])]
    if not usable:
        raise PlanError("no peer can take a slice: every fixed or per-row cost is infinite")
    usable.sort(key=lambda p: (fixed[p], p))
    shares = [0.0] * n
    a = b = 0.0  # sum of f/c and of 1/c over the active peers
    for k, p in enumerate(usable):
        if per_row[p] == 0:
            return _capped_by_free_peer(total_rows, fixed, per_row, usable, k), fixed[p]
        a += fixed[p] / per_row[p]
        b += 1.0 / per_row[p]
        finish = (total_rows + a) / b
        if k + 1 == len(usable) or finish <= fixed[usable[k + 1]]:
            break
    for q in usable[: k + 1]:
        shares[q] = max(0.0, (finish - fixed[q]) / per_row[q])
    return shares, finish


def _capped_by_free_peer(
    total_rows: float, fixed: Sequence[float], per_row: Sequence[float], usable: list[int], k: int
) -> list[float]:
    """Shares when usable[k] has per-row cost 0 and the peers before it cannot finish first."""
    finish = fixed[usable[k]]
    shares = [0.0] * len(fixed)
    for q in usable[:k]:
        shares[q] = (finish - fixed[q]) / per_row[q]
    free = [q for q in usable[k:] if per_row[q] == 0 and fixed[q] == finish]
    rest = max(0.0, total_rows - sum(shares))
    for q in free:
        shares[q] = rest / len(free)
    return shares


def largest_remainder(shares: Sequence[float], total: int) -> list[int]:
    """Whole numbers summing to `total`, each the floor of its share or one more."""
    scale = total / sum(shares) if sum(shares) > 0 else 0.0
    exact = [s * scale for s in shares]
    counts = [int(math.floor(x)) for x in exact]
    left = total - sum(counts)
    order = sorted(range(len(exact)), key=lambda p: (-(exact[p] - counts[p]), p))
    for p in order[:left]:
        counts[p] += 1
    return counts


def finish_together_rows(total_rows: int, fixed: Sequence[float], per_row: Sequence[float]) -> list[int]:
    """Whole rows per peer so that all peers with rows are predicted to finish together.

    Peer p finishes at `fixed[p] + rows[p] * per_row[p]`; `fixed` holds its transfer
    latencies, wait and per-slice fixed bytes / bw, `per_row` its per-row compute and
    bytes. A peer may get 0 rows. With equal fixed costs the split is proportional to
    1 / per_row (to speed when links are equal).
    """
    if total_rows < 0:
        raise PlanError(f"cannot split {total_rows} rows")
    if total_rows == 0:
        return [0] * len(fixed)
    shares, _ = finish_together_shares(total_rows, fixed, per_row)
    return largest_remainder(shares, total_rows)
