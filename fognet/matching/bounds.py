"""A lower bound on each phase-2 step's change of J, so `play` prices only hopeful steps.

Only a speed-up: `hopeful(me)` yields, in `steps.candidates` order, every step the Turn
holder could list whose bound is below a small tolerance; the bound never exceeds the
exact change, so every step the parties would approve is among them, and the first
approved one is the agents' first approved one.

The bound adds, for each source's stage a step touches:
- a stage with a moving slice z (to site c): its new latency is at least z's transfer and
  service there alone (`lb`: more bytes, more load and more work only add), so its change
  is at least `lb(z, c) - L` (L: the stage's latency now);
- a stage without one: it can only get faster on the sites something leaves, and by no
  more than its pieces' waits there. So a subtask leaving a site is credited at most the
  rate-weighted waits of every other piece there (`relief`).
A source's own device is also priced with its overload penalty for a move or displacement
home (its load after is at least its load now plus the subtask's).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fognet.matching.cost import INF, OWN_CAP, PENALTY, is_worker, pieces, site_load
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.matching.messages import Change
from fognet.matching.steps import Ledger

TOLERANCE = 1e-7  # the bound's own rounding must never hide an approvable step


class StepBounds:
    def __init__(self, inst: Instance, ledger: Ledger) -> None:
        self.inst, self.ledger = inst, ledger
        self.subs = sorted(inst.subtasks, key=lambda s: (s.source, s.id))
        self.index = {s.id: i for i, s in enumerate(self.subs)}
        self.workers = [w.id for w in inst.workers]
        self.col = {w: j for j, w in enumerate(self.workers)}
        n = len(self.subs)
        local = {d.source: d for d in inst.local}
        self.rate = np.array([local[s.source].rate for s in self.subs])
        self.work = np.array([s.work for s in self.subs])
        self.home_speed = np.array([local[s.source].speed for s in self.subs])
        self.src = [s.source for s in self.subs]
        self.stage = np.array([s.stage for s in self.subs])
        self.lbw = self._worker_bounds()
        self.lbhome = self.work / self.home_speed
        self.site = [PeerId("")] * n
        self.code = np.full(n, -1)  # worker column, or -1 on a source's own device
        self.L = np.zeros(n)  # latency of each subtask's stage now
        self.relief = np.zeros(n)  # most J can fall on its site when it leaves
        self.home_load: dict[PeerId, float] = {}
        self._seen: dict[PeerId, int] = {}

    def _worker_bounds(self) -> np.ndarray:
        """lb[i, j]: subtask i alone on worker j, transfers and service only (inf: no link)."""
        inst = self.inst
        n, nw = len(self.subs), len(self.workers)
        lat, bw = np.full((n, nw), INF), np.full((n, nw), INF)
        pairs: dict[tuple[PeerId, PeerId], tuple[float, float]] = {}
        for i, s in enumerate(self.subs):
            for j, w in enumerate(self.workers):
                key = (s.source, w)
                if key not in pairs:
                    link = inst.link(s.source, w)
                    pairs[key] = (INF, INF) if link is None else (link.latency, link.bandwidth)
                lat[i, j], bw[i, j] = pairs[key]
        inb = np.array([float(s.in_bytes) for s in self.subs])[:, None]
        outb = np.array([float(s.out_bytes) for s in self.subs])[:, None]
        with np.errstate(invalid="ignore"):
            t_in = lat + inb / bw
            t_out = lat + outb / bw
        nic_src = np.array([inst.local_of(s.source).nic or INF for s in self.subs])[:, None]
        nic_w = np.array([w.nic or INF for w in inst.workers])[None, :]
        t_in = np.maximum(t_in, np.maximum(lat + inb / nic_src, inb / nic_w))
        t_out = np.maximum(t_out, np.maximum(outb / nic_src, outb / nic_w))
        speed = np.array([w.speed for w in inst.workers])[None, :]
        out = t_in + t_out + self.work[:, None] / speed
        return np.where(np.isfinite(lat), out, INF)

    # --- keeping the per-subtask arrays current ----------------------------------------

    def _refresh(self) -> None:
        ledger = self.ledger
        changed = [p for p, v in ledger.version.items() if self._seen.get(p) != v]
        if not changed:
            return
        sources: set[PeerId] = set()
        for p in changed:
            self._seen[p] = ledger.version[p]
            hosted = ledger.hosted(p)
            waits, total = self._waits(p, hosted)
            for s in hosted:
                i = self.index[s.id]
                self.site[i] = p
                self.code[i] = self.col.get(p, -1)
                self.relief[i] = total - waits[(s.source, s.stage)]
                sources.add(s.source)
            if not is_worker(self.inst, p):
                self.home_load[p] = site_load(self.inst, p, hosted)
        for i, s in enumerate(self.subs):  # a source's stages may change with any site's
            if s.source in sources:
                self.L[i] = ledger.stage_latencies(s.source)[s.stage]

    def _waits(self, site: PeerId, hosted: list[Subtask]) -> tuple[dict, float]:
        """Each piece's rate-weighted wait on the site now, and their sum."""
        finish = self.ledger.finish(site)
        speed = (self.inst.worker(site) if is_worker(self.inst, site)
                 else self.inst.local_of(site)).speed
        waits = {}
        for p in pieces(hosted):
            rate = self.inst.local_of(p.source).rate
            waits[(p.source, p.stage)] = rate * max(0.0, finish[(p.source, p.stage)] - p.work / speed)
        return waits, sum(waits.values())

    # --- the bound ------------------------------------------------------------------------

    def _penalised_home(self, i: int | np.ndarray, homes: list[PeerId]) -> np.ndarray:
        load = np.array([self.home_load.get(h, 0.0) for h in homes])
        after = load + self.rate[i] * self.lbhome[i]
        return self.lbhome[i] + PENALTY * np.maximum(0.0, after - OWN_CAP)

    def hopeful(self, me: PeerId) -> Iterator[tuple[str, tuple[Change, ...]]]:
        """The steps `steps.candidates` lists for `me` that may be approved, in its order."""
        self._refresh()
        ledger = self.ledger
        own = sorted(ledger.mine.get(me, {}).values(), key=lambda s: s.id)
        placed = np.array([i for i, s in enumerate(self.subs)
                           if self.code[i] >= 0 or (s.source == me and self.site[i] == me)],
                          dtype=np.int64)
        out: list[tuple[str, tuple[Change, ...]]] = []
        for x in own:
            out.extend(self._for(me, x, placed))
        return iter(out)

    def _for(self, me: PeerId, x: Subtask, placed: np.ndarray) -> list:
        i = self.index[x.id]
        a, ca = self.site[i], int(self.code[i])
        r, L, rel = self.rate[i], self.L[i], self.relief[i]
        out: list[tuple[str, tuple[Change, ...]]] = []
        moves = r * (self.lbw[i] - L) - rel
        for j in np.nonzero(moves < TOLERANCE)[0]:
            if j != ca:
                out.append(("move", (Change(x, a, self.workers[j]),)))
        if a != me and r * (self._penalised_home(i, [me])[0] - L) - rel < TOLERANCE:
            out.append(("move", (Change(x, a, me),)))
        y = placed[placed != i]
        cy = self.code[y]
        y = y[cy != ca]  # not on my site (a home y is my own, so on my site only if I am home)
        if not len(y):
            return out
        cy = self.code[y]
        y_mine = np.array([self.src[k] == me for k in y], bool)
        lbx_b = np.where(cy >= 0, self.lbw[i, np.maximum(cy, 0)], np.where(y_mine, self.lbhome[i], INF))
        lby_a = self.lbw[y, ca] if ca >= 0 else np.where(y_mine, self.lbhome[y], INF)
        same = y_mine & (self.stage[y] == x.stage)
        ry, Ly = self.rate[y], self.L[y]

        def paired(lby: np.ndarray) -> np.ndarray:
            apart = r * (lbx_b - L) + ry * (lby - Ly)
            return np.where(same, r * (np.maximum(lbx_b, lby) - L), apart) - rel - self.relief[y]

        with np.errstate(invalid="ignore"):
            swap = paired(lby_a) < TOLERANCE
            homes = [self.src[k] for k in y]
            disp = (cy >= 0) & ~(y_mine & (ca < 0)) & (paired(self._penalised_home(y, homes)) < TOLERANCE)
        for k in np.nonzero(swap | disp)[0]:
            t = self.subs[y[k]]
            b = self.site[y[k]]
            if swap[k]:
                out.append(("swap", (Change(x, a, b), Change(t, b, a))))
            if disp[k]:
                out.append(("displace", (Change(x, a, b), Change(t, b, t.source))))
        return out
