"""The placement policies by name: DINA-P's plan and the baselines it is compared with.

One list for `fognet infer`'s reference placements, `fognet plan`'s comparison and the
simulator's approaches, each a function of the source's planner (so every policy is
priced under the same state and cost model):

    dina          DINA-P's dynamic program (stages, spatial splits, peers)
    local         everything on the source
    best-node     everything on the one peer predicted fastest (the source included)
    neurosurgeon  one split between the source and its best peer (Kang et al.)
    modnn         every sliceable layer in equal rows over all nodes (Mao et al.)

The matched policies take DINA-P's plan, turn it into the game's subtasks and differ only
in who assigns them (`MATCHERS`, each `(instance, seed) -> (assignment, latency or None)`):

    fognet        the full game (deferred acceptance + approved steps)
    greedy        deferred acceptance alone (phase 1)
    random        each subtask to a uniformly drawn site in reach with a free slot

    POLICIES: {name: (planner, model_sha256) -> Plan}
    make_plan(name, planner, model_sha256="") -> Plan
    modnn_plan(planner, model_sha256="") -> Plan
    equal_fit(planner, stage, peers) -> Stage       MoDNN's row fit for `refit.refit`
    equal_rows(height, k) -> row ranges
    MATCHERS: {name: (instance, seed) -> (assignment, latency | None)}
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from fognet.errors import PlanError
from fognet.matching.cost import fits
from fognet.matching.game import deferred_acceptance, play
from fognet.matching.instance import Instance, Subtask
from fognet.partition.plan import Planner
from fognet.partition.stages import Plan, Stage

PlanMaker = Callable[[Planner, str], Plan]


def modnn_plan(planner: Planner, model_sha256: str = "") -> Plan:
    """MoDNN-style: layer by layer, each sliceable layer's rows split equally over every node.

    MoDNN partitions each layer's input across the devices and gathers the outputs after
    the layer; here a "layer" is a segment of a sliceable run between single-tensor cuts
    (a conv with its activation, a residual block), since slicing a whole deep run at
    once would make every slice's halo span nearly the whole input. Everything that
    cannot be sliced runs on the source.
    """
    n = len(planner.graph)
    nodes = list(planner.peers)  # the source and every reachable worker, sorted
    articulation = {c.position for c in planner.graph.cuts() if len(c.crossing) == 1}
    stages: list[Stage] = []
    at = 0
    ranges = sorted(planner.spatial.ranges()) if planner.spatial is not None else []
    for start, stop in ranges:
        bounds = [start, *sorted(p for p in articulation if start < p < stop), stop]
        for i, j in zip(bounds, bounds[1:], strict=False):
            height = planner.spatial.out_rows(i, j)
            k = min(len(nodes), height)
            if k < 2:
                continue
            if i > at:
                stages.append(Stage(at, i, (planner.source,)))
            stages.append(Stage(i, j, tuple(nodes[:k]), equal_rows(height, k)))
            at = j
    if at < n:
        stages.append(Stage(at, n, (planner.source,)))
    return planner.price(Plan(model_sha256, planner.source, tuple(stages)))


def equal_fit(planner: Planner, stage: Stage, peers: tuple[str, ...]) -> Stage:
    """A MoDNN stage on the peers that took it: rows equal again (whole on the first if one)."""
    if not stage.spatial or len(peers) == 1:
        return Stage(stage.start, stage.stop, peers[:1])
    height = stage.rows[-1][1]
    return Stage(stage.start, stage.stop, peers, equal_rows(height, len(peers)))


def equal_rows(height: int, k: int) -> tuple[tuple[int, int], ...]:
    """Row ranges [a, b) covering `height` rows in k near-equal whole parts, larger first."""
    base, extra = divmod(height, k)
    bounds = [i * base + min(i, extra) for i in range(k + 1)]
    return tuple(zip(bounds, bounds[1:], strict=False))


POLICIES: dict[str, PlanMaker] = {
    "dina": lambda planner, sha: planner.plan(sha),
    "local": lambda planner, sha: planner.all_local(),
    "best-node": lambda planner, sha: planner.best_single_node(),
    "neurosurgeon": lambda planner, sha: planner.neurosurgeon(),
    "modnn": modnn_plan,
}
REFERENCES = ("local", "best-node", "neurosurgeon", "modnn")  # the baselines DINA-P is compared with


def make_plan(name: str, planner: Planner, model_sha256: str = "") -> Plan:
    """The `name` policy's plan for the planner's source and state."""
    if name not in POLICIES:
        raise PlanError(f"unknown placement policy {name!r}; expected one of {', '.join(POLICIES)}")
    plan = POLICIES[name](planner, model_sha256)
    return plan if plan.model_sha256 == model_sha256 else Plan(
        model_sha256, plan.source, plan.stages, plan.predicted_s, plan.input_shapes)


Matcher = Callable[[Instance, int], tuple[Mapping[str, str], Mapping[str, float] | None]]


def _play(instance: Instance, seed: int):
    """The full game: deferred acceptance, then approved steps (DINA-O)."""
    result = play(instance)
    return result.assignment, result.latency


def _greedy(instance: Instance, seed: int):
    """Deferred acceptance alone: each subtask's best site with room, no swaps."""
    return deferred_acceptance(instance).assignment, None


def _random(instance: Instance, seed: int):
    """Each subtask, in id order, to a uniformly drawn site in reach that still admits it
    (a worker's cap and quota, the same admission every approach meets)."""
    rng = random.Random(seed)
    held: dict[str, list[Subtask]] = {w.id: [] for w in instance.workers}
    out: dict[str, str] = {}
    for s in sorted(instance.subtasks, key=lambda s: s.id):
        sites = [w for w, on in held.items()
                 if instance.link(s.source, w) is not None and fits(instance, w, [*on, s])]
        sites.append(s.source)
        site = rng.choice(sites)
        if site != s.source:
            held[site].append(s)
        out[s.id] = site
    return out, None


MATCHERS: dict[str, Matcher] = {"fognet": _play, "greedy": _greedy, "random": _random}
