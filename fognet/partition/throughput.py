"""Throughput mode: chain plans scored by their period (Feltin et al.; ITNAC's placement).

In the `chain` data flow a frame goes source -> stage 1's peer -> stage 2's peer -> ...
-> the source, each stage's output sent worker to worker, and frames are pipelined: the
next frame enters as soon as the first stage is free. Its steady-state rate is
1 / period, with (Feltin et al.)

    period = max(busiest site's compute, busiest link's transfer)

- a stage [a, b) on peer p computes `work[a, b) / speed_p`; a peer holds one stage (the
  stages sit on distinct peers, ITNAC's setting), so its site time is its stage's;
- a link carries, per frame, the tensors crossing the cut it spans (the model input into
  stage 1, the outputs back to the source); it takes `bytes / rate`, rate the link's
  bandwidth capped by the sender's NIC. Links are directed (full duplex): a frame's
  forward and returning bytes do not share airtime. Latency is left out: in a pipeline it
  delays a frame, not the rate. The source's own stage moves nothing into itself.
- a stage fits a peer when its memory (`partition.memory`) is at most the peer's.

`ChainProblem` is everything the planners need, as small arrays over the candidate cut
positions (ITNAC cuts at articulation points; all positions are allowed too), so the
planners are tested on hand-made problems. Planners: `bottleneck_chain` (a DP over
positions and last peers minimising the bottleneck, each path's used peers carried
along: a heuristic, since distinctness breaks the optimal substructure), `greedy_chain`,
`random_chain`, and `throughput_exact.optimal_chain` (branch and bound). `acceleration`
says whether partitioning pays at all, and why (Feltin's acceleration region).

Pure: no clock, no I/O; randomness comes in as a numpy Generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fognet.errors import PlanError
from fognet.model.graph import ModelGraph
from fognet.partition.cost import ClusterState, send_rate
from fognet.partition.memory import MemoryTable

CHAIN = "chain"


@dataclass(frozen=True)
class ChainStage:
    start: int  # compute nodes [start, stop)
    stop: int
    peer: str
    compute_s: float
    memory_bytes: int


@dataclass(frozen=True)
class ChainLink:
    sender: str
    receiver: str
    nbytes: int
    seconds: float


@dataclass(frozen=True)
class ChainPlan:
    """A chain plan: stages in order on distinct peers, the links a frame crosses, and the
    period (seconds between frames in steady state)."""

    source: str
    stages: tuple[ChainStage, ...]
    links: tuple[ChainLink, ...]
    period: float
    flow: str = CHAIN

    @property
    def throughput(self) -> float:
        """Frames per second in steady state."""
        return 1.0 / self.period if self.period > 0 else math.inf

    @property
    def compute_bound(self) -> float:
        return max(s.compute_s for s in self.stages)

    @property
    def transfer_bound(self) -> float:
        return max((link.seconds for link in self.links), default=0.0)


@dataclass(frozen=True)
class ChainProblem:
    """The instance over m candidate positions `positions` (0 and n included).

    work[k]: reference-seconds of nodes [0, positions[k]); nbytes[k]: bytes crossing
    position k (k = 0: the model inputs, k = m-1: its outputs); need[a, b]: memory of
    [positions[a], positions[b]); rate[q, p]: bytes/s from peer q to p (inf on itself,
    0 out of reach); speed[p], memory[p] (inf: no limit). Peer 0..P-1 are `peers`,
    `source` among them.
    """

    positions: tuple[int, ...]
    work: np.ndarray
    nbytes: np.ndarray
    need: np.ndarray
    peers: tuple[str, ...]
    speed: np.ndarray
    memory: np.ndarray
    rate: np.ndarray
    source: str

    @property
    def src(self) -> int:
        return self.peers.index(self.source)

    @classmethod
    def from_graph(
        cls,
        graph: ModelGraph,
        times: Sequence[float],
        state: ClusterState,
        source: str,
        positions: Sequence[int] | None = None,
        table: MemoryTable | None = None,
    ) -> ChainProblem:
        """The problem of a model on a cluster; cuts at `positions` (default: articulation points)."""
        n = len(graph)
        if len(times) != n:
            raise PlanError(f"{len(times)} node times for {n} compute nodes")
        if source not in state.peers:
            raise PlanError(f"source {source!r} is not in the cluster state")
        inner = graph.articulation_points() if positions is None else [p for p in positions if 0 < p < n]
        pos = (0, *sorted(set(inner)), n)
        prefix = np.concatenate([[0.0], np.cumsum(np.asarray(times, dtype=float))])
        sizes = {c.position: c.nbytes for c in graph.cuts()}
        nbytes = [sum(t.nbytes for t in graph.inputs)] + [sizes[p] for p in pos[1:-1]]
        nbytes.append(sum(t.nbytes for t in graph.outputs))
        table = table or MemoryTable.of(graph)
        idx = np.array(pos)
        peers = tuple(sorted(state.peers))
        return cls(
            positions=pos, work=prefix[idx], nbytes=np.array(nbytes, dtype=float),
            need=table.total[np.ix_(idx, idx)].astype(float), peers=peers,
            speed=np.array([state.peers[p].speed for p in peers]),
            memory=np.array([state.peers[p].memory or math.inf for p in peers]),
            rate=_rates(state, peers), source=source,
        )

    def compute(self, a: int, b: int) -> np.ndarray:
        """Seconds of positions [a, b) on every peer."""
        return (self.work[b] - self.work[a]) / self.speed

    def transfer(self, k: int, q: int, p: int) -> float:
        """Seconds to move position k's crossing bytes from peer q to peer p."""
        if q == p:
            return 0.0
        return self.nbytes[k] / self.rate[q, p] if self.rate[q, p] > 0 else math.inf


def _rates(state: ClusterState, peers: tuple[str, ...]) -> np.ndarray:
    rate = np.zeros((len(peers), len(peers)))
    for q, a in enumerate(peers):
        for p, b in enumerate(peers):
            link = state.link(a, b)
            rate[q, p] = math.inf if a == b else (0.0 if link is None else send_rate(link, state.peers[a].nic))
    return rate


Route = Sequence[tuple[int, int, int]]  # (a, b, peer index) over position indices


def period_of(problem: ChainProblem, route: Route) -> float:
    """The period of stages (a, b, p): max of the stages' compute and the links' transfers;
    inf when a stage does not fit its peer, a peer repeats, or a link is out of reach."""
    return build_plan(problem, route).period


def build_plan(problem: ChainProblem, route: Route) -> ChainPlan:
    """The ChainPlan of a route (module doc's formula, the one place it is written)."""
    if not route or route[0][0] != 0 or route[-1][1] != len(problem.positions) - 1:
        raise PlanError("a chain must cover the model from its first to its last position")
    for (_, b, _), (a, _, _) in zip(route, route[1:], strict=False):
        if a != b:
            raise PlanError("chain stages must be consecutive")
    names = problem.peers
    stages, links, worst = [], [], 0.0
    prev = problem.src
    for a, b, p in route:
        compute = float(problem.compute(a, b)[p])
        need = float(problem.need[a, b])
        stages.append(ChainStage(problem.positions[a], problem.positions[b], names[p], compute, int(need)))
        worst = max(worst, compute, 0.0 if need <= problem.memory[p] else math.inf)
        if prev != p:
            t = problem.transfer(a, prev, p)
            links.append(ChainLink(names[prev], names[p], int(problem.nbytes[a]), t))
            worst = max(worst, t)
        prev = p
    if prev != problem.src:
        t = problem.transfer(len(problem.positions) - 1, prev, problem.src)
        links.append(ChainLink(names[prev], problem.source, int(problem.nbytes[-1]), t))
        worst = max(worst, t)
    if len({p for _, _, p in route}) != len(route):
        worst = math.inf
    return ChainPlan(problem.source, tuple(stages), tuple(links), worst)


def single_device(problem: ChainProblem) -> ChainPlan | None:
    """The best one-stage chain (the whole model on one peer, the source's frames sent to it
    and its outputs back); None when the model fits on no single peer."""
    m = len(problem.positions) - 1
    plans = [build_plan(problem, [(0, m, p)]) for p in range(len(problem.peers))]
    best = min(plans, key=lambda plan: plan.period)
    return best if math.isfinite(best.period) else None


def bottleneck_chain(problem: ChainProblem) -> ChainPlan:
    """Minimise the period by a DP over (position, last peer), module doc; PlanError if no
    chain fits the peers' memories."""
    m, n_peers, src = len(problem.positions), len(problem.peers), problem.src
    best = np.full((m, n_peers), math.inf)
    best[0, src] = 0.0
    used = np.zeros((m, n_peers, n_peers), dtype=bool)  # peers on the best path to (k, p)
    back: dict[tuple[int, int], tuple[int, int]] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in range(1, m):
            for a in range(b):
                reach = np.isfinite(best[a])
                if not reach.any():
                    continue
                fit = problem.need[a, b] <= problem.memory
                link = np.where(problem.rate > 0, problem.nbytes[a] / problem.rate, math.inf)
                np.fill_diagonal(link, 0.0)
                cand = np.maximum(np.maximum(best[a][:, None], problem.compute(a, b)[None, :]), link)
                cand[used[a]] = math.inf  # p already on the path to (a, q)
                cand[~reach, :] = math.inf
                cand[:, ~fit] = math.inf
                if a > 0:
                    np.fill_diagonal(cand, math.inf)  # the same peer twice in a row
                q = np.argmin(cand, axis=0)
                value = cand[q, np.arange(n_peers)]
                better = value < best[b]
                for p in np.flatnonzero(better):
                    best[b, p] = value[p]
                    back[(b, int(p))] = (a, int(q[p]))
                    used[b, p] = used[a, q[p]] if a > 0 else False
                    used[b, p, p] = True
    finals = [(max(best[m - 1, p], problem.transfer(m - 1, p, src)), p) for p in range(n_peers)]
    value, p = min(finals)
    if not math.isfinite(value):
        raise PlanError(_no_chain_message(problem))
    route, k = [], m - 1
    while k > 0:
        a, q = back[(k, p)]
        route.append((a, k, p))
        k, p = a, q
    return build_plan(problem, route[::-1])


def _no_chain_message(problem: ChainProblem) -> str:
    m = len(problem.positions)
    singles = [float(problem.need[k, k + 1]) for k in range(m - 1)]
    k = int(np.argmax(singles))
    return (
        f"no chain fits: the smallest partition holding nodes [{problem.positions[k]}, {problem.positions[k + 1]}) "
        f"needs {singles[k] / 1e6:.3g} MB and the largest peer memory is {max(problem.memory) / 1e6:.3g} MB"
    )


def greedy_chain(problem: ChainProblem) -> ChainPlan | None:
    """ITNAC's greedy baseline: from the source, the next stage goes to the unused peer with
    the fastest link from the previous one (ties: the faster peer) that can hold the next
    piece, and takes the longest run of positions that fits its memory. None if stuck."""
    m, src = len(problem.positions), problem.src
    route, a, prev, unused = [], 0, src, set(range(len(problem.peers)))
    while a < m - 1:
        options = [p for p in unused if problem.need[a, a + 1] <= problem.memory[p]]
        if not options:
            return None
        p = max(options, key=lambda p: (math.inf if p == prev else problem.rate[prev, p], problem.speed[p], -p))
        b = max(k for k in range(a + 1, m) if problem.need[a, k] <= problem.memory[p])
        route.append((a, b, p))
        unused.discard(p)
        a, prev = b, p
    return build_plan(problem, route)


def random_chain(problem: ChainProblem, rng: np.random.Generator, tries: int = 200) -> ChainPlan | None:
    """ITNAC's random baseline: a random number of stages, random cuts, random distinct
    peers, redrawn until every stage fits its peer (None after `tries` draws)."""
    m, n_peers = len(problem.positions), len(problem.peers)
    for _ in range(tries):
        k = int(rng.integers(1, min(n_peers, m - 1) + 1))
        cuts = sorted(rng.choice(np.arange(1, m - 1), size=k - 1, replace=False).tolist()) if k > 1 else []
        bounds = [0, *cuts, m - 1]
        peers = rng.permutation(n_peers)[:k]
        route = [(bounds[s], bounds[s + 1], int(peers[s])) for s in range(k)]
        plan = build_plan(problem, route)
        if math.isfinite(plan.period):
            return plan
    return None


@dataclass(frozen=True)
class Acceleration:
    """Feltin's acceleration region for one model on one cluster: does partitioning pay?"""

    pays: bool
    single_period: float  # the best one-device period (inf: fits on no single device)
    chain_period: float
    transfers_fast: bool  # the busiest cut transfer is shorter than the one-device compute
    balanced: bool  # the busiest stage's compute is shorter than the one-device compute
    reason: str


def acceleration(problem: ChainProblem, plan: ChainPlan) -> Acceleration:
    """Whether `plan` beats the best single device, and why (the region's two conditions)."""
    single = single_device(problem)
    one = single.period if single is not None else math.inf
    fast = plan.transfer_bound < one
    balanced = plan.compute_bound < one
    pays = plan.period < one and len(plan.stages) > 1
    if single is None:
        reason = "the model fits on no single device: only a partitioned chain can run it"
    elif pays:
        reason = (f"pays: cut tensors move in {plan.transfer_bound * 1e3:.3g} ms and the busiest stage computes in "
                  f"{plan.compute_bound * 1e3:.3g} ms, both under one device's {one * 1e3:.3g} ms")
    else:
        why = []
        if not fast:
            why.append(f"a cut transfer takes {plan.transfer_bound * 1e3:.3g} ms")
        if not balanced:
            why.append(f"the busiest stage computes {plan.compute_bound * 1e3:.3g} ms")
        if not why:
            why.append("the best chain is the single device itself")
        reason = f"does not pay: {' and '.join(why)}, not under one device's {one * 1e3:.3g} ms"
    return Acceleration(pays, one, plan.period, fast, balanced, reason)
