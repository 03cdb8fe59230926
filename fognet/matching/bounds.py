"""A lower bound on each phase-2 step's change of J, so `play` prices only hopeful steps.

Only a speed-up: `hopeful(me)` yields, in `steps.candidates` order, every step the Turn
holder could list whose bound is below a small tolerance; the bound never exceeds the
exact change, so every step the parties would approve is among them, and the first
approved one is the agents' first approved one.

The bound adds, for each source's stage a step touches:
- a stage with a moving slice z (to site c): its new latency is at least z's transfer and
  service there alone (`lb`: more bytes, more load and more work only add), so its change
  is at least `lb(z, c) - L` (L: the stage's latency now);
- a stage without one: it can only get faster on the sites something leaves, by no more
  than its piece there gains when that subtask leaves (arrivals only slow pieces down),
  nor past the highest floor its other pieces keep. So a subtask leaving a site is
  credited what every other piece there gains, each capped by how far its stage can fall
  (`relief`): to its other pieces' latency now after a move (`relief1`: only that site
  falls), or, after a swap or displacement, with the one on the step's other site
  floored by its transfers and service alone (`extra[:, b]`: one more site falls).
Both are also floored by the stage's pieces on other sites (`rest`: their transfers and
service alone, which no step lowers; for a step between workers where the slice is its
piece alone, their latency now, which a step touching neither site keeps), except when
two slices of one stage trade places; and by their *held* floors (`stage_floors`: a piece
on a site the step does not leave keeps at least its finish time now, with its transfers
alone). A source's own device is also priced with its overload penalty for a move or
displacement home (its load after is at least its load now plus the subtask's), and its
piece of the arriving slice's stage gets at least the penalty's rise and, merged, the
slice's service.

The filters run cheapest first, each only on what the one before kept: the wait floor
`R / (1 - own load)`; then the wait by the site's own formula on its pieces as they would
be (`site_table.SiteTable.room`); then the harm an arrival does to the other sources'
pieces already there (`SiteTable.harm`: their waits rise), which for a leaving slice
alone in its piece replaces that piece's relief credit by its exact two-sided change.
`credit(changes)` hands `game.price` the relief alone, for its own early refusal.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np

from fognet.matching.cost import (
    INF,
    is_worker,
    load_of,
    moments,
)
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.matching.messages import Change
from fognet.matching.relief import Reliefs
from fognet.matching.site_table import SiteTable, worker_links
from fognet.matching.stage_floors import HOME, NOTHING, StageFloors
from fognet.matching.steps import Ledger
from fognet.matching.wait_floors import WaitFloors

TOLERANCE = 1e-7  # the bound's own rounding must never hide an approvable step
# the finer filters cost a few dozen array operations: run them only on this many steps
# or more (fewer are priced sooner as they are); only the speed depends on it. Since a
# Turn lists only the steps its reach leaves open, a step often survives alone, and the
# filters are cheaper than its price: 1 (500x50x1: 1.8k prices instead of 2.2k)
REFINE = 1
ROOM = 1e-9  # a worker is only ruled out when its load is past its cap by more than this


class StepBounds(WaitFloors, Reliefs):
    def __init__(self, inst: Instance, ledger: Ledger, rule: str = "welfare") -> None:
        """`rule`: "fair" also leaves out the steps where a moving source's own share
        must rise (a welfare bound holds under either rule, so that is the default)."""
        self.inst, self.ledger = inst, ledger
        self.fair = rule == "fair"
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
        self.scol = {src: k for k, src in enumerate(inst.sources)}
        self.scode = np.array([self.scol[s.source] for s in self.subs], dtype=np.int64)
        self.stage = np.array([s.stage for s in self.subs])
        stages_of: dict[PeerId, set[int]] = {}
        for s in self.subs:
            stages_of.setdefault(s.source, set()).add(s.stage)
        # its source has other stages (under fair, pieces of them may gain when it moves)
        self.multi = np.array([len(stages_of[s.source]) > 1 for s in self.subs], dtype=bool)
        self.lbw, self.lat_w, self.tail_w = worker_links(inst, self.subs)
        self.inb = np.array([float(s.in_bytes) for s in self.subs])
        self.nic = np.array([local[s.source].nic or INF for s in self.subs])
        self.xhome = self.work / self.home_speed  # service on its own device
        # ... plus the least wait there: the backlog's share of the residual, which every
        # piece on that device waits behind (the formulas' denominators are at most 1)
        b = np.array([local[s.source].backlog for s in self.subs]) / self.home_speed
        self.lbhome = self.xhome + np.maximum(0.0, b * b / inst.round_s / 2 - 1e-12)
        self.site = [PeerId("")] * n
        self.code = np.full(n, -1)  # worker column, or -1 on a source's own device
        # its stage's latency now and floors on its other pieces (`stage_floors`)
        self.floors = StageFloors(inst, ledger, self.index, self.col)
        f = self.floors
        self.L, self.rest, self.top1, self.top2, self.top1_at = f.L, f.rest, f.top1, f.top2, f.top1_at
        self.relief = np.zeros(n)  # most J can fall on its site when it leaves
        self.relief1 = np.zeros(n)  # ... in a move (no other site's pieces fall)
        self.own_relief, self.own_relief1 = np.zeros(n), np.zeros(n)
        # ... in a step that also lowers worker b's pieces: relief1 + extra[:, b]
        self.extra = np.zeros((n, len(inst.workers)))
        self.pshare = np.zeros(n)  # its piece's share of its worker's second moment
        self.home_load = np.zeros(len(self.scol))  # each source's own device's load now
        nw = len(self.workers)
        self.cap = np.array([w.cap for w in inst.workers])
        self.quota = np.array([w.quota if w.quota is not None else n + 1 for w in inst.workers])
        self.load = np.zeros(nw)  # each worker's load now
        self.count = np.zeros(nw, dtype=np.int64)
        self.second = np.zeros(nw)  # B: each worker's second moment now (backlog included)
        self.second_of = np.zeros((nw, len(self.scol)))  # B by worker and source
        self.wspeed = np.array([w.speed for w in inst.workers])
        self.poisson = inst.arrival == "poisson"
        wspeed = np.array([w.speed for w in inst.workers])
        self.adds = self.rate[:, None] * self.work[:, None] / wspeed[None, :]  # load i brings to j
        self._seen: dict[PeerId, int] = {}
        self._falls: dict[int, tuple] = {}  # worker -> ((version, width), rows, its falls)
        # each worker's pieces now, padded (service, load, (source, stage) code), so a
        # subtask's wait on every worker is Cobham's (or P-K's) formula at once
        self.kcode = {k: c for c, k in enumerate(sorted({(s.source, s.stage) for s in self.subs}))}
        self.key = np.array([self.kcode[(s.source, s.stage)] for s in self.subs], dtype=np.int64)
        self.table = SiteTable(inst, self.kcode, self.scol)
        self.pcol = np.zeros(n, dtype=np.int64)  # the column of its piece on its worker
        self.alone = np.zeros(n, bool)  # its piece on its worker is it alone

    # --- keeping the per-subtask arrays current ----------------------------------------

    def _refresh(self) -> None:
        ledger = self.ledger
        changed = [p for p, v in ledger.version.items() if self._seen.get(p) != v]
        if not changed:
            return
        sources: dict[PeerId, set[int]] = {}  # the stages with a piece on a changed site
        for p in changed:
            self._seen[p] = ledger.version[p]
            hosted = ledger.hosted(p)
            for s in hosted:
                i = self.index[s.id]
                self.site[i] = p
                self.code[i] = self.col.get(p, -1)
                sources.setdefault(s.source, set()).add(s.stage)
            if not is_worker(self.inst, p):
                for s in hosted:
                    i = self.index[s.id]
                    # on a source's own device every other piece is its own
                    self.relief[i] = self.relief1[i] = self._relief(p, s)
                    self.own_relief[i] = self.own_relief1[i] = self.relief[i]
                    self.extra[i] = 0.0
                self.home_load[self.scol[p]] = load_of(self.inst, p, ledger.site_pieces(p).values())
            else:
                j = self.col[p]
                self.load[j] = load_of(self.inst, p, ledger.site_pieces(p).values())
                speed, ps = self.inst.workers[j].speed, ledger.site_pieces(p)
                for s in hosted:
                    x = ps[(s.source, s.stage)].work / speed
                    self.pshare[self.index[s.id]] = self.inst.local_of(s.source).rate * x * x
                self.count[j] = len(hosted)
                self._moments(j)
                self.table.row(j, ledger, self.second[j], self.second_of[j])
                groups = ledger.groups(p)
                for s in hosted:
                    key = (s.source, s.stage)
                    self.pcol[self.index[s.id]] = self.table.cols[(j, self.kcode[key])]
                    self.alone[self.index[s.id]] = len(groups[key]) == 1
        # a stage changes only with its own sites (a slice that left a site is on a changed
        # one now): the others' floors hold
        for src, ks in sources.items():
            self._stage_floors(src, ks)
        # a worker's relief reads how far its pieces' stages can fall (`SiteTable.stage`),
        # which changes with any site of their stages: redo every worker those are on
        redo = {self.col[p] for p in changed if p in self.col}
        for src, ks in sources.items():
            for s in ledger.mine.get(src, {}).values():
                if s.stage in ks:
                    j = self.col.get(ledger.site_of[s.id])
                    if j is not None:
                        redo.add(j)
        for j in sorted(redo):
            self._worker_relief(j)

    def _stage_floors(self, source: PeerId, ks: Collection[int]) -> None:
        """The stage floors of the source's subtasks in stages `ks` (`StageFloors.update`),
        and those stages' piece latencies on the workers into the site table, with how far
        each piece's stage can fall when that piece does: to the highest floor its other
        pieces keep after any step (one other site may fall with it, to its transfers and
        service alone)."""
        lats = self.floors.update(source, ks)
        stages = self.ledger.stage_latencies(source)
        f = self.floors
        for k in ks:
            for site, lat in lats.get(k, {}).items():
                if site in self.col:
                    i = self.index[self.ledger.groups(site)[(source, k)][0].id]
                    self.table.stage(self.col[site], (source, k), lat, stages[k],
                                     max(0.0, stages[k] - max(f.rest[i], f.top2[i])),
                                     max(0.0, stages[k] - max(f.rest[i], f.top1[i])),
                                     int(f.top1_at[i]))

    def _moments(self, j: int) -> None:
        m = moments(self.inst, self.workers[j], self.ledger.site_pieces(self.workers[j]).values())
        self.second[j] = m.second
        self.second_of[j] = 0.0
        for src, v in m.by_source.items():
            self.second_of[j, self.scol[src]] = v

    # --- the bound ------------------------------------------------------------------------

    def _harmed(self, i: int, ca: int, y: np.ndarray, cy: np.ndarray, swap: np.ndarray,
                disp: np.ndarray, swap_lb: np.ndarray, disp_lb: np.ndarray) -> tuple:
        """The swaps and displacements of subtask i with each y still hopeful once the harm
        to the other pieces on y's worker (i arrives, y leaves) and, for a swap, on i's
        (y arrives, i leaves) is added to their bounds."""
        t, on_w = self.table, cy >= 0
        wy = np.maximum(cy, 0)
        ii = np.full(len(y), i)
        at_b = t.harm(self.work[ii], self.rate[ii], self.key[ii], self.scode[ii], wy,
                      self.pcol[y], self.scode[y], self.pshare[y], np.full(len(y), ca),
                      self.alone[y])
        at_b = np.where(on_w, at_b, 0.0)
        at_a = np.zeros(len(y))
        if ca >= 0:
            at_a = t.harm(self.work[y], self.rate[y], self.key[y], self.scode[y],
                          np.full(len(y), ca), np.full(len(y), self.pcol[i]), self.scode[ii],
                          self.pshare[ii], np.where(on_w, cy, -1), self.alone[ii])
        with np.errstate(invalid="ignore"):
            return (swap & (swap_lb + at_b + at_a < TOLERANCE),
                    disp & (disp_lb + at_b < TOLERANCE))

    def hopeful(self, me: PeerId, sites: Collection[PeerId] | None = None,
                ) -> Iterator[tuple[str, tuple[Change, ...]]]:
        """The steps `steps.candidates` lists for `me` that may be approved, in its order,
        listed one subtask at a time as they are read (the reader stops at the first one
        approved, and applies no step before it stops reading). With `sites`, only those
        that touch one of them (the caller knows the others are refused as things stand)."""
        self._refresh()
        ledger = self.ledger
        own = sorted(ledger.mine.get(me, {}).values(), key=lambda s: s.id)
        # on a worker, or on my own device (a subtask off the workers is on its own)
        placed = np.nonzero((self.code >= 0) | (self.scode == self.scol[me]))[0]
        scope = None
        if sites is not None:
            scope = (np.zeros(len(self.workers), bool), np.zeros(len(self.scol), bool))
            for p in sites:
                if p in self.col:
                    scope[0][self.col[p]] = True
                elif p in self.scol:
                    scope[1][self.scol[p]] = True
        return (step for x in own for step in self._for(me, x, placed, scope))

    def _for(self, me: PeerId, x: Subtask, placed: np.ndarray,
             scope: tuple[np.ndarray, np.ndarray] | None) -> list:
        i = self.index[x.id]
        a, ca = self.site[i], int(self.code[i])
        r, L, rel1 = self.rate[i], self.L[i], self.relief1[i]
        out: list[tuple[str, tuple[Change, ...]]] = []
        room = (self.load + self.adds[i] < self.cap + ROOM) & (self.count < self.quota)
        mine = self.scol[me]
        if scope is not None and (scope[0][ca] if ca >= 0 else scope[1][mine]):
            scope = None  # x's own site is in scope: every step of x touches it
        if scope is not None:  # only the steps touching a site in scope: x's are not
            room &= scope[0]
            placed = placed[np.where(self.code[placed] >= 0, scope[0][np.maximum(self.code[placed], 0)],
                                     scope[1][mine]) | scope[1][self.scode[placed]]]
        # a move leaves only x's site: its stage's other pieces hold (`StageFloors`)
        rest = max(self.rest[i], float(self.floors.held_except(i, NOTHING)))
        allw = np.arange(len(self.workers))
        # each filter below only raises the bound, so the cheap ones go first
        # under fair my own share must not rise: my stage's change less what my other
        # stages can gain (at most the whole relief; nothing if I have no other stage)
        own1 = self.own_relief1[i]
        moves = r * (np.maximum(self._alone(i, allw, allw)
                                + self._wait_floor(i, x.source, allw, None, False),
                                rest) - L) - rel1
        if self.fair:
            moves = np.where(moves + rel1 - own1 < TOLERANCE, moves, INF)
        js = np.nonzero((moves < TOLERANCE) & room & (allw != ca))[0]
        if len(js) >= REFINE:
            ii = np.full(len(js), i)
            base = self._alone(i, js, js)
            lbw = base + self._wait_floor(i, x.source, js, None, base=base)
            lbw = np.maximum(lbw, rest)
            mine_part = r * (np.maximum(lbw, self._rest_on(i, ca, js)) - L)
            moves[js] = mine_part - rel1 + self.table.harm(
                self.work[ii], self.rate[ii], self.key[ii], self.scode[ii], js, None, None, None,
                np.full(len(js), ca))
            if self.fair:
                moves[js] = np.where(mine_part - own1 < TOLERANCE, moves[js], INF)
        for j in js[moves[js] < TOLERANCE]:
            out.append(("move", (Change(x, a, self.workers[j]),)))
        home = max(self._penalised_home(i), rest, float(self._home_held(i, i, True)))
        if a != me and (scope is None or scope[1][mine]) and r * (home - L) - rel1 < TOLERANCE \
                and (not self.fair or r * (home - L) - own1 < TOLERANCE):
            out.append(("move", (Change(x, a, me),)))
        y = placed[placed != i]
        cy = self.code[y]
        y = y[cy != ca]  # not on my site (a home y is my own, so on my site only if I am home)
        if not len(y):
            return out
        cy = self.code[y]
        wy = np.maximum(cy, 0)
        y_mine = self.scode[y] == self.scol[me]
        same = y_mine & (self.stage[y] == x.stage)
        ry, Ly = self.rate[y], self.L[y]
        # the credits: x's relief on a with y's worker lowered too, and y's on b with a
        rel_x = self._pair_relief(i, cy)
        rel_y = self._pair_relief(y, np.full(len(y), ca))
        home_y = self._penalised_home(y)
        if self.fair:  # has x's source a piece of another stage on y's worker, and y's on x's
            t = self.table
            x_on_b = np.zeros(len(y), bool)
            if self.multi[i]:
                x_on_b = (cy >= 0) & ((t.src[wy] == self.scode[i]) & (t.kx[wy] != self.key[i])).any(axis=1)
            if ca >= 0 and self.multi[y].any():
                y_on_a = ((t.src[ca][None, :] == self.scode[y][:, None])
                          & (t.kx[ca][None, :] != self.key[y][:, None])).any(axis=1)
            else:
                y_on_a = np.zeros(len(y), bool)
        # displaced, y lands on its source's device: its stage's piece there (and, if y is
        # mine, x's stage's piece there) gets at least the penalty's rise
        home_rise_y = self._home_held(y, y, True)
        home_rise_x = np.where(y_mine, self._home_held(y, np.full(len(y), i), same), 0.0)
        # a swap or displacement leaves x's site and y's: what their stages keep elsewhere
        # (arrivals only slow a piece down, so only the sites left are excluded)
        held_x = self.floors.held_except(i, cy)
        rest_y = np.maximum(self.rest[y], self.floors.held_except(
            y, ca if ca >= 0 else np.where(y_mine, HOME, NOTHING)))

        def paired(k: np.ndarray, lbx: np.ndarray, lby: np.ndarray, rest_x: np.ndarray | float,
                   rest_yk: np.ndarray, home: bool = False) -> np.ndarray:
            rest_x = np.maximum(rest_x, held_x[k])
            if home:  # a displacement
                rest_x = np.maximum(rest_x, home_rise_x[k])
                rest_yk = np.maximum(rest_yk, home_rise_y[k])
            xp = r * (np.maximum(lbx, rest_x) - L)
            yp = ry[k] * (np.maximum(lby, rest_yk) - Ly[k])
            kept = np.maximum(held_x[k], home_rise_x[k]) if home else held_x[k]
            both = r * (np.maximum(np.maximum(lbx, lby), kept) - L)
            mine = np.where(same[k], both, xp + yp)
            total = mine - rel_x[k] - rel_y[k]
            if not self.fair:
                return total
            # fair: each moving source's own share (its other stages gain at most the relief)
            # fair: each moving source's own share; its other stages gain at most its own
            # part of the reliefs on the sites left (the other mover's, where it has a
            # piece of another stage there)
            own_x = self.own_relief[i] + np.where(x_on_b[k], rel_y[k], 0.0)
            own_y = self.own_relief[y[k]] + np.where(y_on_a[k], rel_x[k], 0.0)
            ok = np.where(y_mine[k], mine - self.own_relief[i] - self.own_relief[y[k]] < TOLERANCE,
                          (xp - own_x < TOLERANCE) & (yp - own_y < TOLERANCE))
            return np.where(ok, total, INF)

        def at_b(k: np.ndarray, exact: bool) -> np.ndarray:
            base = self._alone(i, wy[k], cy[k])
            floor = base + self._wait_floor(i, x.source, cy[k], y[k], exact, base)
            return np.where(cy[k] >= 0, floor, np.where(y_mine[k], self.lbhome[i], INF))

        def at_a(k: np.ndarray, exact: bool) -> np.ndarray:
            if ca >= 0:
                at = np.full(len(k), ca)
                base = self._alone(y[k], at, at)
                return base + self._wait_floors_at(ca, y[k], i, exact, base)
            return np.where(y_mine[k], self.lbhome[y[k]], INF)

        fits_b = (cy < 0) | (self.load[wy] - self.adds[y, wy] + self.adds[i, wy] < self.cap[wy] + ROOM)
        if ca >= 0:
            fits_a = self.load[ca] - self.adds[i, ca] + self.adds[y, ca] < self.cap[ca] + ROOM
        else:
            fits_a = np.ones(len(y), bool)
        ks = np.arange(len(y))
        swap = fits_a & fits_b
        disp = (cy >= 0) & fits_b & ~(y_mine & (ca < 0))
        for exact in (False, True):
            ks = ks[swap[ks] | disp[ks]]
            if not len(ks):
                return out
            if exact and len(ks) < REFINE:
                break
            lbx = at_b(ks, exact)
            rest_x, rest_yk = self.rest[i], rest_y[ks]
            if exact:  # both stay on workers: the pieces of their stages elsewhere stay put
                rest_x = np.where(same[ks], self.rest[i], self._rest_on(i, ca, cy[ks]))
            with np.errstate(invalid="ignore"):
                disp_lb = paired(ks, lbx, home_y[ks], rest_x, rest_yk, True)
                if exact and ca >= 0:
                    rest_yk = np.where(same[ks] | (cy[ks] < 0), rest_yk,
                                       self._rest_on(y[ks], cy[ks], np.full(len(ks), ca)))
                swap_lb = paired(ks, lbx, at_a(ks, exact), rest_x, rest_yk)
                swap[ks] &= swap_lb < TOLERANCE
                disp[ks] &= disp_lb < TOLERANCE
        else:
            keep = swap[ks] | disp[ks]
            ks, swap_lb, disp_lb = ks[keep], swap_lb[keep], disp_lb[keep]
            if len(ks):
                swap[ks], disp[ks] = self._harmed(i, ca, y[ks], cy[ks], swap[ks], disp[ks],
                                                   swap_lb, disp_lb)
        for k in np.nonzero(swap | disp)[0]:
            t = self.subs[y[k]]
            b = self.site[y[k]]
            if swap[k]:
                out.append(("swap", (Change(x, a, b), Change(t, b, a))))
            if disp[k]:
                out.append(("displace", (Change(x, a, b), Change(t, b, t.source))))
        return out
