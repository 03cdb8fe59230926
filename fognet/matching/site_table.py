"""Every worker's pieces as padded arrays, so `bounds.StepBounds` can price one subtask's
arrival on many workers at once: its own wait there (Cobham's or Pollaczek-Khinchine's
formula on the site's pieces as they would be) and the harm it does to the pieces
already there (their waits rise). Only bounds are read from it, never a decision: every
value it gives is at most the exact one (a leaving piece is left out whole, which only
lowers the load; a merge into a piece of the same stage is not priced, the caller falls
back to a looser floor).

Row j, column c: the c-th piece (in (source, stage) order) on worker j; a padded column has
infinite service and no load.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fognet.matching.cost import INF, transfer
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.matching.steps import Ledger

SLACK = 1 - 1e-9  # waits are shaded by this much: the table's rounding must never overshoot


def worker_links(inst: Instance, subs: Sequence[Subtask]) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """(lb, lat, tail)[i, j]: subtask i alone on worker j, transfers and service only (inf:
    no link), what no wait, no NIC sharing and no merge can lower; the link's latency; and
    t_out plus service, what `lat + PS / nic_src` adds up to when the input's share of the
    source's NIC (PS) is more than its own bytes."""
    n, nw = len(subs), len(inst.workers)
    lat, bw = np.full((n, nw), INF), np.full((n, nw), INF)
    pairs: dict[tuple[PeerId, PeerId], tuple[float, float]] = {}
    for i, s in enumerate(subs):
        for j, wid in enumerate(w.id for w in inst.workers):
            key = (s.source, wid)
            if key not in pairs:
                link = inst.link(s.source, wid)
                pairs[key] = (INF, INF) if link is None else (link.latency, link.bandwidth)
            lat[i, j], bw[i, j] = pairs[key]
    inb = np.array([float(s.in_bytes) for s in subs])[:, None]
    outb = np.array([float(s.out_bytes) for s in subs])[:, None]
    with np.errstate(invalid="ignore"):
        t_in = lat + inb / bw
        t_out = lat + outb / bw
    nic_src = np.array([inst.local_of(s.source).nic or INF for s in subs])[:, None]
    nic_w = np.array([w.nic or INF for w in inst.workers])[None, :]
    t_in = np.maximum(t_in, np.maximum(lat + inb / nic_src, inb / nic_w))
    t_out = np.maximum(t_out, np.maximum(outb / nic_src, outb / nic_w))
    speed = np.array([w.speed for w in inst.workers])[None, :]
    tail = t_out + np.array([s.work for s in subs])[:, None] / speed
    return np.where(np.isfinite(lat), t_in + tail, INF), lat, tail


class SiteTable:
    def __init__(self, inst: Instance, kcode: dict[tuple[PeerId, int], int],
                 scol: dict[PeerId, int]) -> None:
        self.inst, self.kcode, self.scol = inst, kcode, scol
        self.workers = [w.id for w in inst.workers]
        self.speed = np.array([w.speed for w in inst.workers])
        self.pb = np.array([w.backlog / w.speed for w in inst.workers])  # the phantom's service
        self.pl = 1.0 / inst.round_s * self.pb  # and its load
        self.fifo, self.poisson = inst.queue == "fifo", inst.arrival == "poisson"
        self.width = 0
        self.cols: dict[tuple[int, int], int] = {}  # (worker, piece code) -> column
        self.has = np.zeros((len(self.workers), len(kcode) + 1), bool)  # [j, code]: a piece there
        self._grow(4)

    def _grow(self, width: int) -> None:
        nw, old = len(self.workers), self.width
        pad = {"xs": INF, "lx": 0.0, "kx": -1, "src": -1, "rate": 0.0, "wait": 0.0, "res": 0.0,
               "raw": 0.0, "lt": 0.0, "le": 0.0, "f": 0.0, "stage_l": INF, "fl": 0.0, "drop": INF,
               "drop1": INF, "top_at": -2}
        for name, fill in pad.items():
            dtype = np.int64 if name in ("kx", "src", "top_at") else float
            new = np.full((nw, width), fill, dtype=dtype)
            if old:
                new[:, :old] = getattr(self, name)
            setattr(self, name, new)
        self.width = width

    def row(self, j: int, ledger: Ledger, second: float, second_of: np.ndarray) -> None:
        """Worker j's pieces as they are now (`second`, `second_of`: its second moment,
        whole and by source). Their latencies and stages' latencies come from `stage`."""
        site = self.workers[j]
        ps = ledger.site_pieces(site)
        if len(ps) > self.width:
            self._grow(len(ps) + 4)
        for name in ("xs", "lx", "kx", "src", "rate", "wait", "res", "raw", "lt", "le", "f",
                     "stage_l", "fl", "drop", "drop1", "top_at"):
            getattr(self, name)[j] = {"xs": INF, "kx": -1, "src": -1, "stage_l": INF,
                                      "drop": INF, "drop1": INF, "top_at": -2}.get(name, 0.0)
        self.has[j] = False
        finish = ledger.finish(site)
        for c, (key, p) in enumerate(ps.items()):
            x = p.work / self.speed[j]
            rate = self.inst.local_of(p.source).rate
            self.xs[j, c], self.lx[j, c], self.rate[j, c] = x, rate * x, rate
            self.kx[j, c], self.src[j, c] = self.kcode[key], self.scol[p.source]
            self.wait[j, c] = finish[key] - x
            t_in, t_out = transfer(self.inst, p.source, site, p.in_bytes, p.out_bytes, p.in_bytes)
            self.fl[j, c] = t_in + t_out + x  # its transfers alone and service: its floor
            self.cols[(j, self.kcode[key])] = c
            self.has[j, self.kcode[key]] = True
            mine = 0.0 if self.poisson else second_of[self.scol[p.source]]
            self.raw[j, c] = second - mine
            self.res[j, c] = max(0.0, second - mine) / 2
        n = len(ps)
        xs, lx = self.xs[j, :n], self.lx[j, :n]
        if self.fifo:
            self.lt[j, :n] = self.le[j, :n] = self.pl[j] + lx.sum()
        else:
            below = np.where(self.pb[j] < xs, self.pl[j], 0.0)
            self.lt[j, :n] = below + (lx[None, :] * (xs[None, :] < xs[:, None])).sum(axis=1)
            upto = np.where(self.pb[j] <= xs, self.pl[j], 0.0)
            self.le[j, :n] = upto + (lx[None, :] * (xs[None, :] <= xs[:, None])).sum(axis=1)

    def stage(self, j: int, key: tuple[PeerId, int], latency: float, stage_latency: float,
              drop: float = INF, drop1: float = INF, top_at: int = -2) -> None:
        """The latency of the piece `key` on worker j, and of its stage, now; and the most
        its stage can fall however fast the piece gets (its other pieces hold it up: a
        piece that is not its stage's slowest gains its stage little or nothing): `drop`
        after any step, `drop1` after a step that lowers no other piece of it but perhaps
        the one on worker `top_at` (its slowest other piece's; -2: none or not a worker)."""
        c = self.cols[(j, self.kcode[key])]
        self.f[j, c], self.stage_l[j, c] = latency, stage_latency
        self.drop[j, c], self.drop1[j, c], self.top_at[j, c] = drop, drop1, top_at

    def room(self, work: np.ndarray, rate: np.ndarray, key: np.ndarray, cols: np.ndarray,
             leave: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(room, merges) of subtasks (work, rate, piece code) each joining worker `cols`
        (the piece in column `leave` of each leaving it, if given): the denominator of its
        wait there, and whether it would merge with a piece of its stage already there
        (then the merged piece's: it serves both, in the class of their summed service,
        shaded a hair low so that a tie of classes never counts against it)."""
        xs, lx, kx = self.xs[cols], self.lx[cols], self.kx[cols]
        x = work / self.speed[cols]
        if leave is not None:
            gone = np.arange(self.width)[None, :] == leave[:, None]
            lx = np.where(gone, 0.0, lx)
            kx = np.where(gone, -1, kx)
        hit = kx == key[:, None]
        merges = hit.any(axis=1)
        if merges.any():
            x = np.where(merges, (x + np.where(hit, xs, 0.0).sum(axis=1)) * (1 - 1e-12), x)
            lx = np.where(hit, 0.0, lx)  # the piece it merges into is the merged one now
        mine = rate * x
        if self.fifo:
            return 1 - np.minimum(self.pl[cols] + lx.sum(axis=1) + mine, 1.0), merges
        pb, pl = self.pb[cols], self.pl[cols]
        lt = np.where(pb < x, pl, 0.0) + (lx * (xs < x[:, None])).sum(axis=1)
        le = np.where(pb <= x, pl, 0.0) + (lx * (xs <= x[:, None])).sum(axis=1) + mine
        return (1 - np.minimum(lt, 1.0)) * (1 - np.minimum(le, 1.0)), merges

    def harm(self, work: np.ndarray, rate: np.ndarray, key: np.ndarray, src: np.ndarray,
             cols: np.ndarray, leave: np.ndarray | None, leave_src: np.ndarray | None,
             leave_share: np.ndarray | None, elsewhere: np.ndarray | None,
             alone: np.ndarray | None = None) -> np.ndarray:
        """At least how much J rises on worker `cols[k]` from the pieces of other sources
        already there when subtask k (work, rate, piece code, source code) arrives and the
        piece in column `leave[k]` (of source `leave_src[k]`, its share of the second
        moment `leave_share[k]`) leaves: each such piece's stage gets at least as slow as
        the piece's new latency (its new wait: the residual and load it would see over
        its new room). Pieces of the movers' sources, of a stage that also has a piece on
        worker `elsewhere[k]` (the other touched worker, or -1), and arrivals that merge
        count nothing (the bound's other terms cover them).

        Where the leaving piece is its subtask alone (`alone[k]`), what the bound's credit
        (`StepBounds.relief`) gave each counted piece for the leaving is taken back and
        its stage's change is bounded both ways instead (it may get faster, but by no
        more than its piece): a swap of near twins then prices as the near-nothing it is."""
        m = len(cols)
        kx, psrc, xs = self.kx[cols], self.src[cols], self.xs[cols]
        x = work / self.speed[cols]
        lam = rate * x
        d_res = lam * x / 2
        d_lt = self._ahead(x, xs, lam, True)
        d_le = self._ahead(x, xs, lam, False)
        keep = (kx >= 0) & (psrc != src[:, None])
        hit = kx == key[:, None]
        if leave is not None:
            rows = np.arange(m)
            gone = np.arange(self.width)[None, :] == leave[:, None]
            y_x, y_l = xs[rows, leave], self.lx[cols, leave]
            d_res = d_res - leave_share / 2
            y_lt, y_le = self._ahead(y_x, xs, y_l, True), self._ahead(y_x, xs, y_l, False)
            d_lt = d_lt - y_lt
            d_le = d_le - y_le
            keep &= ~gone & (psrc != leave_src[:, None])
            hit &= ~gone
        merges = hit.any(axis=1)
        keep &= ~merges[:, None]
        if elsewhere is not None:
            shared = self.has[np.maximum(elsewhere, 0)[:, None], kx] & (elsewhere >= 0)[:, None]
            keep &= ~shared
        lt, le, res, now = self.lt[cols], self.le[cols], self.res[cols], self.wait[cols]
        room = self._room(lt + d_lt, le + d_le)
        with np.errstate(divide="ignore", invalid="ignore"):
            wait = np.where(room > 0, (res + d_res[:, None]) / np.maximum(room, 1e-300), INF)
            later = self.f[cols] + wait * SLACK - now - self.stage_l[cols]
            rate = self.rate[cols]
            rise = rate * np.maximum(0.0, later)
            if leave is not None and alone is not None:
                without = self._room(lt - y_lt, le - y_le)
                w_minus = (res - leave_share[:, None] / 2) / np.maximum(without, 1e-300)
                # the cap the credit was given with (`relief`): the stage's other pieces
                # may fall on `elsewhere` too, the other site the step leaves
                other = -1 if elsewhere is None else elsewhere
                pair = (self.top_at[cols] == np.asarray(other).reshape(-1, 1)) | (np.asarray(other) < 0).reshape(-1, 1)
                drop = np.where(pair, self.drop[cols], self.drop1[cols])
                credit = rate * np.minimum(np.maximum(0.0, now - w_minus * (1 + 1e-9)), drop)
                fall = np.maximum(np.minimum(0.0, wait * SLACK - now), -drop)
                both = rate * np.maximum(later, fall) + credit
                rise = np.where(alone[:, None], both, rise)
            rise = np.where(keep, rise, 0.0)
        return rise.sum(axis=1)

    def merged(self, key: np.ndarray, cols: np.ndarray, x: np.ndarray, alone: np.ndarray,
               leave: np.ndarray | None) -> np.ndarray:
        """At least what subtasks (piece code key[k], service x[k] and floor `alone[k]`:
        transfers alone and service on worker cols[k]) add to that floor by merging into
        their stage's piece there (not the one in column leave[k]): the merged piece serves
        both, and its transfers carry both's bytes, so it takes at least the piece's service
        more, and at least the piece's own floor plus x[k]. 0 where they merge with none."""
        hit = self.kx[cols] == key[:, None]
        if leave is not None:
            hit &= np.arange(self.width)[None, :] != leave[:, None]
        if not hit.any():  # the common case: nothing of its stage there
            return np.zeros(len(cols))
        c = np.argmax(hit, axis=1)
        with np.errstate(invalid="ignore"):
            extra = np.maximum(self.xs[cols, c], self.fl[cols, c] + x - alone) * SLACK
        return np.where(hit.any(axis=1), extra, 0.0)

    def falls(self, j: int, cols: np.ndarray, x_after: np.ndarray) -> np.ndarray:
        """At least how much each other piece on worker j (row k, column c) waits less when
        a subtask leaves the piece in column `cols[k]`, which then serves `x_after[k]` (0:
        the piece goes), by the site's formula with that one piece changed (the new waits
        shaded low, so the fall is never short of the exact); 0 where no other piece, nan
        where the wait was endless. `relief` prices them; they change only with the row."""
        m = len(cols)
        xs = np.broadcast_to(self.xs[j], (m, self.width))
        xd, ld = self.xs[j, cols], self.lx[j, cols]
        ld2 = self.rate[j, cols] * x_after
        lt = self.lt[j] - self._ahead(xd, xs, ld, True) + self._ahead(x_after, xs, ld2, True)
        le = self.le[j] - self._ahead(xd, xs, ld, False) + self._ahead(x_after, xs, ld2, False)
        fall = ld * xd - ld2 * x_after  # what the second moment loses
        # a fixed-rate piece of the leaving one's source does not wait for its own frames
        counted = self.poisson | (self.src[j][None, :] != self.src[j, cols][:, None])
        res = np.maximum(0.0, self.raw[j] - np.where(counted, fall[:, None], 0.0)) / 2
        room = self._room(lt, le)
        with np.errstate(divide="ignore", invalid="ignore"):
            wait = np.where(room > 0, res / np.maximum(room, 1e-300), INF) * SLACK
            out = self.wait[j] - wait
        others = (self.kx[j] >= 0) & (np.arange(self.width)[None, :] != cols[:, None])
        return np.where(others, out, 0.0)

    def relief(self, j: int, falls: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...]:
        """At least how much the other pieces on worker j gain, rate-weighted, when each
        subtask (a row of `falls`) leaves: `bounds.StepBounds`' relief credit. A piece's
        stage falls by no more than the piece, nor past its other pieces' floors: capped
        by `drop` after any step (pair), by `drop1` after one that lowers no other site (a
        move), and after one that also lowers worker b's pieces by the move's cap plus
        `extra[:, b]` (the pieces whose stage's slowest other piece is on b get `drop`).
        Also `own` and `own1`: the share of `drop`'s and `drop1`'s of the pieces of the
        leaving one's source (in column `cols[k]`), what its other stages can gain."""
        with np.errstate(invalid="ignore"):
            gain = self.rate[j] * np.minimum(falls, self.drop[j])
            gain1 = self.rate[j] * np.minimum(falls, self.drop1[j])
        gain = np.where(gain > 0, gain, 0.0)  # nan (inf - inf): no gain
        gain1 = np.where(gain1 > 0, gain1, 0.0)
        mine = self.src[j][None, :] == self.src[j, cols][:, None]
        own, own1 = np.where(mine, gain, 0.0).sum(axis=1), np.where(mine, gain1, 0.0).sum(axis=1)
        at = self.top_at[j]
        on = at >= 0
        if not on.any():  # no piece there has a slower one of its stage on a worker
            extra = np.zeros((len(falls), len(self.workers)))
        else:  # each piece's difference added into its slowest sibling's worker's column
            spread = at[on][:, None] == np.arange(len(self.workers))[None, :]
            extra = (gain[:, on] - gain1[:, on]) @ spread
        return gain.sum(axis=1), gain1.sum(axis=1), extra, own, own1

    def _ahead(self, x: np.ndarray, xs: np.ndarray, load: np.ndarray, strict: bool) -> np.ndarray:
        """The load a piece of service x[k] adds to what each piece on row k waits behind:
        under SJF to the pieces of more work (`strict`: its lt; else its le), under FIFO
        to every piece."""
        if self.fifo:
            return np.broadcast_to(load[:, None], xs.shape)
        return np.where((x[:, None] < xs) if strict else (x[:, None] <= xs), load[:, None], 0.0)

    def _room(self, lt: np.ndarray, le: np.ndarray) -> np.ndarray:
        """The denominator of a piece's wait from the loads below and up to its work (on a
        FIFO site both are the site's load)."""
        if self.fifo:
            return 1 - np.minimum(le, 1.0)
        return (1 - np.minimum(lt, 1.0)) * (1 - np.minimum(le, 1.0))
