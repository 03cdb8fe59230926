"""The stream cost model of DESIGN.md: one implementation for the game, the agents, the
checker and the exact optimum.

A site is a worker or a source's own device. On a site, the slices of one stage of one
source are merged into one *piece* (work and bytes added). Frames arrive at their source's
rate, so a site is a queue: piece i has rate `lambda_i` = its source's rate and service
`x_i = w_i / speed`; the backlog is a phantom job `b = q / speed` arriving once a round.
A shortest-work-first site waits by Cobham's formula (pieces of equal work are one class),
a FIFO site by Pollaczek-Khinchine; a fixed-rate stream does not wait for its own frames
(`R_i` leaves out its source's second moment), a Poisson one does. A worker refuses load
that reaches its cap (or, if it has one, more subtasks than its quota); a source's own
device never refuses, but past 0.999 it pays a steep penalty so that the game climbs out.

Transfers (star topology: the source sends each piece its input and gets its output):
`t_in = max(lat + in/bw, lat + PS/nic_src, in/nic_site)`, where the remote pieces of one
stage share the source's NIC in processor sharing; `t_out = max(lat + out/bw,
out/nic_src, out/nic_site)`. A piece's latency is `t_in + W + x + t_out`, a stage's is its
slowest piece's, a task's is the sum of its stages', and the objective is
`J = sum_s rate_s * task_s`.

Every function sorts what it sums (pieces by (source, stage), subtasks by id), so the same
set gives bit-identical numbers wherever it is priced: the central game and the agents
decide every step on the same floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from fognet.matching.instance import Instance, PeerId, Subtask, SubtaskId

# A step is approved only if it lowers J by more than this: float noise must never count
# as an improvement, or the game could cycle on exact ties.
EPS = 1e-12
INF = math.inf
OWN_CAP = 0.999  # the load a source's own device is priced at, at most
PENALTY = 1000.0  # s of wait per unit of load past OWN_CAP on a source's own device

PieceKey = tuple[PeerId, int]  # (source, stage)
Finish = Mapping[PieceKey, float]  # wait + service of each piece on a site, s


def is_worker(inst: Instance, site: PeerId) -> bool:
    return site in inst._workers


def allowed(inst: Instance, s: Subtask, site: PeerId) -> bool:
    """May s run on site at all (its own device, or a worker in reach)?"""
    if site == s.source:
        return True
    return is_worker(inst, site) and inst.link(s.source, site) is not None


def _speed_backlog(inst: Instance, site: PeerId) -> tuple[float, float]:
    dev = inst.worker(site) if is_worker(inst, site) else inst.local_of(site)
    return dev.speed, dev.backlog


class Piece(NamedTuple):
    """The slices of one stage of one source on one site, merged (a tuple: built often)."""

    source: PeerId
    stage: int
    work: float  # reference-seconds
    in_bytes: float
    out_bytes: float


def pieces(subtasks: Iterable[Subtask]) -> list[Piece]:
    """The pieces these subtasks form on one site, in (source, stage) order."""
    groups: dict[PieceKey, list[Subtask]] = {}
    for s in sorted(subtasks, key=_by_id):
        key = (s.source, s.stage)
        if key in groups:
            groups[key].append(s)
        else:
            groups[key] = [s]
    out = []
    for (src, stage), subs in sorted(groups.items()):
        work = in_b = out_b = 0.0
        for s in subs:
            work += s.work
            in_b += s.in_bytes
            out_b += s.out_bytes
        out.append(Piece(src, stage, work, in_b, out_b))
    return out


def _by_id(s: Subtask) -> str:
    return s.id


def site_load(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> float:
    """rho: the share of the site's time its backlog and these subtasks' streams take."""
    speed, backlog = _speed_backlog(inst, site)
    rho = backlog / speed / inst.round_s
    for p in pieces(subtasks):
        rho += inst.local_of(p.source).rate * p.work / speed
    return rho


def fits(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> bool:
    """Would the site take exactly these subtasks? A worker refuses a load at its cap, or
    more subtasks than its quota; a source's own device takes anything."""
    if not is_worker(inst, site):
        return True
    subtasks = list(subtasks)
    w = inst.worker(site)
    if w.quota is not None and len(subtasks) > w.quota:
        return False
    return site_load(inst, site, subtasks) < w.cap


def site_finish(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> dict[PieceKey, float]:
    """Each piece's expected wait plus service on the site (s), the site taking exactly
    these subtasks (feasibility is `fits`' question, not this one's)."""
    speed, backlog = _speed_backlog(inst, site)
    own = not is_worker(inst, site)
    T = inst.round_s
    b = backlog / speed
    jobs = [(p.work / speed, inst.local_of(p.source).rate, p.source, p.stage) for p in pieces(subtasks)]
    rho = b / T
    second = b * b / T
    by_source: dict[PeerId, float] = {}
    for x, lam, src, _ in jobs:
        rho += lam * x
        second += lam * x * x
        by_source[src] = by_source.get(src, 0.0) + lam * x * x
    # load of work strictly below / not above each distinct service time (phantom included)
    classes: dict[float, float] = {}
    if b > 0:
        classes[b] = 1.0 / T * b
    for x, lam, _, _ in jobs:
        classes[x] = classes.get(x, 0.0) + lam * x
    below: dict[float, tuple[float, float]] = {}
    acc = 0.0
    for x in sorted(classes):
        below[x] = (acc, acc + classes[x])
        acc += classes[x]
    cap = OWN_CAP if own else 1.0
    penalty = PENALTY * (rho - OWN_CAP) if own and rho > OWN_CAP else 0.0
    out: dict[PieceKey, float] = {}
    for x, _, src, stage in jobs:
        if inst.arrival == "fixed":
            r = max(0.0, second - by_source[src]) / 2
        else:
            r = second / 2
        if inst.queue == "fifo":
            room = 1 - min(rho, cap)
        else:
            lt, le = below[x]
            room = (1 - min(lt, cap)) * (1 - min(le, cap))
        # a worker past saturation would be refused (`fits`); priced anyway, it never ends
        wait = r / room if room > 0 else INF
        out[(src, stage)] = wait + penalty + x
    return out


def transfer(inst: Instance, source: PeerId, site: PeerId, in_b: float, out_b: float,
             shared_in: float) -> tuple[float, float]:
    """(t_in, t_out) of a piece of `source` on `site`; `shared_in` is its processor-sharing
    share of the source's NIC (PS_i). Zero on the source's own device."""
    if site == source:
        return 0.0, 0.0
    link = inst.link(source, site)
    if link is None:
        return INF, INF
    nic_src = inst.local_of(source).nic
    nic_site = inst.worker(site).nic
    t_in = link.latency + in_b / link.bandwidth
    t_out = link.latency + out_b / link.bandwidth
    if nic_src is not None:
        t_in = max(t_in, link.latency + shared_in / nic_src)
        t_out = max(t_out, out_b / nic_src)
    if nic_site is not None:
        t_in = max(t_in, in_b / nic_site)
        t_out = max(t_out, out_b / nic_site)
    return t_in, t_out


def piece_latencies(inst: Instance, source: PeerId, stage: int,
                    placed: Mapping[PeerId, Iterable[Subtask]],
                    finish_of: Callable[[PeerId], Finish]) -> dict[PeerId, float]:
    """Each piece's latency `t_in + W + x + t_out` for one stage: `placed` maps each site
    to the stage's slices there, `finish_of(site)` gives the site's piece finish times."""
    merged = []
    for site in sorted(placed):
        (p,) = pieces(placed[site])
        merged.append((site, p))
    remote = sorted(p.in_bytes for site, p in merged if site != source)
    out: dict[PeerId, float] = {}
    for site, p in merged:
        shared = 0.0
        if site != source:
            smaller = sum(v for v in remote if v < p.in_bytes)
            shared = smaller + sum(1 for v in remote if v >= p.in_bytes) * p.in_bytes
        t_in, t_out = transfer(inst, source, site, p.in_bytes, p.out_bytes, shared)
        out[site] = t_in + finish_of(site)[(source, stage)] + t_out
    return out


def stage_latency(inst: Instance, source: PeerId, stage: int,
                  placed: Mapping[PeerId, Iterable[Subtask]],
                  finish_of: Callable[[PeerId], Finish]) -> float:
    """The stage's latency: its slowest piece."""
    return max(piece_latencies(inst, source, stage, placed, finish_of).values(), default=0.0)


def task_latency(inst: Instance, source: PeerId, where: Mapping[Subtask, PeerId],
                 finish_of: Callable[[PeerId], Finish]) -> float:
    """A frame's latency through the source's stages: `where` places each of its subtasks."""
    stages: dict[int, dict[PeerId, list[Subtask]]] = {}
    for s, site in where.items():
        stages.setdefault(s.stage, {}).setdefault(site, []).append(s)
    total = 0.0
    for k in sorted(stages):
        total += stage_latency(inst, source, k, stages[k], finish_of)
    return total


def source_part(inst: Instance, source: PeerId, where: Mapping[Subtask, PeerId],
                finish_of: Callable[[PeerId], Finish]) -> float:
    """The source's share of J: rate x task latency (frame-seconds per second)."""
    return inst.local_of(source).rate * task_latency(inst, source, where, finish_of)


def standalone(inst: Instance, s: Subtask, site: PeerId) -> float:
    """s's latency on site alone (only the site's backlog there); inf where barred or
    where it alone would reach the worker's cap (the ranking of phase 1)."""
    if not allowed(inst, s, site) or not fits(inst, site, [s]):
        return INF
    finish = site_finish(inst, site, [s])
    return stage_latency(inst, s.source, s.stage, {site: [s]}, lambda _: finish)


@dataclass(frozen=True)
class Evaluation:
    """A whole matching priced: each subtask's piece latency, each source's task latency."""

    latency: Mapping[SubtaskId, float]  # s, the latency of the piece a subtask is in
    task_latency: Mapping[PeerId, float]  # s
    objective: float  # J, frame-seconds per second


def evaluate(inst: Instance, assignment: Mapping[str, str]) -> Evaluation:
    """Price a complete assignment (feasibility is `check.feasibility`'s question)."""
    on: dict[PeerId, list[Subtask]] = {}
    for s in inst.subtasks:
        on.setdefault(PeerId(assignment[s.id]), []).append(s)
    finish = {site: site_finish(inst, site, subs) for site, subs in on.items()}
    latency: dict[SubtaskId, float] = {}
    tasks: dict[PeerId, float] = {}
    objective = 0.0
    for src in inst.sources:
        mine = {s: PeerId(assignment[s.id]) for s in inst.subtasks if s.source == src}
        tasks[src] = task_latency(inst, src, mine, finish.__getitem__)
        objective += inst.local_of(src).rate * tasks[src]
        stages: dict[int, dict[PeerId, list[Subtask]]] = {}
        for s, site in mine.items():
            stages.setdefault(s.stage, {}).setdefault(site, []).append(s)
        for k, placed in stages.items():
            per_site = piece_latencies(inst, src, k, placed, finish.__getitem__)
            for site, subs in placed.items():
                for s in subs:
                    latency[s.id] = per_site[site]
    return Evaluation({s.id: latency[s.id] for s in inst.subtasks}, tasks, objective)
