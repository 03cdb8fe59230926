"""The exact minimum total latency over every feasible assignment, for small instances.

Branch and bound: subtasks are placed one at a time (most work first, since they decide
the most waiting); a partial assignment's bound is its sites' total plus, for each
subtask still unplaced, its cheapest insertion into any site's *current* set that still
has room. Insertion costs only grow as sites fill, so the bound never overestimates. The
first upper bound comes from the game. Above `MAX_SUBTASKS` the search is refused, and a
search that visits more than `max_nodes` nodes gives up (many subtasks of one source that
are cheapest at home make the bound weak), both with an InstanceError saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fognet.errors import InstanceError
from fognet.matching.cost import CostTable
from fognet.matching.instance import Instance, PeerId, SubtaskId

MAX_SUBTASKS = 12
MAX_NODES = 400_000


@dataclass(frozen=True)
class Optimum:
    assignment: dict[SubtaskId, PeerId]
    total: float  # seconds
    nodes: int  # search nodes visited


def optimum(
    instance: Instance, max_subtasks: int = MAX_SUBTASKS, max_nodes: int = MAX_NODES
) -> Optimum:
    """The exact optimum; InstanceError above max_subtasks subtasks or max_nodes nodes."""
    n = len(instance.subtasks)
    if n > max_subtasks:
        raise InstanceError(
            f"exact optimum is limited to {max_subtasks} subtasks; this instance has {n}"
        )
    from fognet.matching.game import play  # the game's total is the first upper bound

    ct = CostTable.build(instance)
    start = play(instance, rule="welfare")
    index = {p: j for j, p in enumerate(ct.sites)}
    sub_index = {s.id: i for i, s in enumerate(ct.subtasks)}
    best_site = [0] * n
    for sid, p in start.assignment.items():
        best_site[sub_index[sid]] = index[p]
    best = [start.total]

    options = [
        [j for j in np.argsort(ct.base[i], kind="stable") if np.isfinite(ct.base[i, j])
         and (j < ct.n_workers or j == ct.home[i])]
        for i in range(n)
    ]
    order = sorted(range(n), key=lambda i: (-ct.work[i], i))
    members: list[list[int]] = [[] for _ in ct.sites]
    site_of = [0] * n
    nodes = 0

    def bound(depth: int, partial: float) -> float:
        extra = 0.0
        for i in order[depth:]:
            extra += min(
                ct.insertion(i, j, members[j]) for j in options[i]
                if len(members[j]) < ct.quota[j]
            )
        return partial + extra

    def search(depth: int, partial: float) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise InstanceError(
                f"exact search gave up after {max_nodes} nodes on {n} subtasks; "
                "try an instance with fewer subtasks"
            )
        if depth == n:
            if partial < best[0]:
                best[0] = partial
                best_site[:] = site_of
            return
        if bound(depth, partial) >= best[0] - 1e-15:
            return
        i = order[depth]
        tries = sorted(
            (ct.insertion(i, j, members[j]), j) for j in options[i]
            if len(members[j]) < ct.quota[j]
        )
        for extra, j in tries:
            if partial + extra >= best[0]:
                break
            members[j].append(i)
            site_of[i] = j
            search(depth + 1, partial + extra)
            members[j].pop()

    search(0, 0.0)
    assignment = {ct.subtasks[i].id: ct.sites[j] for i, j in enumerate(best_site)}
    total = sum(
        ct.site_cost(j, [i for i in range(n) if best_site[i] == j]) for j in range(len(ct.sites))
    )
    return Optimum(assignment, float(total), nodes)
