"""The latency formula of DINA-O: a subtask on a site, given who else is on that site.

`f_s(p) = transfer(src->p, in) + q_p/speed_p + (work ahead of s on p)/speed_p + w_s/speed_p
+ transfer(p->src, out)`, where a site serves its subtasks shortest-work-first, ties by
(source id, subtask id). A transfer of n bytes over a link takes `latency + n/bandwidth`;
on the source's own device it takes 0, and the own device has no quota. A worker with no
link to a source (and no default link) is out of reach: cost +inf.

This module is the one formula the game, the checker and the exact solver share.
`site_latencies` is the plain reference; `CostTable` precomputes the per-pair parts
as numpy arrays for the fast paths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from fognet.matching.instance import Instance, PeerId, Subtask, SubtaskId

# A step is approved only if it lowers a total by more than this (seconds): float noise
# must never count as an improvement, or the game could cycle on exact ties.
EPS = 1e-12

INF = math.inf


def order_key(s: Subtask) -> tuple[float, str, str]:
    """Shortest work first; ties by (source id, subtask id)."""
    return (s.work, s.source, s.id)


def is_worker(inst: Instance, site: PeerId) -> bool:
    return site in inst._workers


def allowed(inst: Instance, s: Subtask, site: PeerId) -> bool:
    """May s run on site at all (its own device, or a worker in reach)?"""
    if site == s.source:
        return True
    return is_worker(inst, site) and inst.link(s.source, site) is not None


def standalone(inst: Instance, s: Subtask, site: PeerId) -> float:
    """s's latency on site with nothing ahead of it but the site's backlog (inf if barred)."""
    if site == s.source:
        dev = inst.local_of(s.source)
        return (dev.backlog + s.work) / dev.speed
    if not is_worker(inst, site):
        return INF
    link = inst.link(s.source, site)
    if link is None:
        return INF
    w = inst.worker(site)
    transfer = 2 * link.latency + (s.in_bytes + s.out_bytes) / link.bandwidth
    return transfer + (w.backlog + s.work) / w.speed


def site_speed(inst: Instance, site: PeerId) -> float:
    return inst.worker(site).speed if is_worker(inst, site) else inst.local_of(site).speed


def site_latencies(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> dict[SubtaskId, float]:
    """Each subtask's latency when exactly these subtasks share this site."""
    speed = site_speed(inst, site)
    out: dict[SubtaskId, float] = {}
    ahead = 0.0
    for s in sorted(subtasks, key=order_key):
        out[s.id] = standalone(inst, s, site) + ahead / speed
        ahead += s.work
    return out


def site_total(inst: Instance, site: PeerId, subtasks: Iterable[Subtask]) -> float:
    return sum(site_latencies(inst, site, subtasks).values())


@dataclass(frozen=True)
class CostTable:
    """Per-pair costs as arrays, indexed for the fast paths.

    Subtasks are indexed in (source id, subtask id) order, the tie-break order; sites are
    the workers in instance order, then each source's own device in source-id order.
    `base[i, j]` is subtask i's standalone latency on site j (inf where barred), `rank[i]`
    its place in shortest-work-first order over all subtasks (on any site, the subtask of
    lower rank goes first).
    """

    inst: Instance
    subtasks: tuple[Subtask, ...]
    sites: tuple[PeerId, ...]
    n_workers: int
    base: np.ndarray  # (N, W + S) seconds
    work: np.ndarray  # (N,) reference-seconds
    rank: np.ndarray  # (N,) int
    speed: np.ndarray  # (W + S,)
    quota: np.ndarray  # (W + S,) int; own devices get N (never binding)
    home: np.ndarray  # (N,) site index of each subtask's own device
    source: np.ndarray  # (N,) source index (home - W)

    @classmethod
    def build(cls, inst: Instance) -> CostTable:
        subtasks = tuple(sorted(inst.subtasks, key=lambda s: (s.source, s.id)))
        sources = inst.sources
        sites = tuple(w.id for w in inst.workers) + sources
        n, nw = len(subtasks), len(inst.workers)
        src_index = {p: k for k, p in enumerate(sources)}
        source = np.array([src_index[s.source] for s in subtasks], dtype=np.int64)
        base = np.full((n, len(sites)), INF)
        # Per (source, worker) pair: round-trip link latency and seconds per byte.
        fixed = np.full((len(sources), nw), INF)
        per_byte = np.zeros((len(sources), nw))
        for k, src in enumerate(sources):
            for j, w in enumerate(inst.workers):
                link = inst.link(src, w.id)
                if link is not None:
                    fixed[k, j] = 2 * link.latency
                    per_byte[k, j] = 1.0 / link.bandwidth
        wspeed = np.array([w.speed for w in inst.workers], dtype=float)
        wback = np.array([w.backlog for w in inst.workers], dtype=float)
        nbytes = np.array([float(s.in_bytes + s.out_bytes) for s in subtasks])
        work_ = np.array([s.work for s in subtasks], dtype=float)
        if nw:
            base[:, :nw] = (
                fixed[source] + nbytes[:, None] * per_byte[source]
                + (wback[None, :] + work_[:, None]) / wspeed[None, :]
            )
        for i, s in enumerate(subtasks):
            base[i, nw + source[i]] = standalone(inst, s, s.source)
        work = np.array([s.work for s in subtasks], dtype=float)
        order = sorted(range(n), key=lambda i: order_key(subtasks[i]))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        speed = np.array([site_speed(inst, p) for p in sites], dtype=float)
        quota = np.array([w.quota for w in inst.workers] + [n] * len(sources), dtype=np.int64)
        return cls(inst, subtasks, sites, nw, base, work, rank, speed, quota, source + nw, source)

    def site_cost(self, site: int, members: Iterable[int]) -> float:
        """Total latency of these subtask indices together on site (shortest work first)."""
        total = 0.0
        ahead = 0.0
        for i in sorted(members, key=self.rank.__getitem__):
            total += self.base[i, site] + ahead / self.speed[site]
            ahead += self.work[i]
        return total

    def member_latencies(self, site: int, members: Iterable[int]) -> dict[int, float]:
        out: dict[int, float] = {}
        ahead = 0.0
        for i in sorted(members, key=self.rank.__getitem__):
            out[i] = self.base[i, site] + ahead / self.speed[site]
            ahead += self.work[i]
        return out

    def insertion(self, i: int, site: int, members: Iterable[int]) -> float:
        """How much the site's total grows when subtask i joins these members."""
        r, w, sp = self.rank[i], self.work[i], self.speed[site]
        ahead = 0.0
        behind = 0
        for t in members:
            if self.rank[t] < r:
                ahead += self.work[t]
            else:
                behind += 1
        return self.base[i, site] + ahead / sp + behind * w / sp
