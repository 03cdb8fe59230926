"""The relief credit of `bounds.StepBounds` (a mixin: it reads the bounds' per-subtask
arrays and the site table, which `StepBounds._refresh` keeps current): at least what the
other pieces on a site gain when a subtask leaves it, each piece's gain capped by how far
its stage can fall (`SiteTable.relief`), and per step the sum `credit` that `game.price`
refuses early by.

A piece's stage falls by no more than the piece does, nor below the highest floor its
other pieces keep. After a move only the left site's pieces fall, so the others keep
their latency now (`relief1`); after a swap or displacement the step's other site falls
too, and the stage's slowest other piece, if it is there, only keeps its transfers and
service (`relief1 + extra[:, b]`, b that site's worker column); where that site is a
source's own device, the cap of any step (`relief`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from fognet.matching.cost import merge
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.matching.messages import Change

if TYPE_CHECKING:
    from fognet.matching.site_table import SiteTable
    from fognet.matching.steps import Ledger


class Reliefs:
    inst: Instance
    ledger: Ledger
    table: SiteTable
    workers: list[PeerId]
    col: dict[PeerId, int]
    index: dict[str, int]
    pcol: np.ndarray
    relief: np.ndarray  # after any step
    relief1: np.ndarray  # after a move
    extra: np.ndarray  # [i, b]: more than relief1 after a step that also lowers worker b
    own_relief: np.ndarray  # the part of relief its own source's other stages can gain
    own_relief1: np.ndarray  # ... of relief1
    _falls: dict[int, tuple]  # worker -> ((version, width), rows, its falls)

    def _worker_relief(self, j: int) -> None:
        """The relief of each subtask on worker j (`SiteTable.relief`), from the falls of
        the other pieces there, worked out again only when the worker's pieces change."""
        site = self.workers[j]
        version = (self.ledger.version.get(site, 0), self.table.width)  # a grown table: redo
        hit = self._falls.get(j)
        if hit is None or hit[0] != version:
            hosted = self.ledger.hosted(site)
            speed, groups = self.inst.workers[j].speed, self.ledger.groups(site)
            # each one's piece's service once it leaves, merged again from the slices left
            # as the ledger merges them: the same float, so a tie of work with another
            # piece there (one SJF class) is the tie the exact price sees
            left = np.zeros(len(hosted))
            for k, s in enumerate(hosted):
                key = (s.source, s.stage)
                if len(groups[key]) > 1:
                    left[k] = merge(key[0], key[1], [t for t in groups[key] if t.id != s.id]).work / speed
            rows = np.array([self.index[s.id] for s in hosted], dtype=np.int64)
            hit = self._falls[j] = (version, rows, self.table.falls(j, self.pcol[rows], left))
        _, rows, falls = hit
        if len(rows):
            (self.relief[rows], self.relief1[rows], self.extra[rows], self.own_relief[rows],
             self.own_relief1[rows]) = self.table.relief(j, falls, self.pcol[rows])


    def _relief(self, site: PeerId, s: Subtask) -> float:
        """How much the other pieces on the site gain, rate-weighted, when s leaves it (on a
        worker, `SiteTable.relief` gives a bound on it at once for all its subtasks)."""
        now = self.ledger.finish(site)
        without = self.ledger.finish_after(self.ledger.site_after(site, [s], []))
        gain = 0.0
        for key, f in without.items():
            if key != (s.source, s.stage):
                gain += self.inst.local_of(key[0]).rate * max(0.0, now[key] - f)
        return gain

    def credit(self, changes: Sequence[Change]) -> float:
        """At least what the step can lower the other sources' part of J by: what the pieces
        left behind gain as its movers leave (arrivals only slow the others down), as of
        the last `hopeful` (no step is applied between it and its candidates' pricing)."""
        if len(changes) == 1:  # a move lowers one site
            return float(self.relief1[self.index[changes[0].subtask.id]])
        total = 0.0
        for c in changes:
            others = [d.frm for d in changes if d is not c]
            total += float(self._pair_relief(self.index[c.subtask.id],
                                             self.col.get(others[0], -1) if len(others) == 1 else -1))
        return total

    def _pair_relief(self, i: int | np.ndarray, other: int | np.ndarray) -> np.ndarray:
        """Subtask i's relief in a step that also lowers the pieces on worker `other` (-1:
        a source's own device, priced as any step)."""
        with_other = self.relief1[i] + self.extra[i, np.maximum(other, 0)]
        return np.where(np.asarray(other) >= 0, with_other, self.relief[i])

