"""Chain plans as the period game's instance: `partition.throughput`'s pricing, `matching.period`'s values.

The game (`matching.period_game`) sees only priced stages, sites and links; this module
prices them from each source's `ChainProblem` by the throughput module's own rules
(`compute`, `transfer`, `need`), so the one place each rule is written is kept.

API
    chain_job(problem, bounds, rate=1.0) -> PeriodJob
    period_instance(problems, bounds, rates=None, cap=None, shared=None) -> PeriodInstance
    bounds_of(problem, plan), route_of(problem, plan): a ChainPlan's cuts and peers
    ChainSetup(problems, bounds, apart, rates, cap, shared)   .instance(bounds=None), .cuts(bounds=None)
    solo_chains(graph, times, state, sources, workers, encoding, rates) -> ChainSetup (solo cuts)
    alone(problem, keep), solo_chain(problem, keep), with_solo_cuts(setup): a source's chain planned alone
    random_chain_setup(sources, workers, positions, seed, ...) -> ChainSetup; random_period_instance: its instance
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from fognet.errors import PlanError
from fognet.matching.period import PeriodInstance, PeriodJob, Placement
from fognet.model.graph import ModelGraph
from fognet.partition.cost import ClusterState
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding
from fognet.partition.throughput import ChainPlan, ChainProblem, bottleneck_chain


def chain_job(problem: ChainProblem, bounds: Sequence[int], rate: float = 1.0) -> PeriodJob:
    """The source's chain cut at position indices `bounds` (0 first, the last position last),
    priced per frame on every peer and every pair of peers."""
    m = len(problem.positions)
    b = tuple(bounds)
    if len(b) < 2 or b[0] != 0 or b[-1] != m - 1 or any(x >= y for x, y in zip(b, b[1:], strict=False)):
        raise PlanError(f"{problem.source}'s cuts {list(b)} must rise from 0 to {m - 1}")
    n = len(problem.peers)
    compute = tuple(problem.compute(b[k], b[k + 1]) for k in range(len(b) - 1))
    need = tuple(float(problem.need[b[k], b[k + 1]]) for k in range(len(b) - 1))
    hop = tuple(np.array([[problem.transfer(pos, q, p) for p in range(n)] for q in range(n)]) for pos in b)
    return PeriodJob(problem.src, compute, need, hop, rate)


def period_instance(problems: Sequence[ChainProblem], bounds: Sequence[Sequence[int]],
                    rates: Sequence[float] | None = None, cap: Sequence[float] | None = None,
                    shared: Sequence[bool] | None = None) -> PeriodInstance:
    """Every source's chain on the one cluster their problems describe (PlanError if not one)."""
    if not problems:
        raise PlanError("a period instance needs at least one source's chain")
    first = problems[0]
    for p in problems[1:]:
        if p.peers != first.peers or not all(
                np.array_equal(getattr(p, f), getattr(first, f)) for f in ("speed", "memory", "rate")):
            raise PlanError(f"{p.source}'s chain is priced on another cluster than {first.source}'s")
    rates = [1.0] * len(problems) if rates is None else list(rates)
    jobs = tuple(chain_job(p, b, r) for p, b, r in zip(problems, bounds, rates, strict=True))
    return PeriodInstance(first.peers, first.memory, jobs, None if cap is None else tuple(cap),
                          None if shared is None else tuple(shared))


def bounds_of(problem: ChainProblem, plan: ChainPlan) -> tuple[int, ...]:
    """The position indices `plan` cuts at (as `chain_job` takes them)."""
    at = {pos: k for k, pos in enumerate(problem.positions)}
    return (0, *(at[s.stop] for s in plan.stages))


def route_of(problem: ChainProblem, plan: ChainPlan) -> tuple[int, ...]:
    """The peer index of each of `plan`'s stages."""
    return tuple(problem.peers.index(s.peer) for s in plan.stages)


def alone(problem: ChainProblem, keep: Sequence[bool]) -> ChainProblem:
    """The problem as its source sees it planning alone: only the peers `keep` marks (itself
    and the workers), every figure the full problem's."""
    idx = np.array([p for p, k in enumerate(keep) if k or p == problem.src])
    return replace(problem, peers=tuple(problem.peers[p] for p in idx), speed=problem.speed[idx],
                   memory=problem.memory[idx], rate=problem.rate[np.ix_(idx, idx)])


def solo_chain(problem: ChainProblem, keep: Sequence[bool]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(cuts, peers): the source's own best chain alone (`throughput.bottleneck_chain` on
    `alone`), its peers as indices of the full problem."""
    mine = alone(problem, keep)
    plan = bottleneck_chain(mine)
    return bounds_of(mine, plan), tuple(problem.peers.index(mine.peers[p]) for p in route_of(mine, plan))


@dataclass(frozen=True)
class ChainSetup:
    """Several sources' chains on one cluster before the game: each source's `ChainProblem`
    (priced on the whole cluster), the cuts it starts from (`bounds`, position indices),
    the chains as each planned alone (`apart`, a placement; None for random cuts), the sources' frame `rates`,
    every peer's `cap` and whether it is `shared` (a worker)."""

    problems: tuple[ChainProblem, ...]
    bounds: tuple[tuple[int, ...], ...]
    apart: Placement | None
    rates: tuple[float, ...]
    cap: tuple[float, ...]
    shared: tuple[bool, ...]

    def instance(self, bounds: Sequence[Sequence[int]] | None = None) -> PeriodInstance:
        """The period game's instance on `bounds` (default: the cuts the sources start from)."""
        return period_instance(self.problems, self.bounds if bounds is None else bounds, self.rates,
                               self.cap, self.shared)

    def cuts(self, bounds: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
        """Each source's cuts as node indices (positions)."""
        chosen = self.bounds if bounds is None else bounds
        return [[p.positions[b] for b in bs] for p, bs in zip(self.problems, chosen, strict=True)]


def solo_chains(graph: ModelGraph, times: Sequence[float], state: ClusterState, sources: Sequence[str],
                workers: set[str], encoding: Encoding = DEFAULT_ENCODING,
                rates: Sequence[float] | None = None) -> ChainSetup:
    """Each source's chain of `graph`, cut where its own best chain alone (itself and the
    workers, `throughput.bottleneck_chain`) cuts it, priced on the whole cluster for the
    period game: workers shared, a source's device hosting only its own stages, each peer
    lending its state's `cap`, every source at `rates` (default 1 frame/s).
    Every node boundary is a candidate position."""
    positions = range(1, len(graph))
    problems = tuple(ChainProblem.from_graph(graph, times, state, source, positions=positions, encoding=encoding)
                     for source in sources)
    peers = problems[0].peers
    setup = ChainSetup(problems, (), None, tuple([1.0] * len(problems) if rates is None else rates),
                       tuple(state.peers[p].cap for p in peers), tuple(p in workers for p in peers))
    return with_solo_cuts(setup)


def with_solo_cuts(setup: ChainSetup) -> ChainSetup:
    """`setup` with every source cut (and its chain apart placed) where its own best chain
    alone, on itself and the shared peers, puts it (`solo_chain`)."""
    solo = [solo_chain(p, setup.shared) for p in setup.problems]
    return replace(setup, bounds=tuple(b for b, _ in solo), apart=tuple(r for _, r in solo))


def _need(weights: np.ndarray, acts: np.ndarray) -> np.ndarray:
    m = len(weights) + 1
    need = np.zeros((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            need[a, b] = weights[a:b].sum() + acts[a:b].max()
    return need


def random_period_instance(sources: int, workers: int, positions: int, seed: int, max_stages: int = 3,
                           memory: float | None = None) -> PeriodInstance:
    """`random_chain_setup`'s instance on its random cuts."""
    return random_chain_setup(sources, workers, positions, seed, max_stages, memory).instance()


def random_chain_setup(sources: int, workers: int, positions: int, seed: int, max_stages: int = 3,
                       memory: float | None = None) -> ChainSetup:
    """Seeded random cars' chains on shared fog workers, for tests and benchmarks.

    Peers: `sources` cars (car1.., speed 0.1..0.5, hosting only their own stages) and
    `workers` fog workers (w1.., speed 0.5..4, cap 0.6..1); every pair linked at 2..25 MB/s
    (Wi-Fi-class, as `matching.random_instance`). Each car has its own model of
    `positions - 1` segments (5..80 ms reference work each; 10 KB..1.2 MB crossing each
    position; weights 1..40 MB and activations 1..20 MB per segment, a range's need = its
    weights + its largest activation), cut at random into 1..`max_stages` stages, at
    0.5..5 frames/s. Memories: cars 30..120 MB, workers `memory` x (0.7..2), `memory` by
    default the mean need of one car's whole model, so memory binds."""
    rng = np.random.default_rng(seed)
    cars = [f"car{k + 1}" for k in range(sources)]
    peers = tuple(cars + [f"w{k + 1}" for k in range(workers)])
    n = len(peers)
    speed = np.concatenate([rng.uniform(0.1, 0.5, sources), rng.uniform(0.5, 4.0, workers)])
    bandwidth = np.triu(rng.uniform(2e6, 25e6, (n, n)), 1)
    rate = bandwidth + bandwidth.T
    np.fill_diagonal(rate, math.inf)
    models = []
    for _ in cars:
        work = np.concatenate([[0.0], np.cumsum(rng.uniform(0.005, 0.080, positions - 1))])
        models.append((work, rng.uniform(1e4, 1.2e6, positions),
                       _need(rng.uniform(1e6, 4e7, positions - 1), rng.uniform(1e6, 2e7, positions - 1))))
    scale = memory if memory is not None else float(np.mean([need[0, -1] for _, _, need in models]))
    mem = np.concatenate([rng.uniform(3e7, 1.2e8, sources), scale * rng.uniform(0.7, 2.0, workers)])
    problems, bounds, rates = [], [], []
    for s, (work, nbytes, need) in enumerate(models):
        problems.append(ChainProblem(tuple(range(positions)), work, nbytes, need, peers, speed, mem, rate, cars[s]))
        k = int(rng.integers(1, min(max_stages, positions - 1) + 1))
        cuts = sorted(rng.choice(np.arange(1, positions - 1), size=k - 1, replace=False).tolist()) if k > 1 else []
        bounds.append((0, *cuts, positions - 1))
        rates.append(float(rng.uniform(0.5, 5.0)))
    cap = [1.0] * sources + rng.uniform(0.6, 1.0, workers).tolist()
    return ChainSetup(tuple(problems), tuple(bounds), None, tuple(rates), tuple(cap),
                      tuple([False] * sources + [True] * workers))
