"""DINA-O's game: deferred acceptance (phase 1), then approved steps (phase 2) until none is left.

Phase 1: each subtask proposes down its list of sites ranked by standalone latency (ties by
site order: workers in instance order, then its own device); a worker holds the `quota`
proposals of least work (ties by (source id, subtask id)) and rejects the rest; the own
device never rejects.

Phase 2: a step is a *move* (one subtask to a worker with a free slot, or home), a *swap*
(two subtasks exchange sites) or a *displacement* (a subtask takes a worker slot from
another, which goes home). It is approved when the total latency on the sites it touches
falls by more than EPS, and under rule "fair" when no source whose subtask moves gets
slower in total. Every approved step lowers the global total, so the loop ends.

Speed: each pass prices every candidate step at once with numpy from two arrays (the cost
of inserting subtask i into site j's current set, and of removing i from its own site),
using the fact that a swap's or displacement's delta is those insertions and removals
plus one pairwise term. It then applies the best steps that touch disjoint sites, each
re-priced exactly first (`_evaluate`) so the arrays are only a filter. A pass that finds
no approvable step proves the matching exchange-stable.

`try_move`, `try_swap`, `try_displace` are the same steps on a Matching value, one at a
time, for tests and for the agent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fognet.errors import InstanceError
from fognet.matching.cost import EPS, CostTable
from fognet.matching.instance import Instance, PeerId, SubtaskId


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
    passes: int = 0  # phase-2 passes over all candidate steps (the last finds none)


@dataclass(frozen=True)
class Result:
    assignment: Mapping[SubtaskId, PeerId]
    latency: Mapping[SubtaskId, float]  # seconds, predicted
    total: float  # seconds, sum of latency
    phase1_total: float
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
            "total": self.total,
            "phase1_total": self.phase1_total,
            "rule": self.rule,
            "rounds": c.rounds,
            "proposals": c.proposals,
            "rejections": c.rejections,
            "swaps": c.swaps,
            "moves": c.moves,
            "displacements": c.displacements,
            "passes": c.passes,
        }


# --- state on indices ------------------------------------------------------------------


class _State:
    """Mutable working state of one `play` call (never leaves this module)."""

    def __init__(self, ct: CostTable, site_of: list[int]) -> None:
        self.ct = ct
        self.site_of = list(site_of)
        self.members: list[set[int]] = [set() for _ in ct.sites]
        for i, j in enumerate(site_of):
            self.members[j].add(i)

    def apply(self, changes: list[tuple[int, int, int]]) -> None:
        for i, a, _ in changes:
            self.members[a].discard(i)
        for i, _, b in changes:
            self.members[b].add(i)
            self.site_of[i] = b

    def total(self) -> float:
        return sum(self.ct.site_cost(j, m) for j, m in enumerate(self.members) if m)

    def matching(self) -> Matching:
        ct = self.ct
        return Matching({ct.subtasks[i].id: ct.sites[j] for i, j in enumerate(self.site_of)})


def _evaluate(st: _State, changes: list[tuple[int, int, int]]) -> tuple[float, dict[int, float]]:
    """Exact change of the touched sites' total, and of each moving source's own total."""
    ct = st.ct
    touched = {a for _, a, _ in changes} | {b for _, _, b in changes}
    new = {j: set(st.members[j]) for j in touched}
    for i, a, _ in changes:
        new[a].discard(i)
    for i, _, b in changes:
        new[b].add(i)
    movers = {int(ct.source[i]) for i, _, _ in changes}
    delta = 0.0
    by_source = dict.fromkeys(movers, 0.0)
    for j in touched:
        for members, sign in ((st.members[j], -1.0), (new[j], 1.0)):
            for i, f in ct.member_latencies(j, members).items():
                delta += sign * f
                src = int(ct.source[i])
                if src in by_source:
                    by_source[src] += sign * f
    return delta, by_source


def _approved(st: _State, changes: list[tuple[int, int, int]], rule: str) -> bool:
    ct = st.ct
    for i, _, b in changes:
        if not np.isfinite(ct.base[i, b]):
            return False
    for j in {b for _, _, b in changes}:
        arriving = sum(1 for _, a, b in changes if b == j and a != j)
        leaving = sum(1 for _, a, b in changes if a == j and b != j)
        if len(st.members[j]) + arriving - leaving > ct.quota[j]:
            return False
    delta, by_source = _evaluate(st, changes)
    if delta >= -EPS:
        return False
    return rule != "fair" or all(d <= EPS for d in by_source.values())


# --- phase 1 ---------------------------------------------------------------------------


def _deferred_acceptance(ct: CostTable) -> tuple[list[int], Counts]:
    n, nsites = len(ct.subtasks), len(ct.sites)
    # Each subtask's list: workers in reach, then its own device (column W), by latency.
    own = np.concatenate([ct.base[:, : ct.n_workers], ct.base[np.arange(n), ct.home][:, None]], 1)
    ranked = np.argsort(own, axis=1, kind="stable").tolist()
    prefs: list[list[int]] = []
    for i in range(n):
        order = ranked[i]
        cut = order.index(ct.n_workers)
        prefs.append(order[:cut] + [int(ct.home[i])])
    nxt = [0] * n
    held: list[list[int]] = [[] for _ in range(nsites)]
    free = list(range(n))
    rounds = proposals = rejections = 0
    while free:
        rounds += 1
        touched = set()
        for i in free:
            j = prefs[i][nxt[i]]
            nxt[i] += 1
            held[j].append(i)
            touched.add(j)
        proposals += len(free)
        free = []
        for j in sorted(touched):
            if j >= ct.n_workers or len(held[j]) <= ct.quota[j]:
                continue
            held[j].sort(key=ct.rank.__getitem__)
            free.extend(held[j][ct.quota[j]:])
            del held[j][ct.quota[j]:]
        rejections += len(free)
        free.sort()
    site_of = [0] * n
    for j, hs in enumerate(held):
        for i in hs:
            site_of[i] = j
    return site_of, Counts(rounds=rounds, proposals=proposals, rejections=rejections)


def deferred_acceptance(instance: Instance) -> Matching:
    """Phase 1 alone: the matching deferred acceptance reaches (every subtask placed)."""
    ct = CostTable.build(instance)
    site_of, _ = _deferred_acceptance(ct)
    return _State(ct, site_of).matching()


# --- phase 2: pricing every candidate at once ------------------------------------------


def _padded(ct: CostTable, groups: list[set[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks (-1 = empty), works and validity of each group's members, padded to one width."""
    width = max((len(g) for g in groups), default=0) or 1
    ranks = np.full((len(groups), width), -1, dtype=np.int64)
    works = np.zeros((len(groups), width))
    for k, g in enumerate(groups):
        idx = np.fromiter(g, dtype=np.int64, count=len(g))
        ranks[k, : len(g)] = ct.rank[idx]
        works[k, : len(g)] = ct.work[idx]
    return ranks, works, ranks >= 0


@dataclass(frozen=True)
class _Prices:
    """Per-pass arrays. ahead_w[i, b]: work on worker b that would run before i (i itself
    never counts); ins_w[i, b]: growth of b's total if i joined it; the *_home versions are
    the same for i's own device; cur[i]: i's latency where it is now."""

    ahead_w: np.ndarray
    ins_w: np.ndarray
    ahead_home: np.ndarray
    ins_home: np.ndarray
    cur: np.ndarray


def _prices(st: _State) -> _Prices:
    ct = st.ct
    n, nw = len(ct.subtasks), ct.n_workers
    r = ct.rank[:, None, None]
    ranks, works, valid = _padded(ct, st.members[:nw])
    ahead_w = (((ranks[None] < r) & valid[None]) * works[None]).sum(axis=2)
    behind = ((ranks[None] > r) & valid[None]).sum(axis=2)
    sp = ct.speed[:nw]
    ins_w = ct.base[:, :nw] + ahead_w / sp + behind * ct.work[:, None] / sp
    hranks, hworks, hvalid = _padded(ct, st.members[nw:])
    src = ct.source
    hr, hw, hv = hranks[src], hworks[src], hvalid[src]
    mine = ct.rank[:, None]
    hsp = ct.speed[ct.home]
    ahead_home = (((hr < mine) & hv) * hw).sum(axis=1)
    home_base = ct.base[np.arange(n), ct.home]
    ins_home = home_base + ahead_home / hsp + ((hr > mine) & hv).sum(axis=1) * ct.work / hsp
    site = np.asarray(st.site_of, dtype=np.int64)
    on_worker = site < nw
    cols = np.minimum(site, nw - 1)
    with np.errstate(invalid="ignore"):
        cur_w = ct.base[np.arange(n), cols] + ahead_w[np.arange(n), cols] / ct.speed[cols] if nw else 0
    cur = np.where(on_worker, cur_w, home_base + ahead_home / hsp)
    return _Prices(ahead_w, ins_w, ahead_home, ins_home, cur)


def _fair_ok(st: _State, pr: _Prices, kind: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """For candidate steps as arrays, False where a moving source would get slower (veto).

    A step is one or two movements x: a -> b. Source u's change on a site is its movers'
    own latency change plus, for every subtask x leaving or joining, w_x/speed times the
    number of u's subtasks staying there behind x (they wait for x, or no longer do)."""
    ct = st.ct
    n, nw, ns = len(ct.subtasks), ct.n_workers, len(ct.sites)
    site = np.asarray(st.site_of, dtype=np.int64)
    nsrc = int(ct.source.max()) + 1 if n else 1
    codes = np.sort((site * nsrc + ct.source) * n + ct.rank)
    has2 = kind >= 2
    jj = np.where(has2, j, i)  # the second subtask (a dummy where there is none)
    x1 = np.where(kind == 3, jj, i)
    a1 = site[x1]
    b1 = np.select([kind == 0, kind == 1, kind == 2], [j, ct.home[i], site[jj]], site[i])
    x2 = np.where(kind == 3, i, jj)
    a2 = site[x2]
    b2 = np.where(kind == 3, ct.home[i], site[i])

    def count_behind(x, where, u):  # u's subtasks now on `where` that run after x
        key = (where * nsrc + u) * n
        return np.searchsorted(codes, key + n, "left") - np.searchsorted(codes, key + ct.rank[x], "right")

    def ahead(x, b):  # work now on b that would run before x
        col = np.minimum(b, nw - 1)
        on_w = pr.ahead_w[x, col] if nw else 0.0
        return np.where(b < nw, on_w, pr.ahead_home[x])

    def movement(x, a, b, y, c, d, other, u):
        """u's change from movement x: a -> b, with the other movement y: c -> d."""
        rx, ry, wx, wy = ct.rank[x], ct.rank[y], ct.work[x], ct.work[y]
        uy = other & (ct.source[y] == u)
        mine = ct.source[x] == u
        stay_a = count_behind(x, a, u) - (uy & (c == a) & (ry > rx))
        stay_b = count_behind(x, b, u) - (uy & (c == b) & (ry > rx))
        new = ct.base[x, np.minimum(b, ns - 1)] + (
            ahead(x, b) - np.where(other & (c == b) & (ry < rx), wy, 0.0)
            + np.where(other & (d == b) & (ry < rx), wy, 0.0)
        ) / ct.speed[b]
        own = np.where(mine, new - pr.cur[x], 0.0)
        return own + (stay_b / ct.speed[b] - stay_a / ct.speed[a]) * wx

    ok = np.ones(len(kind), dtype=bool)
    for u in (ct.source[x1], ct.source[x2]):
        delta = movement(x1, a1, b1, x2, a2, b2, has2, u)
        delta = delta + np.where(has2, movement(x2, a2, b2, x1, a1, b1, has2, u), 0.0)
        ok &= delta <= 2 * EPS  # lenient: the exact check in _approved decides
    return ok


def _candidates(st: _State, rule: str) -> Iterator[tuple[float, int, int, int]]:
    """Every step the arrays price below -EPS/2: (delta, kind, i, j), best first.

    kind 0: move i to worker j; 1: move i home; 2: swap i (on a worker) with j;
    3: j takes i's worker slot and i goes home.
    """
    pr = _prices(st)
    site = np.asarray(st.site_of, dtype=np.int64)
    n, nw = len(site), st.ct.n_workers
    cols = np.minimum(site, nw - 1) if nw else site * 0
    # removal[i]: how much i's site's total falls if i leaves it
    removal = np.where(site < nw, pr.ins_w[np.arange(n), cols] if nw else 0.0, pr.ins_home)
    with np.errstate(invalid="ignore"):
        found = _move_steps(st, pr, site, removal) + _pair_steps(st, pr, site, removal)
    allc = np.concatenate(found)
    if rule == "fair" and len(allc):
        kind, i, j = (allc[:, k].astype(np.int64) for k in (1, 2, 3))
        allc = allc[_fair_ok(st, pr, kind, i, j)]
    return _best_first(allc)


def _rows(delta: np.ndarray, kind: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.stack([delta, np.full_like(i, kind), i, j], axis=1).astype(float)


def _move_steps(st: _State, pr: _Prices, site: np.ndarray, removal: np.ndarray) -> list[np.ndarray]:
    """Moves to a worker with a free slot (kind 0) and moves home (kind 1)."""
    ct, nw = st.ct, st.ct.n_workers
    on_worker = site < nw
    found = []
    if nw:
        counts = np.array([len(m) for m in st.members[:nw]])
        move = pr.ins_w - removal[:, None]
        move[:, counts >= ct.quota[:nw]] = np.inf
        move[on_worker, site[on_worker]] = np.inf
        ii, jj = np.nonzero(move < -EPS / 2)
        found.append(_rows(move[ii, jj], 0, ii, jj))
    home = np.where(on_worker, pr.ins_home - removal, np.inf)
    ii = np.nonzero(home < -EPS / 2)[0]
    found.append(_rows(home[ii], 1, ii, ii))
    return found


def _pair_steps(st: _State, pr: _Prices, site: np.ndarray, removal: np.ndarray) -> list[np.ndarray]:
    """Swaps (kind 2) and displacements (kind 3) of each subtask t on a worker (rows) with
    every subtask s (columns): the insertions and removals, less the one pairwise wait the
    two would otherwise both be charged for on each shared site."""
    ct, n, nw = st.ct, len(site), st.ct.n_workers
    t_idx = np.nonzero(site < nw)[0]
    if not len(t_idx):
        return []
    tsite, ssite = site[t_idx][:, None], site[None, :]  # (T, 1), (1, N)
    s_on_worker = (site < nw)[None, :]
    tr, sr = ct.rank[t_idx][:, None], ct.rank[None, :]
    wmin = np.where(tr < sr, ct.work[t_idx][:, None], ct.work[None, :])
    s_into_t = pr.ins_w[:, site[t_idx]].T
    t_home = ct.home[t_idx][:, None]
    t_into_s = np.where(
        s_on_worker,
        pr.ins_w[t_idx][:, np.minimum(site, nw - 1)],
        np.where(t_home == ssite, pr.ins_home[t_idx][:, None], np.inf),
    )
    both = s_into_t - removal[t_idx][:, None] - removal[None, :]
    swap = t_into_s + both - wmin * (1 / ct.speed[tsite] + 1 / ct.speed[ssite])
    swap[(tsite == ssite) | (s_on_worker & (np.arange(n)[None, :] <= t_idx[:, None]))] = np.inf
    disp = both - wmin / ct.speed[tsite] + pr.ins_home[t_idx][:, None]
    disp[(tsite == ssite) | (t_home == ssite)] = np.inf
    found = []
    for kind, delta in ((2, swap), (3, disp)):
        ti, si = np.nonzero(delta < -EPS / 2)
        found.append(_rows(delta[ti, si], kind, t_idx[ti], si))
    return found


def _best_first(allc: np.ndarray) -> Iterator[tuple[float, int, int, int]]:
    """Rows by delta; ties by build order (kind, then subtask order). Most passes stop
    early, so the best few thousand are sorted first and the rest only if asked for."""
    delta = allc[:, 0]
    head = np.arange(len(delta))
    if len(delta) > _HEAD:
        head = np.argpartition(delta, _HEAD)[:_HEAD]
    parts = [head]
    if len(head) < len(delta):
        parts.append(np.setdiff1d(np.arange(len(delta)), head, assume_unique=True))
    for part in parts:
        part = part[np.lexsort((part, delta[part]))]
        for start in range(0, len(part), 256):
            for d, k, i, j in allc[part[start:start + 256]].tolist():
                yield d, int(k), int(i), int(j)


_HEAD = 4096


def _changes(st: _State, kind: int, i: int, j: int) -> list[tuple[int, int, int]]:
    a = st.site_of[i]
    if kind == 0:
        return [(i, a, j)]
    if kind == 1:
        return [(i, a, int(st.ct.home[i]))]
    b = st.site_of[j]
    if kind == 2:
        return [(i, a, b), (j, b, a)]
    return [(j, b, a), (i, a, int(st.ct.home[i]))]


_KIND_COUNTER = {0: "moves", 1: "moves", 2: "swaps", 3: "displacements"}


def _improve(st: _State, rule: str, max_passes: int) -> dict[str, int]:
    counts = {"moves": 0, "swaps": 0, "displacements": 0, "passes": 0}
    limit = max(64, 2 * len(st.ct.sites))
    while counts["passes"] < max_passes:
        counts["passes"] += 1
        used: set[int] = set()
        applied = 0
        for examined, (_, kind, i, j) in enumerate(_candidates(st, rule)):
            if examined >= limit and applied:
                break
            changes = _changes(st, kind, i, j)
            sites = {a for _, a, _ in changes} | {b for _, _, b in changes}
            if sites & used or not _approved(st, changes, rule):
                continue
            st.apply(changes)
            used |= sites
            applied += 1
            counts[_KIND_COUNTER[kind]] += 1
        if not applied:
            return counts
    raise InstanceError(f"phase 2 did not settle within {max_passes} passes")  # pragma: no cover


def play(instance: Instance, rule: str | None = None, max_passes: int = 100_000) -> Result:
    """Phase 1 then phase 2 under `rule` (default: the instance's); deterministic."""
    rule = rule or instance.rule
    ct = CostTable.build(instance)
    site_of, c1 = _deferred_acceptance(ct)
    st = _State(ct, site_of)
    phase1_total = st.total()
    c2 = _improve(st, rule, max_passes)
    latency: dict[SubtaskId, float] = {}
    for j, members in enumerate(st.members):
        for i, f in ct.member_latencies(j, members).items():
            latency[ct.subtasks[i].id] = float(f)
    latency = {s.id: latency[s.id] for s in ct.subtasks}
    counts = Counts(c1.rounds, c1.proposals, c1.rejections, **c2)
    return Result(
        assignment=st.matching().assignment,
        latency=latency,
        total=float(sum(latency.values())),
        phase1_total=float(phase1_total),
        rule=rule,
        counts=counts,
    )


# --- single steps on Matching values ---------------------------------------------------


def _state_of(instance: Instance, matching: Matching) -> _State:
    ct = CostTable.build(instance)
    index = {p: j for j, p in enumerate(ct.sites)}
    try:
        site_of = [index[matching.assignment[s.id]] for s in ct.subtasks]
    except KeyError as exc:
        raise InstanceError(f"matching has no valid site for {exc.args[0]!r}") from None
    return _State(ct, site_of)


def _try(instance: Instance, matching: Matching, changes_of, rule: str | None) -> Matching | None:
    st = _state_of(instance, matching)
    changes = changes_of(st)
    if changes is None or not _approved(st, changes, rule or instance.rule):
        return None
    st.apply(changes)
    return st.matching()


def _idx(st: _State, sid: str) -> int:
    for i, s in enumerate(st.ct.subtasks):
        if s.id == sid:
            return i
    raise InstanceError(f"unknown subtask {sid!r}")


def try_move(
    instance: Instance, matching: Matching, subtask: str, site: str, rule: str | None = None
) -> Matching | None:
    """The matching after moving `subtask` to `site` (a worker with a free slot, or its
    own source), or None if the step is not approved."""

    def changes(st: _State):
        i = _idx(st, subtask)
        if site not in st.ct.sites or st.ct.sites[st.site_of[i]] == site:
            return None
        return [(i, st.site_of[i], st.ct.sites.index(site))]

    return _try(instance, matching, changes, rule)


def try_swap(
    instance: Instance, matching: Matching, a: str, b: str, rule: str | None = None
) -> Matching | None:
    """The matching after subtasks a and b exchange sites, or None if not approved."""

    def changes(st: _State):
        i, j = _idx(st, a), _idx(st, b)
        if st.site_of[i] == st.site_of[j]:
            return None
        return [(i, st.site_of[i], st.site_of[j]), (j, st.site_of[j], st.site_of[i])]

    return _try(instance, matching, changes, rule)


def try_displace(
    instance: Instance, matching: Matching, taker: str, victim: str, rule: str | None = None
) -> Matching | None:
    """The matching after `taker` takes `victim`'s worker slot and `victim` goes home."""

    def changes(st: _State):
        i, j = _idx(st, taker), _idx(st, victim)
        a, b = st.site_of[i], st.site_of[j]
        home = int(st.ct.home[j])
        if b >= st.ct.n_workers or a == b or a == home:
            return None
        return [(i, a, b), (j, b, home)]

    return _try(instance, matching, changes, rule)
