"""DINA-O's game on the period objective: chain stages matched to shared sites (`period`).

The same shape as `game` (DESIGN.md, DINA-O), on `period`'s order instead of J:

- **Phase 1, deferred acceptance.** Every stage ranks the peers that may host it and fit
  its memory alone by its standalone utilisation there (`standalone`), and proposes down
  that list; a peer holds, of what it holds and is offered, the longest run in order of
  largest memory need (ties: least compute load, then the stage's order) whose needs fit
  its memory, and rejects the rest: the big stages fit the fewest peers, so they are kept
  first and the small ones look further (first-fit decreasing; on 180 random instances it
  placed every stage where least-load-first left 9 instances with a stage unplaced, and
  ended 5.2% above the optimum on average instead of 7.7%). A prefix rule, so the outcome
  does not depend on the order the proposals arrive in. A stage that every peer rejects
  is a PlanError naming it.
- **Phase 2, steps.** The Turn passes from source to source in id order; its holder tries
  the steps that move one of its stages: a *move* to another peer whose memory holds it,
  a *swap* of its stage's peer with another stage's, a *displacement* taking another
  stage's peer and sending that stage to its own source's device. It commits the first
  that `period.improves` approves (memory fits on every touched peer), re-listing after
  each commit; the game ends when as many sources in a row as there are find nothing.
  Every commit lowers the placement's key in a total order, so the game ends, and then
  no move, swap or displacement improves it (what `period_check` verifies). `play(...,
  start=placement)` plays phase 2 from a given valid placement instead (joint planning's
  warm start after a source re-cuts, `placement.chain_joint`): it ends no worse than it.

Pure and deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fognet.errors import PlanError
from fognet.matching.period import (
    PeriodInstance,
    PeriodValue,
    Placement,
    evaluate,
    improves,
    key,
    problems,
    site_fits,
)


@dataclass(frozen=True)
class PeriodCounts:
    rounds: int = 0  # deferred-acceptance rounds
    proposals: int = 0
    rejections: int = 0
    moves: int = 0
    swaps: int = 0
    displacements: int = 0
    passes: int = 0  # Turns in phase 2 (the last cycle of them found no step)


@dataclass(frozen=True)
class PeriodResult:
    placement: Placement
    value: PeriodValue
    phase1: PeriodValue
    counts: PeriodCounts = field(default_factory=PeriodCounts)

    def assignment(self, inst: PeriodInstance) -> dict[str, str]:
        """Stage name -> peer name."""
        return {inst.stage_name(j, k): inst.peers[self.placement[j][k]] for j, k in inst.stages()}

    def to_json(self, inst: PeriodInstance) -> dict[str, Any]:
        c = self.counts
        return {
            "objective": "period",
            "assignment": self.assignment(inst),
            "bottleneck": self.value.bottleneck,
            "busiest": self.value.busiest,
            "utilisation": self.value.loads,
            "memory_bytes": self.value.memory,
            "phase1_bottleneck": self.phase1.bottleneck,
            "rounds": c.rounds, "proposals": c.proposals, "rejections": c.rejections,
            "passes": c.passes, "moves": c.moves, "swaps": c.swaps, "displacements": c.displacements,
        }


# --- phase 1 ---------------------------------------------------------------------------


def standalone(inst: PeriodInstance, j: int, k: int) -> np.ndarray:
    """Stage k of job j's utilisation on each peer as if its neighbours sat on the source's
    device: the largest of its compute there, its input's hop from the source and its
    output's hop back (exact for the first stage's input and the last's output). inf where
    the peer may not host it or its memory cannot hold it alone."""
    src, n = inst.src(j), len(inst.peers)
    out = np.full(n, math.inf)
    for p in range(n):
        if inst.allowed(j, p) and inst.need(j, k) <= inst.memory[p]:
            out[p] = max(float(inst.compute(j, k)[p]), inst.hop(j, k, src, p), inst.hop(j, k + 1, p, src))
    return out


def ranked(inst: PeriodInstance, j: int, k: int) -> list[int]:
    """The peers stage (j, k) proposes to, best first (ties: peer order); unreachable last."""
    alone = standalone(inst, j, k)
    fits_alone = [p for p in range(len(inst.peers)) if inst.allowed(j, p) and inst.need(j, k) <= inst.memory[p]]
    return sorted(fits_alone, key=lambda p: (alone[p], p))


def hold(inst: PeriodInstance, p: int, offered: list[tuple[int, int]]) -> tuple[list, list]:
    """(held, rejected): the longest largest-need-first run of `offered` whose needs fit p."""
    order = sorted(offered, key=lambda s: (-inst.need(*s), float(inst.compute(*s)[p]), s))
    held, used = [], 0.0
    for n, s in enumerate(order):
        if used + inst.need(*s) > inst.memory[p]:
            return held, order[n:]
        held.append(s)
        used += inst.need(*s)
    return held, []


def deferred_acceptance(inst: PeriodInstance) -> tuple[Placement, PeriodCounts]:
    """Phase 1 (module doc); PlanError when a stage is rejected by every peer."""
    prefs = {s: ranked(inst, *s) for s in inst.stages()}
    nxt = dict.fromkeys(prefs, 0)
    held: dict[int, list] = {}
    free = inst.stages()
    rounds = proposals = rejections = 0
    while free:
        rounds += 1
        offers: dict[int, list] = {}
        for s in free:
            if nxt[s] >= len(prefs[s]):
                raise PlanError(
                    f"stage {inst.stage_name(*s)} ({inst.need(*s) / 1e6:.4g} MB) fits no peer's memory "
                    "beside the stages they hold; give the peers more memory or cut the chains finer")
            offers.setdefault(prefs[s][nxt[s]], []).append(s)
            nxt[s] += 1
        proposals += len(free)
        free = []
        for p in sorted(offers):
            held[p], rejected = hold(inst, p, [*held.get(p, []), *offers[p]])
            free.extend(rejected)
        rejections += len(free)
        free.sort()
    where = [[-1] * job.n_stages for job in inst.jobs]
    for p, stages in held.items():
        for j, k in stages:
            where[j][k] = p
    return _frozen(where), PeriodCounts(rounds=rounds, proposals=proposals, rejections=rejections)


def _frozen(where: list[list[int]]) -> Placement:
    return tuple(tuple(route) for route in where)


# --- phase 2 ---------------------------------------------------------------------------


Step = tuple[str, tuple[tuple[int, int, int], ...]]  # kind, ((job, stage, to peer), ...)


def steps_of(inst: PeriodInstance, where: Placement, j: int) -> Iterator[Step]:
    """Every step that moves one of job j's stages: moves, then swaps, then displacements."""
    mine = [(j, k) for k in range(inst.jobs[j].n_stages)]
    everyone = inst.stages()
    n = len(inst.peers)
    for _, k in mine:
        for p in range(n):
            if p != where[j][k] and inst.allowed(j, p):
                yield "move", ((j, k, p),)
    for _, k in mine:
        a = where[j][k]
        for i, m in everyone:
            b = where[i][m]
            if (i, m) != (j, k) and a != b and inst.allowed(j, b) and inst.allowed(i, a):
                yield "swap", ((j, k, b), (i, m, a))
    for _, k in mine:
        a = where[j][k]
        for i, m in everyone:
            b, home = where[i][m], inst.src(i)
            if (i, m) != (j, k) and a != b and b != home and a != home and inst.allowed(j, b):
                yield "displace", ((j, k, b), (i, m, home))


def apply(where: Placement, changes: tuple[tuple[int, int, int], ...]) -> Placement:
    """The placement after the step's changes."""
    out = [list(route) for route in where]
    for j, k, p in changes:
        out[j][k] = p
    return _frozen(out)


def feasible_step(inst: PeriodInstance, where: Placement, after: Placement,
                  changes: tuple[tuple[int, int, int], ...]) -> bool:
    """Does every peer the step touches still fit its memory afterwards?"""
    touched = {p for _, _, p in changes} | {where[j][k] for j, k, _ in changes}
    return all(site_fits(inst, after, p) for p in touched)


_COUNTER = {"move": "moves", "swap": "swaps", "displace": "displacements"}


def _first_improving(inst: PeriodInstance, where: Placement, now: tuple[float, ...],
                     j: int) -> tuple[str, Placement, tuple[float, ...]] | None:
    for kind, changes in steps_of(inst, where, j):
        after = apply(where, changes)
        if not feasible_step(inst, where, after, changes):
            continue
        new = key(inst, after)
        if improves(new, now):
            return kind, after, new
    return None


def play(inst: PeriodInstance, max_steps: int = 100_000, start: Placement | None = None) -> PeriodResult:
    """Phase 1, then phase 2 until a full cycle of sources finds no step (module doc).

    `start`: a valid placement to play phase 2 from instead of phase 1's (joint planning's
    warm start, `placement.chain_joint`): the game then ends no worse than it (`phase1`
    is its value)."""
    if start is not None:
        found = problems(inst, start)
        if found:
            raise PlanError(f"the period game cannot start from an invalid placement: {found[0]}")
        where, c1 = start, PeriodCounts()
    else:
        where, c1 = deferred_acceptance(inst)
    phase1 = evaluate(inst, where)
    now = key(inst, where)
    ring = sorted(range(len(inst.jobs)), key=lambda j: inst.jobs[j].source)
    counts = {"moves": 0, "swaps": 0, "displacements": 0, "passes": 0}
    idle = turn = steps = 0
    while idle < len(ring):
        j = ring[turn]
        counts["passes"] += 1
        changed = False
        while (found := _first_improving(inst, where, now, j)) is not None:
            kind, where, now = found
            counts[_COUNTER[kind]] += 1
            changed = True
            steps += 1
            if steps > max_steps:
                raise PlanError(f"the period game did not settle within {max_steps} steps")
        idle = 1 if changed else idle + 1
        turn = (turn + 1) % len(ring)
    return PeriodResult(where, evaluate(inst, where), phase1,
                        PeriodCounts(c1.rounds, c1.proposals, c1.rejections, **counts))
