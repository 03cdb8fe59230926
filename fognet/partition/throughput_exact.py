"""The exact minimum period of a chain plan, by branch and bound (Feltin et al.'s optimum).

Depth-first over (next cut, next peer), the cheapest child first, starting from the
bottleneck DP's plan as the incumbent. A branch is cut when its bottleneck so far, or a
lower bound on what is left, reaches the incumbent: the rest of the work cannot take
less than `work left / sum of the unused peers' speeds` (the pieces sit on distinct
peers), nor less than the transfer of the current cut's bytes out of the current peer at
its fastest link. Exponential in the worst case: meant for small instances (about 10
positions and 8 peers) and checked against plain enumeration in the tests.
"""

from __future__ import annotations

import math

import numpy as np

from fognet.errors import PlanError
from fognet.partition.throughput import ChainPlan, ChainProblem, bottleneck_chain, build_plan


def optimal_chain(problem: ChainProblem, node_limit: int = 2_000_000) -> ChainPlan:
    """The chain plan of least period; PlanError if none fits, or the search would exceed
    `node_limit` branches (the instance is too big for an exact answer)."""
    m, n_peers, src = len(problem.positions), len(problem.peers), problem.src
    try:
        incumbent = bottleneck_chain(problem)
    except PlanError:
        incumbent = None
    best = [incumbent.period if incumbent is not None else math.inf]
    best_route: list[list[tuple[int, int, int]]] = [[]]
    visited = [0]
    out_rate = np.where(np.isfinite(problem.rate), problem.rate, 0.0).max(axis=1)

    def search(a: int, prev: int, unused: frozenset[int], worst: float, route: list) -> None:
        visited[0] += 1
        if visited[0] > node_limit:
            raise PlanError(f"the exact period search passed {node_limit} branches: the instance is too big")
        left = problem.work[m - 1] - problem.work[a]
        speeds = sum(problem.speed[p] for p in unused)
        if left > 0 and (speeds == 0 or left / speeds >= best[0]):
            return
        children = []
        for b in range(a + 1, m):
            compute = problem.compute(a, b)
            for p in unused:
                if problem.need[a, b] > problem.memory[p]:
                    continue
                value = max(worst, compute[p], problem.transfer(a, prev, p))
                if b == m - 1:
                    value = max(value, problem.transfer(m - 1, p, src))
                elif out_rate[p] > 0:
                    value = max(value, problem.nbytes[b] / out_rate[p])
                else:
                    continue
                if value < best[0]:
                    children.append((value, b, p))
        for value, b, p in sorted(children):
            if value >= best[0]:
                break
            step = [*route, (a, b, p)]
            if b == m - 1:
                period = build_plan(problem, step).period  # the formula's own value
                if period < best[0]:
                    best[0], best_route[0] = period, step
            else:
                search(b, p, unused - {p}, value, step)

    search(0, src, frozenset(range(n_peers)), 0.0, [])
    if best_route[0]:
        return build_plan(problem, best_route[0])
    if incumbent is not None:
        return incumbent
    raise PlanError("no chain fits the peers' memories and links")
