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

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from fognet.matching.cost import (
    EPS,
    INF,
    Finish,
    Piece,
    PieceKey,
    allowed,
    by_id,
    finish_pieces,
    fits,
    fits_pieces,
    is_worker,
    latencies_of,
    merge,
    pieces,
    standalone_table,
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
    groups: dict[PieceKey, list[Subtask]] = {}
    merged: dict[PieceKey, Piece] = {}  # `cost.pieces(held)`, kept as it grows
    for k, s in enumerate(ordered):
        key = (s.source, s.stage)
        subs = sorted([*groups.get(key, ()), s], key=by_id)
        trial = merged | {key: merge(s.source, s.stage, subs)}
        if not fits_pieces(inst, site, len(held) + 1, [trial[q] for q in sorted(trial)]):
            return held, ordered[k:]
        held.append(s)
        groups[key], merged = subs, trial
    return held, []


def ranked_sites(inst: Instance, s: Subtask) -> list[PeerId]:
    """The sites s proposes to, by standalone latency (ties: workers in instance order, then
    its own device), ending with its own device."""
    return ranked_all(inst, [s])[s.id]


def ranked_all(inst: Instance, subs: Sequence[Subtask]) -> dict[SubtaskId, list[PeerId]]:
    """`ranked_sites` of every subtask in `subs`, priced at once (`cost.standalone_table`)."""
    table = standalone_table(inst, subs)
    order = np.argsort(table, axis=1, kind="stable")  # ties keep the column order
    ids = [w.id for w in inst.workers]
    home = len(ids)
    out: dict[SubtaskId, list[PeerId]] = {}
    for i, s in enumerate(subs):
        ranked = []
        for j in order[i].tolist():
            if j == home:
                break
            if table[i, j] == INF:
                break  # inf sorts last, after the own device
            ranked.append(ids[j])
        out[s.id] = [*ranked, s.source]
    return out


class SiteAfter(NamedTuple):
    """A site's subtasks once a step is made: how many, and their pieces in key order."""

    count: int
    pieces: dict[PieceKey, Piece]
    key: tuple  # (site, version, leaving ids, arriving ids): what its prices are cached by


class Ledger:
    """Where the subtasks a party knows of are, with each site's pieces and finish times and
    each source's stage latencies kept up to date (a source knows every worker's subtasks
    and its own; the central game knows everything).

    Incremental: a step touching sites A and B re-prices only the pieces on A and B (a piece
    merged again from its own slices, in id order, so the floats are those a full re-price
    gives) and the stages of the sources with pieces there."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.site_of: dict[SubtaskId, PeerId] = {}
        self.on: dict[PeerId, dict[SubtaskId, Subtask]] = {}
        self.mine: dict[PeerId, dict[SubtaskId, Subtask]] = {}  # by source
        self._finish: dict[PeerId, dict] = {}
        self._groups: dict[PeerId, dict[PieceKey, list[Subtask]]] = {}  # slices, by id
        self._pieces: dict[PeerId, dict[PieceKey, Piece]] = {}  # in key order
        self._part: dict[PeerId, float] = {}
        self._stages: dict[PeerId, dict[int, float]] = {}
        self._piece_lats: dict[PeerId, dict[int, dict[PeerId, float]]] = {}
        self._stale: dict[PeerId, set[int]] = {}  # stages to price again, by source
        self._after: dict[tuple, list] = {}  # SiteAfter.key -> [it, its finish times or None]
        self.version: dict[PeerId, int] = {}  # bumped whenever a site's subtasks change
        # bumped whenever a source's stage latencies may change (its cached prices dropped)
        self.epoch: dict[PeerId, int] = {}

    def rebase(self, inst: Instance) -> None:
        """Price on a new view from now on (a worker left): drop every cached price."""
        self.inst = inst
        self._finish.clear()
        self._part.clear()
        self._stages.clear()
        self._stale.clear()
        self._after.clear()
        for source in self.epoch:
            self.epoch[source] += 1

    def place(self, s: Subtask, site: PeerId) -> None:
        old = self.site_of.get(s.id)
        if old is not None:
            del self.on[old][s.id]
            self._dirty(old)
        self.site_of[s.id] = site
        self.on.setdefault(site, {})[s.id] = s
        self.mine.setdefault(s.source, {})[s.id] = s
        self._dirty(site)
        self._drop_part(s.source, s.stage)

    def forget(self, s: Subtask) -> None:
        site = self.site_of.pop(s.id, None)
        if site is not None:
            del self.on[site][s.id]
            del self.mine[s.source][s.id]
            self._dirty(site)
            self._drop_part(s.source, s.stage)

    def apply(self, changes: Iterable[Change]) -> None:
        for c in changes:
            self.place(c.subtask, c.to)

    def _drop_part(self, source: PeerId, stage: int) -> None:
        """The stage's latency may change (a site of it did): it is priced again when next
        read, the source's other stages are kept (each stage reads only its own sites)."""
        self._part.pop(source, None)
        if source in self._stages:
            self._stale.setdefault(source, set()).add(stage)
        self.epoch[source] = self.epoch.get(source, 0) + 1

    def _dirty(self, site: PeerId) -> None:
        self._finish.pop(site, None)
        self._groups.pop(site, None)
        self._pieces.pop(site, None)
        self.version[site] = self.version.get(site, 0) + 1
        if len(self._after) > 20_000:
            self._after.clear()
        for s in self.on.get(site, {}).values():
            self._drop_part(s.source, s.stage)

    def hosted(self, site: PeerId) -> list[Subtask]:
        return list(self.on.get(site, {}).values())

    def groups(self, site: PeerId) -> dict[PieceKey, list[Subtask]]:
        """The site's slices by (source, stage), each list in id order."""
        if site not in self._groups:
            out: dict[PieceKey, list[Subtask]] = {}
            for s in sorted(self.on.get(site, {}).values(), key=by_id):
                out.setdefault((s.source, s.stage), []).append(s)
            self._groups[site] = out
        return self._groups[site]

    def site_pieces(self, site: PeerId) -> dict[PieceKey, Piece]:
        """The site's pieces now, in (source, stage) order (`cost.pieces` of its subtasks)."""
        if site not in self._pieces:
            groups = self.groups(site)
            self._pieces[site] = {k: merge(k[0], k[1], groups[k]) for k in sorted(groups)}
        return self._pieces[site]

    def finish(self, site: PeerId) -> dict:
        if site not in self._finish:
            self._finish[site] = finish_pieces(self.inst, site, self.site_pieces(site).values())
        return self._finish[site]

    def site_after(self, site: PeerId, leaving: Iterable[Subtask],
                   arriving: Iterable[Subtask]) -> SiteAfter:
        """The site once `leaving` (on it) leave and `arriving` arrive: only the pieces they
        belong to are merged again."""
        here = self.on.get(site, {})
        leaving = [s for s in leaving if s.id in here]  # a party may not know all of them
        arriving = list(arriving)
        memo = (site, self.version.get(site, 0), frozenset(s.id for s in leaving),
                frozenset(s.id for s in arriving))
        hit = self._after.get(memo)
        if hit is not None:
            return hit[0]
        out = self.site_pieces(site)
        if leaving or arriving:
            gone = {s.id for s in leaving}
            groups = self.groups(site)
            redo: dict[PieceKey, list[Subtask]] = {}
            for s in (*leaving, *arriving):
                key = (s.source, s.stage)
                if key not in redo:
                    redo[key] = [t for t in groups.get(key, ()) if t.id not in gone]
            for s in arriving:
                redo[(s.source, s.stage)].append(s)
            out = dict(out)
            for key, subs in redo.items():
                if subs:
                    subs.sort(key=by_id)
                    out[key] = merge(key[0], key[1], subs)
                else:
                    out.pop(key, None)
            out = {k: out[k] for k in sorted(out)}
        after = SiteAfter(len(here) - len(leaving) + len(arriving), out, memo)
        self._after[memo] = [after, None]
        return after

    def finish_after(self, after: SiteAfter) -> dict:
        """The finish times of a site as `after` leaves it (cached: a Turn prices the same
        site's changes many times)."""
        hit = self._after.setdefault(after.key, [after, None])
        if hit[1] is None:
            hit[1] = finish_pieces(self.inst, after.key[0], after.pieces.values())
        return hit[1]

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

    def _stage(self, source: PeerId, stage: int, sites: Iterable[PeerId],
               pieces_of: Callable[[PeerId], Mapping[PieceKey, Piece]],
               finish_of: Callable[[PeerId], Finish]) -> float:
        """`cost.stage_latency` of the stage's pieces on `sites`, read from `pieces_of`."""
        return max(self._lats(source, stage, sites, pieces_of, finish_of).values(), default=0.0)

    def _lats(self, source: PeerId, stage: int, sites: Iterable[PeerId],
              pieces_of: Callable[[PeerId], Mapping[PieceKey, Piece]],
              finish_of: Callable[[PeerId], Finish]) -> dict[PeerId, float]:
        key = (source, stage)
        merged = [(p, pieces_of(p)[key]) for p in sorted(sites)]
        return latencies_of(self.inst, source, merged, finish_of)

    def piece_latencies(self, source: PeerId) -> dict[int, dict[PeerId, float]]:
        """Each of the source's stages' piece latencies now, by site (cached)."""
        if source not in self._stages or source in self._stale:
            self.stage_latencies(source)
        return self._piece_lats[source]

    def stage_latencies(self, source: PeerId) -> dict[int, float]:
        """Each of the source's stages' latency now: its slowest piece."""
        stale = self._stale.pop(source, None)
        if source not in self._stages or stale is not None:
            sites: dict[int, set[PeerId]] = {}
            for s in self.mine.get(source, {}).values():
                if stale is None or s.stage in stale:
                    sites.setdefault(s.stage, set()).add(self.site_of[s.id])
            if stale is None:
                lats, stages = {}, {}
            else:  # only the stale stages are priced again; one with no slice left goes
                lats, stages = self._piece_lats[source], self._stages[source]
                for k in stale - sites.keys():
                    lats.pop(k, None)
                    stages.pop(k, None)
            for k, on in sites.items():
                lats[k] = self._lats(source, k, on, self.site_pieces, self.finish)
                stages[k] = max(lats[k].values(), default=0.0)
            self._piece_lats[source], self._stages[source] = lats, stages
        return self._stages[source]

    def after(self, changes: Sequence[Change]) -> dict[PeerId, SiteAfter]:
        """The touched sites once the step is made, in site order."""
        touched = sorted({c.frm for c in changes} | {c.to for c in changes})
        moving = [c.subtask for c in changes]
        return {p: self.site_after(p, moving, [c.subtask for c in changes if c.to == p])
                for p in touched}

    def delta(self, source: PeerId, changes: Sequence[Change],
              after: Mapping[PeerId, SiteAfter] | None = None,
              finish_after: Mapping[PeerId, dict] | None = None) -> float:
        """How much the source's share of J changes with the step (its own computation)."""
        after = after if after is not None else self.after(changes)
        if finish_after is None:
            finish_after = {p: self.finish_after(a) for p, a in after.items()}
        moved = {c.subtask.id: c.to for c in changes}
        mine = self.mine.get(source, {}).values()
        site_of = self.site_of
        dirty = {s.stage for s in mine if s.id in moved or site_of[s.id] in after}
        if not dirty:
            return 0.0
        redo: dict[int, set[PeerId]] = {}
        for s in mine:
            if s.stage in dirty:
                redo.setdefault(s.stage, set()).add(moved.get(s.id, site_of[s.id]))

        def pieces_of(site: PeerId) -> Mapping[PieceKey, Piece]:
            return after[site].pieces if site in after else self.site_pieces(site)

        def finish_of(site: PeerId) -> dict:
            return finish_after[site] if site in finish_after else self.finish(site)

        stages = dict(self.stage_latencies(source))
        for k, sites in redo.items():  # only the stages the step touches are priced again
            stages[k] = self._stage(source, k, sites, pieces_of, finish_of)
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
    after = [s for s in hosted if s.id not in leaving] + arriving
    return refusal(inst, site, arriving, len(after), pieces(after))


def refusal(inst: Instance, site: PeerId, arriving: Iterable[Subtask], count: int,
            ps: Iterable[Piece]) -> str | None:
    """`worker_refuses` once the step is known not stale: the worker is left with `count`
    subtasks forming the pieces `ps` (in key order). One rule for the worker's own answer
    and for `game.price`, which has the pieces merged already."""
    if any(not allowed(inst, s, site) for s in arriving):
        return "out_of_reach"
    return None if fits_pieces(inst, site, count, ps) else "full"


def affected(inst: Instance, ledger: Ledger, changes: Sequence[Change]) -> list[PeerId]:
    """Sources whose share of J the step may change: the movers' and every source with a
    subtask on a touched worker, sorted (the order their deltas are added in)."""
    out = {c.subtask.source for c in changes}
    for p in {c.frm for c in changes} | {c.to for c in changes}:
        if is_worker(inst, p):
            out.update(src for src, _ in ledger.site_pieces(p))
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
