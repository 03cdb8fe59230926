"""The game's rules, shared by the central `play` and the per-party agents.

Both run the same rules on the same numbers, so they reach the same matching:

    hold(inst, site, offered)          phase 1: what a worker holds of the proposals it has
    ranked_sites(inst, s)              phase 1: where a subtask proposes, best first
    Ledger                             a party's knowledge of where subtasks are, priced
    candidates(inst, me, ledger)       phase 2: every step the Turn holder `me` tries, in order
    worker_refuses(inst, site, ...)    a worker's answer to a step on its site (None: yes)
    affected(inst, ledger, changes)    the sources whose share of J a step may change
    approved(deltas, movers, rule)     the initiator's decision from the sources' deltas

A worker holds, in order of the load a proposal brings (rate x work, ties by work, source,
id), the longest run that fits its cap and quota: a prefix rule, so deferred acceptance
ends in the same matching whatever order the proposals arrive in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fognet.matching.cost import (
    EPS,
    allowed,
    fits,
    is_worker,
    site_finish,
    stage_latency,
    standalone,
)
from fognet.matching.instance import Instance, PeerId, Subtask, SubtaskId
from fognet.matching.messages import Change


def hold_key(inst: Instance, s: Subtask) -> tuple[float, float, str, str]:
    """A worker's preference: least load first (rate x work), ties by work, source, id."""
    return (inst.local_of(s.source).rate * s.work, s.work, s.source, s.id)


def hold(inst: Instance, site: PeerId, offered: Iterable[Subtask]) -> tuple[list[Subtask], list[Subtask]]:
    """(held, rejected): the longest least-load-first run of `offered` the site takes."""
    ordered = sorted(offered, key=lambda s: hold_key(inst, s))
    held: list[Subtask] = []
    for k, s in enumerate(ordered):
        if not fits(inst, site, [*held, s]):
            return held, ordered[k:]
        held.append(s)
    return held, []


def ranked_sites(inst: Instance, s: Subtask) -> list[PeerId]:
    """The sites s proposes to, by standalone latency (ties: workers in instance order, then
    its own device), ending with its own device."""
    sites = [w.id for w in inst.workers] + [s.source]
    options = [(standalone(inst, s, p), k, p) for k, p in enumerate(sites)]
    ranked = [p for f, _, p in sorted(options) if f != float("inf")]
    return ranked[: ranked.index(s.source) + 1]


class Ledger:
    """Where the subtasks a party knows of are, with each site's finish times and each
    source's share of J kept up to date (a source knows every worker's subtasks and its
    own; the central game knows everything)."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.site_of: dict[SubtaskId, PeerId] = {}
        self.on: dict[PeerId, dict[SubtaskId, Subtask]] = {}
        self.mine: dict[PeerId, dict[SubtaskId, Subtask]] = {}  # by source
        self._finish: dict[PeerId, dict] = {}
        self._part: dict[PeerId, float] = {}
        self._stages: dict[PeerId, dict[int, float]] = {}
        self.version: dict[PeerId, int] = {}  # bumped whenever a site's subtasks change

    def rebase(self, inst: Instance) -> None:
        """Price on a new view from now on (a worker left): drop every cached price."""
        self.inst = inst
        self._finish.clear()
        self._part.clear()
        self._stages.clear()

    def place(self, s: Subtask, site: PeerId) -> None:
        old = self.site_of.get(s.id)
        if old is not None:
            del self.on[old][s.id]
            self._dirty(old)
        self.site_of[s.id] = site
        self.on.setdefault(site, {})[s.id] = s
        self.mine.setdefault(s.source, {})[s.id] = s
        self._dirty(site)
        self._drop_part(s.source)

    def forget(self, s: Subtask) -> None:
        site = self.site_of.pop(s.id, None)
        if site is not None:
            del self.on[site][s.id]
            del self.mine[s.source][s.id]
            self._dirty(site)
            self._drop_part(s.source)

    def apply(self, changes: Iterable[Change]) -> None:
        for c in changes:
            self.place(c.subtask, c.to)

    def _drop_part(self, source: PeerId) -> None:
        self._part.pop(source, None)
        self._stages.pop(source, None)

    def _dirty(self, site: PeerId) -> None:
        self._finish.pop(site, None)
        self.version[site] = self.version.get(site, 0) + 1
        for s in self.on.get(site, {}).values():
            self._drop_part(s.source)

    def hosted(self, site: PeerId) -> list[Subtask]:
        return list(self.on.get(site, {}).values())

    def finish(self, site: PeerId) -> dict:
        if site not in self._finish:
            self._finish[site] = site_finish(self.inst, site, self.hosted(site))
        return self._finish[site]

    def _share(self, source: PeerId, stages: dict[int, float]) -> float:
        """rate x the sum of the stages in stage order (as `cost.source_part` adds them)."""
        total = 0.0
        for k in sorted(stages):
            total += stages[k]
        return self.inst.local_of(source).rate * total

    def part(self, source: PeerId) -> float:
        """The source's share of J now."""
        if source not in self._part:
            self._part[source] = self._share(source, self.stage_latencies(source))
        return self._part[source]

    def stage_latencies(self, source: PeerId) -> dict[int, float]:
        """Each of the source's stages' latency now."""
        if source not in self._stages:
            placed: dict[int, dict[PeerId, list[Subtask]]] = {}
            for s in self.mine.get(source, {}).values():
                placed.setdefault(s.stage, {}).setdefault(self.site_of[s.id], []).append(s)
            self._stages[source] = {k: stage_latency(self.inst, source, k, sites, self.finish)
                                    for k, sites in placed.items()}
        return self._stages[source]

    def after(self, changes: Sequence[Change]) -> dict[PeerId, list[Subtask]]:
        """The touched sites' subtasks once the step is made."""
        moving = {c.subtask.id for c in changes}
        touched = {c.frm for c in changes} | {c.to for c in changes}
        out = {p: [s for s in self.hosted(p) if s.id not in moving] for p in sorted(touched)}
        for c in changes:
            out[c.to].append(c.subtask)
        return out

    def delta(self, source: PeerId, changes: Sequence[Change],
              after: dict[PeerId, list[Subtask]] | None = None,
              finish_after: dict[PeerId, dict] | None = None) -> float:
        """How much the source's share of J changes with the step (its own computation)."""
        after = after if after is not None else self.after(changes)
        if finish_after is None:
            finish_after = {p: site_finish(self.inst, p, subs) for p, subs in after.items()}
        moved = {c.subtask.id: c.to for c in changes}
        mine = self.mine.get(source, {}).values()
        dirty = {s.stage for s in mine if s.id in moved or self.site_of[s.id] in after}
        redo: dict[int, dict[PeerId, list[Subtask]]] = {}
        for s in mine:
            if s.stage in dirty:
                site = moved.get(s.id, self.site_of[s.id])
                redo.setdefault(s.stage, {}).setdefault(site, []).append(s)

        def finish_of(site: PeerId) -> dict:
            return finish_after[site] if site in finish_after else self.finish(site)

        stages = dict(self.stage_latencies(source))
        for k, sites in redo.items():  # only the stages the step touches are priced again
            stages[k] = stage_latency(self.inst, source, k, sites, finish_of)
        return self._share(source, stages) - self.part(source)


def candidates(inst: Instance, me: PeerId, ledger: Ledger) -> list[tuple[str, tuple[Change, ...]]]:
    """Every step that moves one of my subtasks, in the order the Turn holder tries them:
    per subtask (by id), moves to each worker with room (instance order), home, then swaps
    and displacements (it takes the slot) with each placed subtask by (source, id)."""
    own = sorted(ledger.mine.get(me, {}).values(), key=lambda s: s.id)
    placed = [s for p in ledger.on if is_worker(inst, p) for s in ledger.hosted(p)]
    placed += [s for s in own if ledger.site_of[s.id] == me]
    placed.sort(key=lambda s: (s.source, s.id))
    out: list[tuple[str, tuple[Change, ...]]] = []
    for x in own:
        a = ledger.site_of[x.id]
        for w in inst.workers:
            if w.id != a and allowed(inst, x, w.id) and fits(inst, w.id, [*ledger.hosted(w.id), x]):
                out.append(("move", (Change(x, a, w.id),)))
        if a != me:
            out.append(("move", (Change(x, a, me),)))
        for y in placed:
            b = ledger.site_of[y.id]
            if y.id == x.id or b == a:
                continue
            if allowed(inst, x, b) and allowed(inst, y, a):
                out.append(("swap", (Change(x, a, b), Change(y, b, a))))
            if is_worker(inst, b) and a != y.source and allowed(inst, x, b):
                out.append(("displace", (Change(x, a, b), Change(y, b, y.source))))
    return out


def worker_refuses(inst: Instance, site: PeerId, hosted: Sequence[Subtask],
                   changes: Sequence[Change]) -> str | None:
    """A worker's answer to a step touching its site: None (yes), or why not
    ("stale", "out_of_reach", "full")."""
    ids = {s.id for s in hosted}
    leaving = {c.subtask.id for c in changes if c.frm == site}
    arriving = [c.subtask for c in changes if c.to == site]
    if not leaving <= ids or any(s.id in ids for s in arriving):
        return "stale"
    if any(not allowed(inst, s, site) for s in arriving):
        return "out_of_reach"
    after = [s for s in hosted if s.id not in leaving] + arriving
    return None if fits(inst, site, after) else "full"


def affected(inst: Instance, ledger: Ledger, changes: Sequence[Change]) -> list[PeerId]:
    """Sources whose share of J the step may change: the movers' and every source with a
    subtask on a touched worker, sorted (the order their deltas are added in)."""
    out = {c.subtask.source for c in changes}
    for p in {c.frm for c in changes} | {c.to for c in changes}:
        if is_worker(inst, p):
            out |= {s.source for s in ledger.hosted(p)}
    return sorted(out)


def approved(deltas: Sequence[tuple[PeerId, float]], movers: Iterable[PeerId], rule: str) -> bool:
    """welfare: J falls by more than EPS; fair: also no moving source's share rises."""
    total = 0.0
    for _, d in sorted(deltas):
        total += d
    if total >= -EPS:
        return False
    if rule != "fair":
        return True
    by = dict(deltas)
    return all(by.get(src, 0.0) <= EPS for src in set(movers))
