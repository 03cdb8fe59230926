"""The exact least bottleneck U of a period instance, by branch and bound (small instances).

Stages are placed source by source, in chain order, each on every peer that may host it
and still has the memory, the cheapest first. A partial placement already costs the
loads of the stages and hops it fixes (a hop counts once both its ends are placed, the
hop home once the last stage is), and loads only grow, so the largest of them is a lower
bound; so is, for every stage not placed yet, the least utilisation its compute brings
to any peer. A branch whose bound reaches the best U found is cut. The first incumbent
is the game's. Only U is optimised (the key's tie-breakers are the game's business).
Exponential in the worst case; a search past `node_limit` branches is a PlanError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fognet.errors import PlanError
from fognet.matching.period import PeriodInstance, Placement, evaluate
from fognet.matching.period_game import play


@dataclass(frozen=True)
class PeriodOptimum:
    placement: Placement
    bottleneck: float  # U
    nodes: int  # branches visited


def optimum(inst: PeriodInstance, node_limit: int = 1_000_000) -> PeriodOptimum:
    """The placement of least U (module doc)."""
    try:
        start = play(inst)
        best = [start.value.bottleneck, start.placement]
    except PlanError:
        best = [math.inf, None]
    order = inst.stages()
    n = len(inst.peers)
    floor = [float(np.min(np.where([inst.allowed(j, p) for p in range(n)], inst.compute(j, k), math.inf)))
             for j, k in order]
    rest = [max(floor[d:], default=0.0) for d in range(len(order) + 1)]
    load: dict[tuple, float] = {}
    used = np.zeros(n)
    where = [[-1] * job.n_stages for job in inst.jobs]
    nodes = [0]

    def add(r: tuple, u: float, sign: float) -> float:
        load[r] = load.get(r, 0.0) + sign * u
        return load[r]

    def search(d: int, worst: float) -> None:
        nodes[0] += 1
        if nodes[0] > node_limit:
            raise PlanError(f"the exact period search passed {node_limit} branches: the instance is too big")
        if max(worst, rest[d]) >= best[0]:
            return
        if d == len(order):
            placed = tuple(tuple(r) for r in where)
            value = evaluate(inst, placed).bottleneck  # the objective's own figure
            if value < best[0]:
                best[0], best[1] = value, placed
            return
        j, k = order[d]
        prev = where[j][k - 1] if k > 0 else inst.src(j)
        last = k == inst.jobs[j].n_stages - 1
        children = []
        for p in range(n):
            if not inst.allowed(j, p) or used[p] + inst.need(j, k) > inst.memory[p]:
                continue
            parts = [(("site", p), float(inst.compute(j, k)[p]))]
            if prev != p:
                parts.append((("link", prev, p), inst.hop(j, k, prev, p)))
            if last and p != inst.src(j):
                parts.append((("link", p, inst.src(j)), inst.hop(j, k + 1, p, inst.src(j))))
            bound = max(worst, *(load.get(r, 0.0) + u for r, u in parts))
            children.append((bound, p, parts))
        for bound, p, parts in sorted(children, key=lambda c: (c[0], c[1])):
            if bound >= best[0]:
                break
            where[j][k] = p
            used[p] += inst.need(j, k)
            for r, u in parts:
                add(r, u, 1.0)
            search(d + 1, bound)
            for r, u in parts:
                add(r, u, -1.0)
            used[p] -= inst.need(j, k)
            where[j][k] = -1

    search(0, 0.0)
    if best[1] is None:
        raise PlanError("no placement of the chains fits the peers' memories")
    return PeriodOptimum(best[1], float(best[0]), nodes[0])
