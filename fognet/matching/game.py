"""DINA-O's game on the stream cost model: deferred acceptance (phase 1), then approved steps
(phase 2) until a full cycle of sources finds none.

Phase 1: each subtask proposes down its sites ranked by standalone latency (`steps.ranked_all`);
a worker holds the least-load run of its proposals that fits its cap and quota (`steps.hold`);
the own device never rejects. The rule is a prefix rule, so the outcome does not depend on
the order proposals arrive in: the agents, proposing asynchronously, reach the same one.

Phase 2 is the agents' protocol played centrally: the Turn passes from source to source in
id order; the holder tries the steps that move one of its subtasks in `steps.candidates`
order and commits the first one approved (`steps.approved`: J falls by more than EPS; under
`fair` no moving source's share rises), re-listing after each commit; the game ends when
as many sources in a row as there are found nothing. Every commit lowers J, so it ends,
and the result is exchange-stable under the rule. Each step is priced exactly as the
parties price it (the touched workers' `worker_refuses`, each affected source's
`Ledger.delta`), on the same floats, so `play` and `local_driver.run_local` agree exactly.

A cheap lower bound on each candidate's change of J (`bounds.StepBounds`) skips the
candidates that cannot be approved before they are priced; it never skips one that could
be, so it changes only the speed (`steps.candidates` is the plain list the agents use).
Two more shortcuts change only the speed: a step whose movers' exact part already exceeds
what the others can gain (the bound's `credit`) is refused before the others are priced,
and a refused step is not priced again while nothing its price reads has changed
(`Refused`: its sites' versions, its sources' epochs). For the same reason a source whose
last Turn found nothing lists, at its next, only the steps touching a site the commits
since have reached (`_reach`): every other one of its steps is refused still.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fognet.errors import InstanceError
from fognet.matching.bounds import TOLERANCE, StepBounds
from fognet.matching.cost import EPS, INF, evaluate, is_worker
from fognet.matching.instance import Instance, PeerId, SubtaskId
from fognet.matching.messages import Change
from fognet.matching.steps import (
    Ledger,
    affected,
    approved,
    hold,
    ranked_all,
    refusal,
)


@dataclass(frozen=True)
class Matching:
    """Who runs each subtask: a worker id, or the subtask's own source id."""

    assignment: Mapping[SubtaskId, PeerId]


@dataclass(frozen=True)
class Counts:
    rounds: int = 0  # deferred-acceptance rounds
    proposals: int = 0
    rejections: int = 0
    swaps: int = 0
    moves: int = 0
    displacements: int = 0
    passes: int = 0  # Turns in phase 2 (the last cycle of them found no step)
    priced: int = 0  # phase-2 candidates priced exactly (the rest the bound ruled out)


@dataclass(frozen=True)
class Result:
    assignment: Mapping[SubtaskId, PeerId]
    latency: Mapping[SubtaskId, float]  # s, predicted latency of each subtask's piece
    task_latency: Mapping[PeerId, float]  # s, predicted latency of each source's frames
    objective: float  # J = sum of rate x task latency, frame-seconds per second
    phase1_objective: float
    rule: str
    counts: Counts = field(default_factory=Counts)

    @property
    def matching(self) -> Matching:
        return Matching(self.assignment)

    def to_json(self) -> dict[str, Any]:
        c = self.counts
        return {
            "assignment": dict(self.assignment),
            "latency": dict(self.latency),
            "task_latency": dict(self.task_latency),
            "objective": self.objective,
            "phase1_objective": self.phase1_objective,
            "rule": self.rule,
            "rounds": c.rounds,
            "proposals": c.proposals,
            "rejections": c.rejections,
            "passes": c.passes,
            "moves": c.moves,
            "swaps": c.swaps,
            "displacements": c.displacements,
        }


# --- phase 1 ---------------------------------------------------------------------------


def _deferred_acceptance(inst: Instance) -> tuple[dict[SubtaskId, PeerId], Counts]:
    subs = sorted(inst.subtasks, key=lambda s: (s.source, s.id))
    prefs = ranked_all(inst, subs)
    nxt = dict.fromkeys(prefs, 0)
    held: dict[PeerId, list] = {}
    where: dict[SubtaskId, PeerId] = {}
    free = subs
    rounds = proposals = rejections = 0
    while free:
        rounds += 1
        offers: dict[PeerId, list] = {}
        for s in free:
            site = prefs[s.id][nxt[s.id]]
            nxt[s.id] += 1
            offers.setdefault(site, []).append(s)
        proposals += len(free)
        free = []
        for site in sorted(offers):
            if not is_worker(inst, site):
                for s in offers[site]:
                    where[s.id] = site
                continue
            kept, rejected = hold(inst, site, [*held.get(site, []), *offers[site]])
            held[site] = kept
            free.extend(rejected)
        rejections += len(free)
        free.sort(key=lambda s: (s.source, s.id))
    for site, kept in held.items():
        for s in kept:
            where[s.id] = site
    return where, Counts(rounds=rounds, proposals=proposals, rejections=rejections)


def deferred_acceptance(instance: Instance) -> Matching:
    """Phase 1 alone: the matching deferred acceptance reaches (every subtask placed)."""
    where, _ = _deferred_acceptance(instance)
    return Matching({s.id: where[s.id] for s in instance.subtasks})


# --- phase 2 ---------------------------------------------------------------------------


def price(inst: Instance, ledger: Ledger, changes: Sequence[Change], rule: str,
          credit: float | None = None) -> bool:
    """Would the parties approve this step? (each touched worker, each affected source)

    The movers' deltas come first; `credit`, if given, is at least what the others' part
    can fall by (`StepBounds.credit`), and a step whose movers' part exceeds it is refused
    at once. Then the others' part is estimated from their cached piece latencies
    (`_estimate`), and a step that cannot fall below -EPS even then is refused before their
    deltas are priced. Both are the decision the parties would reach, sooner."""
    after = ledger.after(changes)
    for p, a in after.items():  # each touched worker's `worker_refuses`, on its pieces
        if is_worker(inst, p) and refusal(inst, p, [c.subtask for c in changes if c.to == p],
                                          a.count, a.pieces.values()) is not None:
            return False
    finish_after = {p: ledger.finish_after(a) for p, a in after.items()}
    movers = sorted({c.subtask.source for c in changes})
    deltas = [(u, ledger.delta(u, changes, after, finish_after)) for u in movers]
    if rule == "fair" and any(d > EPS for _, d in deltas):
        return False
    if credit is not None and sum(d for _, d in deltas) - credit > TOLERANCE:
        return False
    others = [u for u in affected(inst, ledger, changes) if u not in movers]
    if others:
        if _estimate(inst, ledger, movers, finish_after, sum(d for _, d in deltas)) > TOLERANCE:
            return False
        deltas += [(u, ledger.delta(u, changes, after, finish_after)) for u in others]
    return approved(deltas, movers, rule)


def _estimate(inst: Instance, ledger: Ledger, movers: Sequence[PeerId],
              finish_after: Mapping[PeerId, dict], total: float) -> float:
    """The step's change of J, the others' part estimated from their cached piece
    latencies (a piece that stays where it is keeps its transfers, so its latency moves
    by its site's change of finish time): the exact sum to rounding, far inside TOLERANCE,
    so a step it puts above TOLERANCE the exact deltas would refuse too."""
    shift: dict[tuple[PeerId, int], dict[PeerId, float]] = {}
    for p, new in finish_after.items():
        now = ledger.finish(p)
        for key, f in new.items():
            if key[0] not in movers and key in now and f != now[key]:
                if now[key] == INF:
                    return -INF  # no estimate from an endless wait: price it exactly
                shift.setdefault(key, {})[p] = f - now[key]
    for (u, k), by_site in shift.items():
        lats = ledger.piece_latencies(u)[k]
        after = max(lat + by_site.get(site, 0.0) for site, lat in lats.items())
        total += inst.local_of(u).rate * (after - max(lats.values()))
    return total


class Refused:
    """The steps priced and refused, each with what its price read: the touched sites'
    versions and the epochs of the sources it affects (`steps.affected`, fixed by those
    sites' contents). While they are unchanged the step would be refused again, so it is
    not priced again: only the speed changes, never a decision."""

    def __init__(self, inst: Instance, ledger: Ledger) -> None:
        self.inst, self.ledger = inst, ledger
        self._seen: dict[tuple, tuple[tuple[int, ...], tuple[tuple[PeerId, int], ...]]] = {}

    @staticmethod
    def _key(changes: Sequence[Change]) -> tuple:
        return tuple((c.subtask.id, c.frm, c.to) for c in changes)

    def _versions(self, changes: Sequence[Change]) -> tuple[int, ...]:
        version = self.ledger.version
        return tuple(version.get(p, 0) for p in sorted({c.frm for c in changes} | {c.to for c in changes}))

    def known(self, changes: Sequence[Change]) -> bool:
        """Was this step refused with everything its price reads as it is now?"""
        hit = self._seen.get(self._key(changes))
        if hit is None or hit[0] != self._versions(changes):
            return False
        epoch = self.ledger.epoch
        return all(epoch.get(u, 0) == e for u, e in hit[1])

    def note(self, changes: Sequence[Change]) -> None:
        epoch = self.ledger.epoch
        sources = tuple((u, epoch.get(u, 0)) for u in affected(self.inst, self.ledger, changes))
        self._seen[self._key(changes)] = (self._versions(changes), sources)


def _first_approved(inst: Instance, ledger: Ledger, me: PeerId, rule: str, bounds: StepBounds,
                    refused: Refused, priced: list[int], sites: set[PeerId] | None = None,
                    ) -> tuple[str, tuple[Change, ...]] | None:
    for kind, changes in bounds.hopeful(me, sites):
        if refused.known(changes):
            continue
        priced[0] += 1
        if price(inst, ledger, changes, rule, bounds.credit(changes)):
            return kind, changes
        refused.note(changes)
    return None


_COUNTER = {"move": "moves", "swap": "swaps", "displace": "displacements"}


def _phase2(inst: Instance, ledger: Ledger, rule: str, max_steps: int) -> dict[str, int]:
    counts = {"moves": 0, "swaps": 0, "displacements": 0, "passes": 0}
    ring = inst.sources
    bounds = StepBounds(inst, ledger, rule)
    refused = Refused(inst, ledger)
    priced = [0]
    reach: list[set[PeerId]] = []  # per commit, the sites whose steps it may have changed
    settled: dict[PeerId, int] = {}  # len(reach) when a source's Turn last found nothing
    idle = k = steps = 0
    while ring and idle < len(ring):
        me = ring[k]
        counts["passes"] += 1
        changed = False
        # every step of mine was refused when my last Turn ended; since then only the steps
        # touching a site the commits reached can have changed (`_reach`)
        sites = set().union(*reach[settled[me]:]) if me in settled else None
        while (sites is None or sites) and (step := _first_approved(
                inst, ledger, me, rule, bounds, refused, priced, sites)) is not None:
            sites = None
            kind, changes = step
            ledger.apply(changes)
            reach.append(_reach(ledger, changes))
            counts[_COUNTER[kind]] += 1
            changed = True
            steps += 1
            if steps > max_steps:
                raise InstanceError(f"phase 2 did not settle within {max_steps} steps")
        settled[me] = len(reach)
        idle = 1 if changed else idle + 1
        k = (k + 1) % len(ring)
    return counts | {"priced": priced[0]}


def _reach(ledger: Ledger, changes: Sequence[Change]) -> set[PeerId]:
    """The sites whose steps a committed step may have changed: a step's price reads only
    the sites it touches and the sources with subtasks there (`Refused`), so the touched
    sites and every site of a source with a subtask on one of them."""
    touched = {c.frm for c in changes} | {c.to for c in changes}
    sources = {s.source for p in touched for s in ledger.on.get(p, {}).values()}
    return touched | {ledger.site_of[sid] for u in sources for sid in ledger.mine.get(u, {})}


def _ledger(inst: Instance, where: Mapping[SubtaskId, PeerId]) -> Ledger:
    ledger = Ledger(inst)
    for s in sorted(inst.subtasks, key=lambda s: s.id):
        ledger.place(s, where[s.id])
    return ledger


def play(instance: Instance, rule: str | None = None, max_steps: int = 1_000_000) -> Result:
    """Phase 1 then phase 2 under `rule` (default: the instance's); deterministic."""
    rule = rule or instance.rule
    where, c1 = _deferred_acceptance(instance)
    phase1 = evaluate(instance, where).objective
    ledger = _ledger(instance, where)
    c2 = _phase2(instance, ledger, rule, max_steps)
    assignment = {s.id: ledger.site_of[s.id] for s in instance.subtasks}
    ev = evaluate(instance, assignment)
    return Result(
        assignment=assignment,
        latency=ev.latency,
        task_latency=ev.task_latency,
        objective=ev.objective,
        phase1_objective=phase1,
        rule=rule,
        counts=Counts(c1.rounds, c1.proposals, c1.rejections, **c2),
    )


# --- single steps on Matching values ---------------------------------------------------


def try_step(instance: Instance, matching: Matching, changes: Sequence[Change],
             rule: str | None = None) -> Matching | None:
    """The matching after the step, or None if its parties would not approve it."""
    ledger = _ledger(instance, matching.assignment)
    for c in changes:
        if ledger.site_of.get(c.subtask.id) != c.frm:
            return None
    if not price(instance, ledger, changes, rule or instance.rule):
        return None
    ledger.apply(changes)
    return Matching({s.id: ledger.site_of[s.id] for s in instance.subtasks})


def _sub(instance: Instance, sid: str):
    for s in instance.subtasks:
        if s.id == sid:
            return s
    raise InstanceError(f"unknown subtask {sid!r}")


def try_move(instance: Instance, matching: Matching, subtask: str, site: str,
             rule: str | None = None) -> Matching | None:
    """Move `subtask` to `site` (a worker with room, or its own source) if approved."""
    s = _sub(instance, subtask)
    a = matching.assignment[s.id]
    return None if a == site else try_step(instance, matching, [Change(s, a, PeerId(site))], rule)


def try_swap(instance: Instance, matching: Matching, a: str, b: str,
             rule: str | None = None) -> Matching | None:
    """Subtasks a and b exchange sites, if approved."""
    x, y = _sub(instance, a), _sub(instance, b)
    p, q = matching.assignment[x.id], matching.assignment[y.id]
    if p == q:
        return None
    return try_step(instance, matching, [Change(x, p, q), Change(y, q, p)], rule)


def try_displace(instance: Instance, matching: Matching, taker: str, victim: str,
                 rule: str | None = None) -> Matching | None:
    """`taker` takes `victim`'s worker place and `victim` goes to its own device, if approved."""
    x, y = _sub(instance, taker), _sub(instance, victim)
    p, q = matching.assignment[x.id], matching.assignment[y.id]
    if not is_worker(instance, q) or p == q or p == y.source:
        return None
    return try_step(instance, matching, [Change(x, p, q), Change(y, q, y.source)], rule)
