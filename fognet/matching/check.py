"""An independent checker: is a matching feasible, and is it exchange-stable under its rule?

It shares only the stream cost model (`cost.evaluate`, `cost.fits`) with the game, never
its search: it enumerates every move, swap and displacement in plain Python, prices the
whole matching before and after from scratch, and names every step that the rule would
approve (J falls by more than EPS; under `fair` no moving source's share rises). Slow on
purpose; it is the reference the game is tested against.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fognet.errors import InstanceError
from fognet.matching.cost import EPS, allowed, evaluate, fits, is_worker
from fognet.matching.instance import Instance, PeerId, Subtask, SubtaskId


@dataclass(frozen=True)
class Blocking:
    """A step the rule would approve: it lowers J by `gain` (frame-seconds per second)."""

    kind: str  # "move" | "swap" | "displace"
    subtasks: tuple[SubtaskId, ...]
    sites: tuple[PeerId, ...]  # touched sites, sorted
    gain: float  # how much J falls (> 0)
    text: str


@dataclass(frozen=True)
class CheckReport:
    problems: tuple[str, ...]  # infeasibilities, each one line
    blocking: tuple[Blocking, ...]  # every approvable step, largest gain first

    @property
    def stable(self) -> bool:
        return not self.problems and not self.blocking

    def summary(self) -> str:
        if self.problems:
            return f"infeasible: {self.problems[0]}"
        if self.blocking:
            more = f" ({len(self.blocking)} blocking steps)" if len(self.blocking) > 1 else ""
            return f"not stable: {self.blocking[0].text}{more}"
        return "stable"


def parse_assignment(data: Any) -> dict[SubtaskId, PeerId]:
    """The `assignment` of a matching JSON (the game's output format)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("assignment"), Mapping):
        raise InstanceError("a matching must be a JSON object with an \"assignment\" object")
    out: dict[SubtaskId, PeerId] = {}
    for k, v in data["assignment"].items():
        if not isinstance(v, str):
            raise InstanceError(f"assignment of {k!r} must be a peer id string, got {v!r}")
        out[SubtaskId(k)] = PeerId(v)
    return out


def feasibility(inst: Instance, assignment: Mapping[str, str]) -> list[str]:
    problems = []
    by_id = {s.id: s for s in inst.subtasks}
    for sid in assignment:
        if sid not in by_id:
            problems.append(f"assignment names unknown subtask {sid!r}")
    for s in inst.subtasks:
        site = assignment.get(s.id)
        if site is None:
            problems.append(f"subtask {s.id} is not assigned")
        elif not allowed(inst, s, PeerId(site)):
            problems.append(f"subtask {s.id} cannot run on {site!r} (not a reachable worker nor its source)")
    for w in inst.workers:
        hosted = [s for s in inst.subtasks if assignment.get(s.id) == w.id]
        if not fits(inst, w.id, hosted):
            problems.append(f"worker {w.id} cannot take its {len(hosted)} subtasks "
                            f"(cap {w.cap}, quota {w.quota})")
    return problems


def _steps(inst: Instance, where: dict[SubtaskId, PeerId]) -> Iterator[tuple[str, list, str]]:
    """Every candidate step as (kind, [(subtask, to)], text), feasibility not yet checked."""
    subs = sorted(inst.subtasks, key=lambda s: (s.source, s.id))
    sites = [w.id for w in inst.workers]
    for s in subs:
        for p in [*sites, s.source]:
            if p != where[s.id]:
                yield "move", [(s, p)], f"move {s.id} {where[s.id]}->{p}"
    for x, s in enumerate(subs):
        for t in subs[x + 1:]:
            a, b = where[s.id], where[t.id]
            if a != b:
                yield "swap", [(s, b), (t, a)], f"swap {s.id}<->{t.id}"
    for s in subs:
        for t in subs:
            a, b = where[s.id], where[t.id]
            if s is not t and a != b and is_worker(inst, b) and a != t.source:
                text = f"displace {t.id} from {b} by {s.id} ({t.id} back to {t.source})"
                yield "displace", [(s, b), (t, t.source)], text


def _shares(inst: Instance, where: dict[SubtaskId, PeerId]) -> dict[PeerId, float]:
    tasks = evaluate(inst, where).task_latency
    return {src: inst.local_of(src).rate * tasks[src] for src in inst.sources}


def _price(inst: Instance, where: dict[SubtaskId, PeerId], shares: dict[PeerId, float],
           moved: list[tuple[Subtask, PeerId]], rule: str) -> tuple[float, tuple[PeerId, ...]] | None:
    """How much J falls with the step if the rule approves it, else None."""
    for s, p in moved:
        if not allowed(inst, s, p):
            return None
    touched = tuple(sorted({where[s.id] for s, _ in moved} | {p for _, p in moved}))
    after = dict(where)
    for s, p in moved:
        after[s.id] = p
    for p in touched:
        if is_worker(inst, p) and not fits(inst, p, [s for s in inst.subtasks if after[s.id] == p]):
            return None
    new = _shares(inst, after)
    change = 0.0
    for src in sorted(new):
        change += new[src] - shares[src]
    if change >= -EPS:
        return None
    if rule == "fair" and any(new[s.source] - shares[s.source] > EPS for s, _ in moved):
        return None
    return -change, touched


def check(inst: Instance, assignment: Mapping[str, str], rule: str | None = None) -> CheckReport:
    """Feasibility, then every approvable step (none means exchange-stable)."""
    rule = rule or inst.rule
    problems = feasibility(inst, assignment)
    if problems:
        return CheckReport(tuple(problems), ())
    where = {s.id: PeerId(assignment[s.id]) for s in inst.subtasks}
    shares = _shares(inst, where)
    found = []
    for kind, moved, text in _steps(inst, where):
        priced = _price(inst, where, shares, moved, rule)
        if priced is not None:
            gain, touched = priced
            full = f"{text} (sites {','.join(touched)}) lowers J by {gain:.4g}"
            found.append(Blocking(kind, tuple(s.id for s, _ in moved), touched, gain, full))
    found.sort(key=lambda b: -b.gain)
    return CheckReport((), tuple(found))
