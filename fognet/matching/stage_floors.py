"""What a step leaves of each subtask's stage, for `bounds.StepBounds`: per subtask, its
stage's latency now and floors on what its stage's pieces on other sites will take.

A step changes only the sites it touches. A piece of the stage on a site it does not touch
keeps its finish time there exactly (the same pieces, the same floats), and its transfers
cannot fall below those of the piece alone on the source's NIC (the processor-sharing
share of the NIC is at least the piece's own input). So its *held* floor, transfers alone
plus its finish time now, bounds its latency after any step that leaves its site alone; on
the source's own device (no transfers) it is the piece's latency now, overload penalty and
all. The three highest held floors of each subtask's stage's other pieces are kept with
their sites, so a step touching up to two more sites still finds the highest it leaves.

Site codes: a worker's column (0..), -1 the source's own device, -2 no piece.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from fognet.matching.cost import is_worker, transfer
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.matching.steps import Ledger

HOME = -1  # the site code of a source's own device
NONE = -2  # no piece
NOTHING = -3  # an exclusion that excludes no site


class StageFloors:
    """Per subtask i (in the bounds' order): `L[i]` its stage's latency now; `rest[i]` the
    highest service-and-transfer floor of its stage's pieces on other sites (no step lowers
    it); `top1/top2/top1_at` the two highest latencies now of those pieces (and the worker
    column of the highest); `held` (3 per subtask, highest first, with `held_at`) their held
    floors (see the module)."""

    def __init__(self, inst: Instance, ledger: Ledger, index: dict[str, int],
                 col: dict[PeerId, int]) -> None:
        self.inst, self.ledger, self.index, self.col = inst, ledger, index, col
        n = len(index)
        self.L = np.zeros(n)
        self.rest = np.zeros(n)
        self.top1, self.top2 = np.zeros(n), np.zeros(n)
        self.top1_at = np.full(n, NONE)
        self.held = np.zeros((n, 3))
        self.held_at = np.full((n, 3), NONE)
        # the latency now of its stage's piece on its source's own device (0: none, or it
        # is that piece): an arrival there only adds to it, at least the penalty's rise
        self.home = np.zeros(n)
        # its input's least share of the source's NIC from its stage's remote pieces on
        # other sites (each adds min(its bytes, mine) to PS), by site, for `shared_except`
        self.ps = np.zeros(n)
        self.ps_of = np.zeros((n, 3))
        self.ps_at = np.full((n, 3), NONE)
        self.ps_over = np.zeros(n)  # with more than 3 such sites: the largest, held back

    def update(self, source: PeerId, only: Collection[int] | None = None,
               ) -> dict[int, dict[PeerId, float]]:
        """Refresh the floors of the source's subtasks (of the stages `only`, if given);
        its piece latencies by stage and site, as the ledger has them now."""
        ledger, inst = self.ledger, self.inst
        stages = ledger.stage_latencies(source)
        placed: dict[int, dict[PeerId, list[Subtask]]] = {}
        for s in ledger.mine.get(source, {}).values():
            if only is None or s.stage in only:
                placed.setdefault(s.stage, {}).setdefault(ledger.site_of[s.id], []).append(s)
        all_lats = ledger.piece_latencies(source)
        index = self.index
        for k, sites in placed.items():
            if len(sites) == 1:  # the stage on one site: no other piece floors it (common)
                (subs,) = sites.values()
                for s in subs:
                    i = index[s.id]
                    self.L[i] = stages[k]
                    self.rest[i] = self.top1[i] = self.top2[i] = self.home[i] = 0.0
                    self.ps[i] = self.ps_over[i] = 0.0
                    self.held[i] = self.ps_of[i] = 0.0
                    self.top1_at[i] = NONE
                    self.held_at[i] = self.ps_at[i] = NONE
                continue
            floors, held = {}, {}
            for site in sites:
                p = ledger.site_pieces(site)[(source, k)]
                t_in, t_out = transfer(inst, source, site, p.in_bytes, p.out_bytes, p.in_bytes)
                speed = (inst.worker(site) if is_worker(inst, site) else inst.local_of(site)).speed
                floors[site] = t_in + t_out + p.work / speed
                held[site] = t_in + t_out + ledger.finish(site)[(source, k)]
            lats = all_lats[k]
            for site, subs in sites.items():
                rest = max((f for q, f in floors.items() if q != site), default=0.0)
                others = sorted(((v, q) for q, v in lats.items() if q != site), reverse=True)
                kept = sorted(((v, q) for q, v in held.items() if q != site), reverse=True)[:3]
                for s in subs:
                    i = self.index[s.id]
                    self.L[i], self.rest[i] = stages[k], rest
                    self.top1[i] = others[0][0] if others else 0.0
                    self.top1_at[i] = self.col.get(others[0][1], NONE) if others else NONE
                    self.top2[i] = others[1][0] if len(others) > 1 else 0.0
                    self.held[i] = 0.0
                    self.home[i] = lats[source] if source in lats and site != source else 0.0
                    self._shares(i, s, source, k, site, sites)
                    self.held_at[i] = NONE
                    for c, (v, q) in enumerate(kept):
                        self.held[i, c] = v
                        self.held_at[i, c] = HOME if q == source else self.col[q]
        return all_lats

    def _shares(self, i: int, s: Subtask, source: PeerId, k: int, site: PeerId,
                sites: dict[PeerId, list[Subtask]]) -> None:
        pieces = self.ledger.site_pieces
        share = sorted(((min(pieces(q)[(source, k)].in_bytes, float(s.in_bytes)), q)
                        for q in sites if q not in (site, source)), reverse=True)
        self.ps[i] = sum(v for v, _ in share)
        self.ps_of[i], self.ps_at[i], self.ps_over[i] = 0.0, NONE, 0.0
        if len(share) > 3:
            self.ps_over[i] = share[0][0]
        else:
            for c, (v, q) in enumerate(share):
                self.ps_of[i, c], self.ps_at[i, c] = v, self.col[q]

    def shared_except(self, i: int | np.ndarray, ex: np.ndarray) -> np.ndarray:
        """At least what subtask i's stage's remote pieces on sites other than its own and
        `ex` (a worker column each) add to its input's PS on the source's NIC."""
        i = np.broadcast_to(i, ex.shape)
        there = np.where(self.ps_at[i] == ex[..., None], self.ps_of[i], 0.0).sum(axis=-1)
        return np.maximum(0.0, self.ps[i] - there - self.ps_over[i])

    def held_except(self, i: int | np.ndarray, ex1: int | np.ndarray,
                    ex2: int | np.ndarray = NOTHING) -> np.ndarray:
        """The highest held floor of subtask i's stage's pieces on sites other than its
        own, `ex1` and `ex2` (site codes; NOTHING excludes none): a floor on the stage's
        latency after a step that touches only those sites."""
        if not self.held[i, 0].any():  # no other piece: nothing held (the common case)
            return np.zeros(np.broadcast_shapes(np.shape(i), np.shape(ex1), np.shape(ex2)))
        ex1, ex2 = np.asarray(ex1), np.asarray(ex2)
        shape = np.broadcast_shapes(np.shape(i), ex1.shape, ex2.shape)
        i = np.broadcast_to(i, shape)
        out = np.zeros(shape)
        done = np.zeros(shape, bool)
        for c in range(3):
            at = self.held_at[i, c]
            ok = ~done & (at != ex1) & (at != ex2)
            out = np.where(ok, self.held[i, c], out)
            done |= ok
        return out
