"""Floors on the wait a subtask meets where a step lands it, for `bounds.StepBounds` (a
mixin: it reads the bounds' per-worker moments and per-subtask arrays, which
`StepBounds._refresh` keeps current).

The residual R of Cobham's and Pollaczek-Khinchine's formulas (less what a leaving piece
takes from it) over their denominator: either the most it can be (1 less the subtask's
own load there), or the site's own formula on its pieces as they would be
(`site_table.SiteTable.room`); plus, where the subtask would merge into its stage's piece
there, what the merged piece takes more than the subtask alone (`SiteTable.merged`). And
what it takes there besides its wait (`_alone`): its transfers and service, its input
sharing the source's NIC with its stage's other remote pieces. On a source's own device,
the overload penalty an arrival brings (`_penalised_home`, `_home_held`); and what the
subtask's stage's other pieces keep when it moves between workers (`_rest_on`). Every
value is shaded a hair low: a floor, never above the exact one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fognet.matching.cost import INF, OWN_CAP, PENALTY
from fognet.matching.instance import PeerId

if TYPE_CHECKING:
    from fognet.matching.site_table import SiteTable
    from fognet.matching.stage_floors import StageFloors


class WaitFloors:
    poisson: bool
    work: np.ndarray
    rate: np.ndarray
    wspeed: np.ndarray
    second: np.ndarray
    second_of: np.ndarray
    scol: dict[PeerId, int]
    scode: np.ndarray
    pshare: np.ndarray
    adds: np.ndarray
    key: np.ndarray
    pcol: np.ndarray
    lbw: np.ndarray
    lat_w: np.ndarray
    tail_w: np.ndarray
    inb: np.ndarray
    nic: np.ndarray
    floors: StageFloors
    table: SiteTable
    home_load: np.ndarray
    xhome: np.ndarray
    lbhome: np.ndarray
    top1: np.ndarray
    top2: np.ndarray
    top1_at: np.ndarray
    rest: np.ndarray
    alone: np.ndarray

    @staticmethod
    def _wait(r: np.ndarray, room: np.ndarray) -> np.ndarray:
        """r over the room (a hair less, for rounding), the room being the merged piece's
        where it merges (`SiteTable.room`)."""
        with np.errstate(divide="ignore"):
            return np.where(room > 0, r / np.maximum(room, 1e-300) * (1 - 1e-9), INF)

    def _wait_floor(self, i: int, src: PeerId, cols: np.ndarray, leaving: np.ndarray | None,
                    exact: bool = True, base: np.ndarray | None = None) -> np.ndarray:
        """A floor on subtask i's wait on each worker in `cols` once it joins (subtask
        `leaving[k]` leaving worker `cols[k]`, if given): the residual R of Cobham's and
        P-K's formulas less the most the leaving piece takes from it, over the most their
        denominators can be: 1 less i's own load there (its class and the whole site
        carry at least that); or, `exact`, the formula itself on the site's pieces as they
        would be (`SiteTable.room`), where i would not merge into a piece there."""
        cols = np.maximum(cols, 0)
        if self.poisson:
            x = self.work[i] / self.wspeed[cols]
            r = self.second[cols] + self.rate[i] * x * x
        else:
            own = self.second_of[cols, self.scol[src]]
            r = self.second[cols] - own
        if leaving is not None:
            other = self.scode[leaving] != self.scol[src]
            r = r - np.where(other | self.poisson, self.pshare[leaving], 0.0)
        if not exact:
            return self._over_room(np.maximum(0.0, r / 2 - 1e-12), self.adds[i, cols])
        ii = np.full(len(cols), i)
        leave = None if leaving is None else self.pcol[leaving]
        room, _ = self.table.room(self.work[ii], self.rate[ii], self.key[ii], cols, leave)
        extra = self.table.merged(self.key[ii], cols, self.work[i] / self.wspeed[cols],
                                  self.lbw[i, cols] if base is None else base, leave)
        return self._wait(np.maximum(0.0, r / 2 - 1e-12), room) + extra

    def _wait_floors_at(self, j: int, ys: np.ndarray, leaving: int, exact: bool = True,
                        base: np.ndarray | None = None) -> np.ndarray:
        """`_wait_floor` of each subtask in `ys` on worker j, subtask `leaving` leaving it
        (`base`, if given: the floor it adds to, for the merged piece's share of it)."""
        if self.poisson:
            x = self.work[ys] / self.wspeed[j]
            r = self.second[j] + self.rate[ys] * x * x - self.pshare[leaving]
        else:
            r = self.second[j] - self.second_of[j, self.scode[ys]]
            other = self.scode[ys] != self.scode[leaving]
            r = r - np.where(other, self.pshare[leaving], 0.0)
        if not exact:
            return self._over_room(np.maximum(0.0, r / 2 - 1e-12), self.adds[ys, j])
        cols = np.full(len(ys), j)
        leave = np.full(len(ys), self.pcol[leaving])
        room, _ = self.table.room(self.work[ys], self.rate[ys], self.key[ys], cols, leave)
        extra = self.table.merged(self.key[ys], cols, self.work[ys] / self.wspeed[j],
                                  self.lbw[ys, j] if base is None else base, leave)
        return self._wait(np.maximum(0.0, r / 2 - 1e-12), room) + extra

    @staticmethod
    def _over_room(r: np.ndarray, load: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.where(load < 1.0, r / np.maximum(1.0 - load, 1e-300), r)

    def _alone(self, i: int | np.ndarray, cols: np.ndarray, ex: np.ndarray) -> np.ndarray:
        """A floor on subtask i's latency on worker cols[k] less its wait: `lbw`, or, its
        input sharing the source's NIC with its stage's remote pieces on the sites the step
        leaves alone (all but its own and ex[k]), `lat + PS / nic_src` plus t_out and
        service (shaded low)."""
        if not self.floors.ps[i].any():
            return self.lbw[i, cols]
        ps = self.inb[i] + self.floors.shared_except(i, ex)
        shared = (self.lat_w[i, cols] + ps / self.nic[i] + self.tail_w[i, cols]) * (1 - 1e-12)
        return np.maximum(self.lbw[i, cols], shared)

    def _penalised_home(self, i: int | np.ndarray) -> np.ndarray:
        load = self.home_load[self.scode[i]]
        after = load + self.rate[i] * self.xhome[i]
        return self.lbhome[i] + PENALTY * np.maximum(0.0, after - OWN_CAP)

    def _home_held(self, i: int | np.ndarray, stage_of: int | np.ndarray,
                   merges: bool | np.ndarray) -> np.ndarray:
        """A floor on subtask `stage_of`'s stage's piece on its source's device once subtask
        i (of that source) arrives there: its latency now plus the overload penalty's rise
        (the wait only grows with an arrival), plus i's service where i merges into it (of
        the same stage); 0 where the stage has no piece there."""
        now = self.floors.home[stage_of]
        if not now.any():
            return np.zeros(np.shape(now))
        load = self.home_load[self.scode[i]]
        rise = PENALTY * (np.maximum(0.0, load + self.rate[i] * self.xhome[i] - OWN_CAP)
                          - np.maximum(0.0, load - OWN_CAP))
        rise = rise + np.where(merges, self.xhome[i], 0.0)
        return np.where(now > 0, (now + rise) * (1 - 1e-12), 0.0)

    def _rest_on(self, i: int | np.ndarray, a: int | np.ndarray, b: np.ndarray) -> np.ndarray:
        """A floor on the latency of subtask i's stage's other pieces once i goes from
        worker a to worker b (each b[k]; with a[k] if a is an array): where i is its piece
        alone and joins none there, the stage's remote pieces are the same, so its pieces
        on the sites neither end touches keep their latency; else their floors (`rest`)."""
        i = np.broadcast_to(i, b.shape)
        a = np.broadcast_to(a, b.shape)
        now = np.where(self.top1_at[i] == b, self.top2[i], self.top1[i])
        joins = (self.table.kx[np.maximum(b, 0)] == self.key[i][:, None]).any(axis=1)
        ok = self.alone[i] & (a >= 0) & (b >= 0) & ~joins
        return np.where(ok, np.maximum(self.rest[i], now), self.rest[i])
