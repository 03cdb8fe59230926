"""Baselines the period game is measured against, on the same instance and cuts.

- `solo`: each source plays the game alone, as if it had the cluster to itself, and the
  plans are put together: what sources that plan apart get (it may overfill a peer's
  memory, which `period.problems` then names);
- `greedy`: the stages, source by source in chain order, each on the peer (that may host
  it and still has the memory) where the largest load it touches is least, given the
  stages placed before it (ITNAC's greedy, shared sites);
- `random_placement`: each stage on a random peer that may host it, redrawn until every
  peer's memory holds its stages.
Pure; randomness comes in as a numpy Generator.
"""

from __future__ import annotations

import math

import numpy as np

from fognet.matching.period import PeriodInstance, Placement, problems
from fognet.matching.period_game import play


def solo(inst: PeriodInstance) -> Placement:
    """Every source's own game alone, the results side by side."""
    return tuple(play(PeriodInstance(inst.peers, inst.memory, (job,), inst.cap, inst.shared)).placement[0]
                 for job in inst.jobs)


def greedy(inst: PeriodInstance) -> Placement | None:
    """ITNAC's greedy on shared sites (module doc); None when a stage finds no room."""
    load: dict[tuple, float] = {}
    used = np.zeros(len(inst.peers))
    where: list[list[int]] = []
    for j, job in enumerate(inst.jobs):
        route, prev, home = [], inst.src(j), inst.src(j)
        for k in range(job.n_stages):
            best, pick = math.inf, None
            for p in range(len(inst.peers)):
                if not inst.allowed(j, p) or used[p] + inst.need(j, k) > inst.memory[p]:
                    continue
                parts = _parts(inst, j, k, prev, p, k == job.n_stages - 1, home)
                worst = max(load.get(r, 0.0) + u for r, u in parts)
                if worst < best:
                    best, pick = worst, (p, parts)
            if pick is None:
                return None
            p, parts = pick
            for r, u in parts:
                load[r] = load.get(r, 0.0) + u
            used[p] += inst.need(j, k)
            route.append(p)
            prev = p
        where.append(route)
    return tuple(tuple(r) for r in where)


def _parts(inst: PeriodInstance, j: int, k: int, prev: int, p: int, last: bool, home: int) -> list:
    parts = [(("site", p), float(inst.compute(j, k)[p]))]
    if prev != p:
        parts.append((("link", prev, p), inst.hop(j, k, prev, p)))
    if last and p != home:
        parts.append((("link", p, home), inst.hop(j, k + 1, p, home)))
    return parts


def random_placement(inst: PeriodInstance, rng: np.random.Generator, tries: int = 200) -> Placement | None:
    """A random placement that fits (module doc); None after `tries` draws."""
    for _ in range(tries):
        where = tuple(
            tuple(int(rng.choice([p for p in range(len(inst.peers)) if inst.allowed(j, p)]))
                  for _ in range(job.n_stages))
            for j, job in enumerate(inst.jobs))
        if not problems(inst, where):
            return where
    return None
