"""The period objective of several sources' chain plans on shared sites (throughput mode).

`partition.throughput` scores one source's chain by its period, max(busiest site's
compute, busiest link's transfer). When several sources chain frames through the same
peers at their own rates, a peer's time and a link's airtime are shared, so the figure
the game minimises is the cluster's **bottleneck utilisation**

    U = max over resources r of  sum over the sources' stages and hops on r of
                                  rate_s x (that source's per-frame seconds on r)

with two kinds of resource:

- a **site** p: a stage [a, b) of source s placed on p costs `rate_s x compute(a, b)[p] /
  cap_p` (`ChainProblem.compute`: work / speed; `cap_p` the share of its time p lends,
  1 = all of it), summed over every stage on p, of every source;
- a **directed link** q -> p (q != p): a hop of source s that moves position k's crossing
  bytes from q to p costs `rate_s x ChainProblem.transfer(k, q, p)` (bytes at the link's
  bandwidth capped by the sender's NIC, `partition.cost.send_rate`), summed over every
  hop on it. A chain's hops: the source's device -> stage 1 -> ... -> last stage -> the
  source's device; a hop between stages on the same peer moves nothing.

U <= 1 means every source's rate is sustained with every peer inside its cap; 1 / U is
the factor all the rates can be scaled by. For one source at rate 1 on distinct peers
with caps 1, U is exactly `throughput.period_of` (tested). Unlike `throughput`, a peer may
hold several stages (of several sources, or two of one source): their compute adds.

**Memory**: a site p fits when the needs (`ChainProblem.need`: weights + peak
activations, `partition.memory`) of all the stages on it sum to at most its memory:
stages of different sources run at the same time, so the sum is the bound that never
lets a site go over. A placement that does not fit is infeasible: the game never makes
one, the checker reports one.

**Order**: a placement's key is the vector of its resources' utilisations sorted from
the largest down (U first). A step improves when its key is lexicographically smaller,
by more than EPS at the first entry that differs: so a step that leaves U where it is
but relieves the second-busiest resource is still progress (plateaus of the max), and
since every approved step is a strict decrease in a total order over finitely many
placements, the game ends. Each resource's load is summed in one canonical order (jobs,
then stages), so a resource whose stages do not change keeps its float exactly.

Values: `PeriodJob` (one source's chain, its cuts fixed, priced per frame, its rate),
`PeriodInstance` (the jobs on one cluster), a `Placement` (per job, the peer index of
each stage). Like the rest of `matching`, it sees only priced stages, sites and links:
`placement.chains` prices them from `partition.throughput.ChainProblem` (its `compute`,
`transfer` and `need`, the one place those rules are written). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fognet.errors import PlanError

EPS = 1e-12  # a step must lower the first differing utilisation by more than this
Placement = tuple[tuple[int, ...], ...]  # [job][stage] -> peer index
Resource = tuple  # ("site", p) or ("link", q, p)


@dataclass(frozen=True, eq=False)  # arrays inside: identity, not value, equality
class PeriodJob:
    """One source's chain, its cuts fixed and priced per frame (`placement.chains` prices it
    by `partition.throughput`'s rules): `compute[k][p]` seconds of stage k on peer p,
    `need[k]` its bytes of memory, `hop[k][q, p]` seconds to move stage k's input from q
    to p (`hop[n_stages]`: the output back home; inf out of reach); `source` the peer
    index of the source's device; frames enter at `rate` per second."""

    source: int
    compute: tuple[np.ndarray, ...]
    need: tuple[float, ...]
    hop: tuple[np.ndarray, ...]
    rate: float = 1.0

    @property
    def n_stages(self) -> int:
        return len(self.compute)


@dataclass(frozen=True, eq=False)
class PeriodInstance:
    """Several sources' chains on one cluster of `peers` with `memory` bytes each (inf: no
    limit). `cap[p]`: the share of its time peer p lends (None: 1 each); `shared[p]`: p
    hosts any source's stages (None: every peer); a source's own device always hosts its
    own stages."""

    peers: tuple[str, ...]
    memory: np.ndarray
    jobs: tuple[PeriodJob, ...]
    cap: tuple[float, ...] | None = None
    shared: tuple[bool, ...] | None = None

    _comp: tuple = field(init=False, repr=False, compare=False)  # [j][k] -> utilisation over peers
    _hop: tuple = field(init=False, repr=False, compare=False)  # [j][k] -> P x P utilisation

    def __post_init__(self) -> None:
        _validate(self)
        object.__setattr__(self, "memory", np.asarray(self.memory, dtype=float))
        object.__setattr__(self, "_comp", tuple(tuple(self.site_scale(j) * np.asarray(c, dtype=float) for c in job.compute)
                                                for j, job in enumerate(self.jobs)))
        object.__setattr__(self, "_hop", tuple(tuple(job.rate * np.asarray(h, dtype=float) for h in job.hop)
                                               for job in self.jobs))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.peers[job.source] for job in self.jobs)

    def src(self, j: int) -> int:
        """Peer index of job j's source device."""
        return self.jobs[j].source

    def stages(self) -> list[tuple[int, int]]:
        """Every stage as (job, stage), in the canonical order."""
        return [(j, k) for j, job in enumerate(self.jobs) for k in range(job.n_stages)]

    def allowed(self, j: int, p: int) -> bool:
        """May peer p host job j's stages? (shared, or j's own source device)"""
        return p == self.jobs[j].source or self.shared is None or bool(self.shared[p])

    def site_scale(self, j: int) -> np.ndarray:
        """Utilisation per second of job j's compute on each peer: rate_j / cap_p (module doc)."""
        cap = np.ones(len(self.peers)) if self.cap is None else np.array(self.cap, dtype=float)
        return self.jobs[j].rate / cap

    def compute(self, j: int, k: int) -> np.ndarray:
        """Utilisation stage k of job j brings to each peer (rate x seconds / cap)."""
        return self._comp[j][k]

    def need(self, j: int, k: int) -> float:
        return float(self.jobs[j].need[k])

    def hop(self, j: int, k: int, q: int, p: int) -> float:
        """Utilisation of link q -> p by job j's hop into stage k (k = n_stages: back home)."""
        return 0.0 if q == p else float(self._hop[j][k][q, p])

    def stage_name(self, j: int, k: int) -> str:
        return f"{self.peers[self.jobs[j].source]}/{k}"


def with_job(inst: PeriodInstance, j: int, job: PeriodJob) -> PeriodInstance:
    """The same cluster with job j's chain replaced (re-cut by its source); the others' kept as priced."""
    jobs = (*inst.jobs[:j], job, *inst.jobs[j + 1:])
    return PeriodInstance(inst.peers, inst.memory, jobs, inst.cap, inst.shared)


def _validate(inst: PeriodInstance) -> None:
    n = len(inst.peers)
    if not inst.jobs:
        raise PlanError("a period instance needs at least one source's chain")
    if len(set(inst.peers)) != n or np.shape(inst.memory) != (n,):
        raise PlanError(f"peers must be distinct, with one memory each ({n} peers)")
    sources = [job.source for job in inst.jobs]
    if len(set(sources)) != len(sources) or not all(0 <= s < n for s in sources):
        raise PlanError(f"each source (a peer index below {n}) has one chain; got {sources}")
    for job in inst.jobs:
        name = inst.peers[job.source]
        if not job.compute or len(job.need) != job.n_stages or len(job.hop) != job.n_stages + 1:
            raise PlanError(f"{name}'s chain needs compute and need per stage and one hop more than stages")
        if any(np.shape(c) != (n,) for c in job.compute) or any(np.shape(h) != (n, n) for h in job.hop):
            raise PlanError(f"{name}'s chain is priced on another cluster than {n} peers")
        if not (math.isfinite(job.rate) and job.rate > 0):
            raise PlanError(f"{name}'s frame rate must be positive, got {job.rate}")
    for label, values in (("cap", inst.cap), ("shared", inst.shared)):
        if values is not None and len(values) != n:
            raise PlanError(f"{label} has {len(values)} entries for {n} peers")
    if inst.cap is not None and not all(0 < c <= 1 for c in inst.cap):
        raise PlanError(f"every cap must be in (0, 1], got {list(inst.cap)}")


# --- the objective ---------------------------------------------------------------------


def loads(inst: PeriodInstance, where: Placement, skip: int | None = None) -> dict[Resource, float]:
    """Utilisation of every resource the placement uses (module doc), summed in canonical
    order; `skip`: leave job `skip` out (the load the others put on each resource)."""
    parts: dict[Resource, list[float]] = {}
    for j, job in enumerate(inst.jobs):
        if j == skip:
            continue
        route = where[j]
        prev = inst.src(j)
        for k in range(job.n_stages):
            p = route[k]
            parts.setdefault(("site", p), []).append(float(inst.compute(j, k)[p]))
            if prev != p:
                parts.setdefault(("link", prev, p), []).append(inst.hop(j, k, prev, p))
            prev = p
        home = inst.src(j)
        if prev != home:
            parts.setdefault(("link", prev, home), []).append(inst.hop(j, job.n_stages, prev, home))
    return {r: math.fsum(v) for r, v in parts.items()}


def key(inst: PeriodInstance, where: Placement) -> tuple[float, ...]:
    """The placement's utilisations, largest first: U = key[0] (module doc's order)."""
    return tuple(sorted(loads(inst, where).values(), reverse=True))


def improves(new: Sequence[float], old: Sequence[float]) -> bool:
    """Is key `new` better than `old`: at the first entry that differs (missing = 0), lower
    by more than EPS? (a strict decrease of the lexicographic order, module doc)"""
    size = max(len(new), len(old))
    a = [*new, *[0.0] * (size - len(new))]
    b = [*old, *[0.0] * (size - len(old))]
    for x, y in zip(a, b, strict=True):
        if x != y:
            return x < y - EPS
    return False


def memory_used(inst: PeriodInstance, where: Placement, skip: int | None = None) -> np.ndarray:
    """Bytes each peer holds: the sum of its stages' needs (module doc); `skip` as in `loads`."""
    used = np.zeros(len(inst.peers))
    for j, k in inst.stages():
        if j != skip:
            used[where[j][k]] += inst.need(j, k)
    return used


def site_fits(inst: PeriodInstance, where: Placement, p: int) -> bool:
    """Do the stages on peer p fit its memory?"""
    held = [inst.need(j, k) for j, k in inst.stages() if where[j][k] == p]
    return math.fsum(held) <= inst.memory[p]


def problems(inst: PeriodInstance, where: Placement) -> list[str]:
    """Why `where` is no valid placement (empty: it is one), one line each."""
    if len(where) != len(inst.jobs) or any(len(r) != job.n_stages for r, job in zip(where, inst.jobs, strict=False)):
        return [f"a placement needs one peer per stage: {[job.n_stages for job in inst.jobs]} stages per source"]
    out = []
    for j, k in inst.stages():
        p = where[j][k]
        if not 0 <= p < len(inst.peers):
            out.append(f"stage {inst.stage_name(j, k)} names no peer ({p})")
        elif not inst.allowed(j, p):
            out.append(f"stage {inst.stage_name(j, k)} cannot run on {inst.peers[p]} (not shared, not its source)")
    if out:
        return out
    used = memory_used(inst, where)
    for p, name in enumerate(inst.peers):
        if not site_fits(inst, where, p):
            out.append(f"{name} holds {used[p] / 1e6:.4g} MB of stages over its {inst.memory[p] / 1e6:.4g} MB")
    return out


@dataclass(frozen=True)
class PeriodValue:
    """A placement priced: U, the busiest resource, every resource's utilisation, memory held."""

    bottleneck: float  # U
    busiest: str  # the resource that sets U, e.g. "site fog-a" or "link car1->fog-a"
    key: tuple[float, ...]
    loads: dict[str, float]
    memory: dict[str, float]  # bytes held per peer


def resource_name(inst: PeriodInstance, r: Resource) -> str:
    if r[0] == "site":
        return f"site {inst.peers[r[1]]}"
    return f"link {inst.peers[r[1]]}->{inst.peers[r[2]]}"


def evaluate(inst: PeriodInstance, where: Placement) -> PeriodValue:
    """The placement's value (module doc), named for reports."""
    found = loads(inst, where)
    named = {resource_name(inst, r): u for r, u in sorted(found.items(), key=lambda t: (-t[1], t[0]))}
    busiest = next(iter(named), "none")
    used = memory_used(inst, where)
    memory = {name: float(used[p]) for p, name in enumerate(inst.peers) if used[p] > 0}
    return PeriodValue(max(found.values(), default=0.0), busiest, key(inst, where), named, memory)
