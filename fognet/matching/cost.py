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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

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


def merge(source: PeerId, stage: int, subs: Sequence[Subtask]) -> Piece:
    """One piece from one stage's slices on a site, `subs` in id order (the order every
    price adds them in, so the same slices always give the same floats)."""
    work = in_b = out_b = 0.0
    for s in subs:
        work += s.work
        in_b += s.in_bytes
        out_b += s.out_bytes
    return Piece(source, stage, work, in_b, out_b)


def pieces(subtasks: Iterable[Subtask]) -> list[Piece]:
    """The pieces these subtasks form on one site, in (source, stage) order."""
    groups: dict[PieceKey, list[Subtask]] = {}
    for s in sorted(subtasks, key=by_id):
        key = (s.source, s.stage)
        if key in groups:
            groups[key].append(s)
        else:
            groups[key] = [s]
    return [merge(src, stage, subs) for (src, stage), subs in sorted(groups.items())]


def by_id(s: Subtask) -> str:
    return s.id


def site_load(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> float:
    """rho: the share of the site's time its backlog and these subtasks' streams take."""
    return load_of(inst, site, pieces(subtasks))


def load_of(inst: Instance, site: PeerId, ps: Iterable[Piece]) -> float:
    """`site_load` of the site's pieces (in (source, stage) order)."""
    speed, backlog = _speed_backlog(inst, site)
    rho = backlog / speed / inst.round_s
    local = inst._local
    for p in ps:
        rho += local[p.source].rate * p.work / speed
    return rho


def fits(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> bool:
    """Would the site take exactly these subtasks? A worker refuses a load at its cap, or
    more subtasks than its quota; a source's own device takes anything."""
    if not is_worker(inst, site):
        return True
    subtasks = list(subtasks)
    return fits_pieces(inst, site, len(subtasks), pieces(subtasks))


def fits_pieces(inst: Instance, site: PeerId, count: int, ps: Iterable[Piece]) -> bool:
    """`fits` of `count` subtasks forming the pieces `ps` (in (source, stage) order)."""
    w = inst._workers.get(site)
    if w is None:
        return True
    if w.quota is not None and count > w.quota:
        return False
    return load_of(inst, site, ps) < w.cap


def site_finish(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> dict[PieceKey, float]:
    """Each piece's expected wait plus service on the site (s), the site taking exactly
    these subtasks (feasibility is `fits`' question, not this one's)."""
    return finish_pieces(inst, site, pieces(subtasks))


class Moments(NamedTuple):
    """A site's queue as its formulas read it (the phantom backlog included)."""

    rho: float  # load
    second: float  # B = sum of rate x service^2 (the backlog's b^2 / T)
    by_source: dict[PeerId, float]  # B's share of each source's pieces
    jobs: list[tuple[float, PeerId, int]]  # (service, source, stage) per piece
    backlog: float  # the phantom's service b


def moments(inst: Instance, site: PeerId, ps: Iterable[Piece]) -> Moments:
    """The load and second moment of a site's pieces (in (source, stage) order): the one
    loop `finish_pieces` and the bounds' per-worker moments share."""
    worker = inst._workers.get(site)
    dev = worker if worker is not None else inst._local[site]
    speed, T = dev.speed, inst.round_s
    b = dev.backlog / speed
    local = inst._local
    jobs = []
    rho = b / T
    second = b * b / T
    by_source: dict[PeerId, float] = {}
    for p in ps:
        x = p.work / speed
        lam = local[p.source].rate
        jobs.append((x, p.source, p.stage))
        rho += lam * x
        share = lam * x * x
        second += share
        by_source[p.source] = by_source.get(p.source, 0.0) + share
    return Moments(rho, second, by_source, jobs, b)


def finish_pieces(inst: Instance, site: PeerId, ps: Iterable[Piece]) -> dict[PieceKey, float]:
    """`site_finish` of the site's pieces (in (source, stage) order)."""
    own = site not in inst._workers
    T = inst.round_s
    local = inst._local
    rho, second, by_source, jobs, b = moments(inst, site, ps)
    cap = OWN_CAP if own else 1.0
    penalty = PENALTY * (rho - OWN_CAP) if own and rho > OWN_CAP else 0.0
    fixed = inst.arrival == "fixed"
    out: dict[PieceKey, float] = {}
    if inst.queue == "fifo":
        room = 1 - min(rho, cap)
        for x, src, stage in jobs:
            r = max(0.0, second - by_source[src]) / 2 if fixed else second / 2
            wait = r / room if room > 0 else INF
            out[(src, stage)] = wait + penalty + x
        return out
    # SJF: load of work strictly below / not above each distinct service time (phantom included)
    classes: dict[float, float] = {}
    if b > 0:
        classes[b] = 1.0 / T * b
    for x, src, _ in jobs:
        classes[x] = classes.get(x, 0.0) + local[src].rate * x
    rooms: dict[float, float] = {}
    acc = 0.0
    for x in sorted(classes):
        lt, le = acc, acc + classes[x]
        rooms[x] = (1 - min(lt, cap)) * (1 - min(le, cap))
        acc += classes[x]
    for x, src, stage in jobs:
        r = max(0.0, second - by_source[src]) / 2 if fixed else second / 2
        room = rooms[x]
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
    route = inst._routes.get((source, site))
    if route is None:
        route = inst._routes[(source, site)] = _route(inst, source, site)
    lat, bw, nic_src, nic_site = route
    if bw is None:
        return INF, INF
    t_in = lat + in_b / bw
    t_out = lat + out_b / bw
    if nic_src is not None:  # conditionals, not max(): the same floats, on the hot path
        v = lat + shared_in / nic_src
        t_in = v if v > t_in else t_in
        v = out_b / nic_src
        t_out = v if v > t_out else t_out
    if nic_site is not None:
        v = in_b / nic_site
        t_in = v if v > t_in else t_in
        v = out_b / nic_site
        t_out = v if v > t_out else t_out
    return t_in, t_out


def _route(inst: Instance, source: PeerId, site: PeerId) -> tuple:
    """(latency, bandwidth, source NIC, site NIC) of a source-worker pair; bandwidth None
    if out of reach."""
    link = inst.link(source, site)
    if link is None:
        return (INF, None, None, None)
    return (link.latency, link.bandwidth, inst.local_of(source).nic, inst.worker(site).nic)


def piece_latencies(inst: Instance, source: PeerId, stage: int,
                    placed: Mapping[PeerId, Iterable[Subtask]],
                    finish_of: Callable[[PeerId], Finish]) -> dict[PeerId, float]:
    """Each piece's latency `t_in + W + x + t_out` for one stage: `placed` maps each site
    to the stage's slices there, `finish_of(site)` gives the site's piece finish times."""
    merged = []
    for site in sorted(placed):
        (p,) = pieces(placed[site])
        merged.append((site, p))
    return latencies_of(inst, source, merged, finish_of)


def latencies_of(inst: Instance, source: PeerId, merged: Sequence[tuple[PeerId, Piece]],
                 finish_of: Callable[[PeerId], Finish]) -> dict[PeerId, float]:
    """`piece_latencies` of one stage's pieces, `merged` = [(site, piece)] in site order."""
    remote = sorted(p.in_bytes for site, p in merged if site != source)
    out: dict[PeerId, float] = {}
    for site, p in merged:
        shared = 0.0
        if site != source and len(remote) == 1:
            shared = p.in_bytes  # what the sums below give for one piece (0 + 1 x in)
        elif site != source:
            smaller = sum(v for v in remote if v < p.in_bytes)
            shared = smaller + sum(1 for v in remote if v >= p.in_bytes) * p.in_bytes
        t_in, t_out = transfer(inst, source, site, p.in_bytes, p.out_bytes, shared)
        out[site] = t_in + finish_of(site)[(source, p.stage)] + t_out
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
    if site == s.source:
        return float(standalone_table(inst, [s])[0, -1])
    if not is_worker(inst, site):
        return INF
    k = next(j for j, w in enumerate(inst.workers) if w.id == site)
    return float(standalone_table(inst, [s], inst.workers[k:k + 1])[0, 0])


def standalone_table(inst: Instance, subs: Sequence[Subtask], workers=None) -> np.ndarray:
    """`standalone` of every subtask (rows) on every worker (columns, instance order) and
    last on its own device, at once: `site_finish` and `piece_latencies` of one piece,
    written elementwise in the same operations and order, so the same floats."""
    workers = inst.workers if workers is None else workers
    n, nw, T = len(subs), len(workers), inst.round_s
    local = [inst.local_of(s.source) for s in subs]
    col = np.array  # rows: subtasks, columns: workers, then the own device
    speed = np.hstack([np.tile(col([w.speed for w in workers], float), (n, 1)),
                       col([[d.speed] for d in local], float).reshape(n, 1)])
    backlog = np.hstack([np.tile(col([w.backlog for w in workers], float), (n, 1)),
                         col([[d.backlog] for d in local], float).reshape(n, 1)])
    own = np.zeros((n, nw + 1), bool)
    own[:, -1] = True
    lam = col([d.rate for d in local], float)[:, None]
    work = col([s.work for s in subs], float)[:, None]
    in_b = col([float(s.in_bytes) for s in subs])[:, None]
    out_b = col([float(s.out_bytes) for s in subs])[:, None]
    b, x = backlog / speed, work / speed
    rho = b / T + lam * x
    second = b * b / T + lam * x * x
    mine = 0.0 + lam * x * x
    cls_b = 1.0 / T * b  # the phantom's class, and the piece's (merged if equal work)
    cls_x = np.where((b > 0) & (b == x), cls_b + lam * x, lam * x)
    below = (b > 0) & (b < x)
    lt = np.where(below, cls_b, 0.0)
    le = np.where(below, cls_b + cls_x, 0.0 + cls_x)
    cap = np.where(own, OWN_CAP, 1.0)
    penalty = np.where(own & (rho > OWN_CAP), PENALTY * (rho - OWN_CAP), 0.0)
    r = np.maximum(0.0, second - mine) / 2 if inst.arrival == "fixed" else second / 2
    if inst.queue == "fifo":
        room = 1 - np.minimum(rho, cap)
    else:
        room = (1 - np.minimum(lt, cap)) * (1 - np.minimum(le, cap))
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = np.where(room > 0, r / np.where(room > 0, room, 1.0), INF)
    finish = wait + penalty + x
    # transfers to each worker (zero on the own device), and who may take it at all
    lat, bw = np.full((n, nw + 1), INF), np.full((n, nw + 1), INF)
    nic_src = col([d.nic if d.nic is not None else INF for d in local], float)[:, None]
    nic_w = np.hstack([col([w.nic if w.nic is not None else INF for w in workers], float),
                       [INF]])[None, :]
    rows: dict[PeerId, tuple[list[float], list[float]]] = {}  # per source, not per subtask
    for i, s in enumerate(subs):
        if s.source not in rows:
            links = [inst.link(s.source, w.id) for w in workers]
            rows[s.source] = ([INF if k is None else k.latency for k in links] + [INF],
                              [INF if k is None else k.bandwidth for k in links] + [INF])
        lat[i], bw[i] = rows[s.source]
    with np.errstate(invalid="ignore"):
        t_in = np.maximum(np.maximum(lat + in_b / bw, lat + in_b / nic_src), in_b / nic_w)
        t_out = np.maximum(np.maximum(lat + out_b / bw, out_b / nic_src), out_b / nic_w)
    t_in[:, -1] = t_out[:, -1] = 0.0
    out = t_in + finish + t_out
    quota = col([w.quota if w.quota is not None else 1 for w in workers] + [1])[None, :]
    wcap = col([w.cap for w in workers] + [INF], float)[None, :]
    load = b / T + lam * work / speed  # `site_load`'s order, which `fits` compares
    ok = own | (np.isfinite(lat) & (quota >= 1) & (load < wcap))
    return np.where(ok, out, INF)


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
