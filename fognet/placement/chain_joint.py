"""Planning chains with the period game, not before it (DESIGN.md, DINA-P item 4, throughput mode).

A source's best cuts depend on where the other sources' stages land: a car whose solo
best chain sends everything to the fast fog server should keep a stage at home when
three other cars load that server. So, as `placement.joint` does for star plans, the
planner and the game alternate:

1. the period game places every source's chain on its current cuts;
2. each source in turn (by peer index) re-plans its cuts and peers against the load the
   others' placed stages put on every site and link (`respond`: its best response), and
   takes it when the whole placement's key (`matching.period.key`, U first) falls;
3. the game re-plays on the new cuts, from its own phase 1 and from the best responses'
   placement (a warm start, so it ends no worse than they did); the better is kept;

while some source's cuts change and the key falls, for `MAX_ITERATIONS` rounds at most.
Each adopted response and each warm-started game lowers the key, so the kept iterate is
never above the game on the cuts it started from (the fixed-cuts game).

`respond` is `partition.throughput_dp.chain_dp`, `throughput.bottleneck_chain`'s DP over (stages so far, position,
last peer), with each resource's cost the others' utilisation on it plus the source's
own (its rate x the chain's seconds, by `ChainProblem.compute` / `transfer`, over the
peer's cap, `PeriodInstance.site_scale`), a stage fitting a peer's memory left free by
the others; the source's own stages sit on distinct peers (as in `throughput`), on the
peers it may use. Pure.

    respond(problem, inst, where, j) -> Response | None
    plan_chains_jointly(setup, max_iterations=3) -> ChainJoint
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fognet.errors import PlanError
from fognet.matching.period import (
    PeriodInstance,
    Placement,
    improves,
    key,
    loads,
    memory_used,
    with_job,
)
from fognet.matching.period_game import PeriodResult, play
from fognet.partition.throughput import ChainProblem
from fognet.partition.throughput_dp import chain_dp, walk
from fognet.placement.chains import ChainSetup, chain_job

MAX_ITERATIONS = 3  # best-response rounds after the first game; DESIGN.md: "a few iterations at most"


@dataclass(frozen=True)
class Response:
    """A source's re-planned chain: its cuts (position indices) and each stage's peer, and
    the instance and placement with it in place of the old one."""

    bounds: tuple[int, ...]
    route: tuple[int, ...]
    instance: PeriodInstance
    placement: Placement


def _background(inst: PeriodInstance, where: Placement, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(site[p], link[q, p]): the utilisation every source but j puts on each resource."""
    n = len(inst.peers)
    site, link = np.zeros(n), np.zeros((n, n))
    for r, u in loads(inst, where, skip=j).items():
        if r[0] == "site":
            site[r[1]] = u
        else:
            link[r[1], r[2]] = u
    return site, link


def _hops(problem: ChainProblem, rate: float, link_bg: np.ndarray) -> np.ndarray:
    """[a, q, p]: the cost on link q -> p of moving position a's bytes over it (0 on q == p)."""
    n = len(problem.peers)
    cost = link_bg[None, :, :] + rate * problem.hops()
    cost[:, np.arange(n), np.arange(n)] = 0.0
    return cost


def respond(problem: ChainProblem, inst: PeriodInstance, where: Placement, j: int) -> Response | None:
    """Source j's best chain against the others' load in `where` (module doc); None when no
    chain of distinct peers fits the memory they leave free."""
    m, n, src = len(problem.positions), len(inst.peers), inst.src(j)
    if problem.peers != inst.peers or problem.src != src:
        raise PlanError(f"{problem.source}'s chain problem is priced on another cluster than the instance")
    site_bg, link_bg = _background(inst, where, j)
    scale, rate = inst.site_scale(j), inst.jobs[j].rate
    link = _hops(problem, rate, link_bg)
    free = inst.memory - memory_used(inst, where, skip=j)
    allowed = np.array([inst.allowed(j, p) for p in range(n)])

    def comp(b: int) -> np.ndarray:  # [a, p]
        return site_bg[None, :] + scale[None, :] * problem.compute(np.arange(b), b)

    def fits(b: int) -> np.ndarray:  # [a, p]
        return (problem.need[:b, b][:, None] <= free[None, :]) & allowed[None, :]

    layers = min(int(allowed.sum()), m - 1)
    finals, back = chain_dp(link, src, layers, comp, fits)
    options = []
    for s in range(1, layers + 1):  # each stage count's best end: the whole key decides between them
        p = int(np.argmin(finals[s]))
        if math.isfinite(finals[s, p]):
            options.append(_response(problem, inst, where, j, [(a, q) for a, _, q in walk(back, s, m - 1, p)]))
    return min(options, key=lambda r: key(r.instance, r.placement), default=None)


def _response(problem: ChainProblem, inst: PeriodInstance, where: Placement, j: int,
              stages: list[tuple[int, int]]) -> Response:
    bounds = (*(a for a, _ in stages), len(problem.positions) - 1)
    route = tuple(p for _, p in stages)
    new = with_job(inst, j, chain_job(problem, bounds, inst.jobs[j].rate))
    placement = (*where[:j], route, *where[j + 1:])
    return Response(bounds, route, new, placement)


@dataclass(frozen=True)
class ChainJoint:
    """Joint planning's outcome: the kept cuts, the game there, and the fixed-cuts game it started from."""

    bounds: tuple[tuple[int, ...], ...]  # per source, position indices
    instance: PeriodInstance
    result: PeriodResult
    fixed_instance: PeriodInstance  # on the cuts the sources started from
    fixed: PeriodResult
    iterations: int  # games played after the fixed-cuts one
    recut: int  # sources whose kept cuts differ from their starting ones

    @property
    def gain(self) -> float:
        """The fixed-cuts game's U over the joint one's (>= 1)."""
        u = self.result.value.bottleneck
        return self.fixed.value.bottleneck / u if u > 0 else 1.0


def _best_responses(setup: ChainSetup, inst: PeriodInstance, where: Placement,
                    bounds: list[tuple[int, ...]]) -> tuple[PeriodInstance, Placement, bool]:
    """Step 2 of the module doc, source by source; (instance, placement, some cuts changed)."""
    changed = False
    now = key(inst, where)
    for j in sorted(range(len(inst.jobs)), key=inst.src):
        found = respond(setup.problems[j], inst, where, j)
        if found is None:
            continue
        new = key(found.instance, found.placement)
        if improves(new, now):
            changed |= found.bounds != bounds[j]
            inst, where, now, bounds[j] = found.instance, found.placement, new, found.bounds
    return inst, where, changed


def _replay(inst: PeriodInstance, where: Placement) -> PeriodResult:
    """Step 3: the game from phase 1 and from `where`, the lower key kept."""
    warm = play(inst, start=where)
    try:
        cold = play(inst)
    except PlanError:  # phase 1 may not place every stage on the new cuts; the warm start did
        return warm
    return cold if improves(cold.value.key, warm.value.key) else warm


def plan_chains_jointly(setup: ChainSetup, max_iterations: int = MAX_ITERATIONS) -> ChainJoint:
    """The module doc's loop from `setup`'s cuts: the best iterate (lowest key) it reaches."""
    start = setup.instance()
    fixed = play(start)
    kept_bounds, kept_inst, kept = tuple(setup.bounds), start, fixed
    bounds = list(setup.bounds)
    iterations = 0
    for _ in range(max_iterations):
        inst, where, changed = _best_responses(setup, kept_inst, kept.placement, bounds)
        if not changed:
            break
        result = _replay(inst, where)
        iterations += 1
        if not improves(result.value.key, kept.value.key):
            break
        kept_bounds, kept_inst, kept = tuple(bounds), inst, result
    recut = sum(1 for a, b in zip(kept_bounds, setup.bounds, strict=True) if tuple(a) != tuple(b))
    return ChainJoint(kept_bounds, kept_inst, kept, start, fixed, iterations, recut)
