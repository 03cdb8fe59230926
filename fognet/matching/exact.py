"""The exact minimum of J over every feasible assignment, for small instances.

Branch and bound: subtasks are placed one at a time (most work first); a partial
assignment is dropped when a worker it fills no longer fits (load only grows), or when its
bound reaches the best J found. The bound is, per source, rate x the sum over its stages of
the slowest slice's *standalone* latency (on its site if placed, on its best site if not):
a piece's latency never falls below that of any of its slices alone on its site with
nothing else there, since more work, more bytes and more load only add. The first upper
bound comes from the game. Above `MAX_SUBTASKS` the search is refused, and a search that
visits more than `max_nodes` nodes gives up, both with an InstanceError saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from fognet.errors import InstanceError
from fognet.matching.cost import INF, allowed, evaluate, fits, is_worker, standalone
from fognet.matching.instance import Instance, PeerId, SubtaskId

MAX_SUBTASKS = 12
MAX_NODES = 400_000


@dataclass(frozen=True)
class Optimum:
    assignment: dict[SubtaskId, PeerId]
    objective: float  # J, frame-seconds per second
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
    from fognet.matching.game import play  # the game's J is the first upper bound

    start = play(instance, rule="welfare")
    best = [start.objective, dict(start.assignment)]
    subs = sorted(instance.subtasks, key=lambda s: (-s.work, s.source, s.id))
    sites = [w.id for w in instance.workers]
    alone = {
        s.id: {p: standalone(instance, s, p) for p in [*sites, s.source] if allowed(instance, s, p)}
        for s in subs
    }
    options = {s.id: sorted((f, p) for p, f in alone[s.id].items() if f < INF) for s in subs}
    rate = {d.source: d.rate for d in instance.local}
    where: dict[SubtaskId, PeerId] = {}
    nodes = 0

    def bound() -> float:
        worst: dict[tuple[PeerId, int], float] = {}
        for s in subs:
            f = alone[s.id][where[s.id]] if s.id in where else options[s.id][0][0]
            key = (s.source, s.stage)
            worst[key] = max(worst.get(key, 0.0), f)
        return sum(rate[src] * f for (src, _), f in worst.items())

    def search(depth: int) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise InstanceError(
                f"exact search gave up after {max_nodes} nodes on {n} subtasks; "
                "try an instance with fewer subtasks"
            )
        if bound() >= best[0] - 1e-15:
            return
        if depth == n:
            j = evaluate(instance, where).objective
            if j < best[0]:
                best[0], best[1] = j, dict(where)
            return
        s = subs[depth]
        for _, p in options[s.id]:
            where[s.id] = p
            if is_worker(instance, p) and not fits(
                    instance, p, [t for t in subs[: depth + 1] if where[t.id] == p]):
                continue
            search(depth + 1)
        where.pop(s.id, None)

    search(0)
    assignment = {s.id: best[1][s.id] for s in instance.subtasks}
    return Optimum(assignment, float(evaluate(instance, assignment).objective), nodes)
