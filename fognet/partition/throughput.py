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
along, `throughput_dp`: a heuristic, since distinctness breaks the optimal substructure), `greedy_chain`,
`random_chain`, and `throughput_exact.optimal_chain` (branch and bound);
`throughput_region.acceleration` says whether partitioning pays at all, and why.

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
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding, wire_sizes
from fognet.partition.memory import MemoryTable
from fognet.partition.throughput_dp import chain_dp, walk

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
        encoding: Encoding = DEFAULT_ENCODING,
    ) -> ChainProblem:
        """The problem of a model on a cluster; cuts at `positions` (default: articulation points).

        Every link is priced at the bytes `encoding` puts on the wire (a uint8 frame is a
        quarter of the float32 input), as the latency planner prices them."""
        n = len(graph)
        if len(times) != n:
            raise PlanError(f"{len(times)} node times for {n} compute nodes")
        if source not in state.peers:
            raise PlanError(f"source {source!r} is not in the cluster state")
        inner = graph.articulation_points() if positions is None else [p for p in positions if 0 < p < n]
        pos = (0, *sorted(set(inner)), n)
        prefix = np.concatenate([[0.0], np.cumsum(np.asarray(times, dtype=float))])
        wire = wire_sizes(graph, encoding)
        sizes = {c.position: sum(wire[t] for t in c.crossing) for c in graph.cuts()}
        nbytes = [sum(wire[t.name] for t in graph.inputs)] + [sizes[p] for p in pos[1:-1]]
        nbytes.append(sum(wire[t.name] for t in graph.outputs))
        table = table or MemoryTable.of(graph)
        idx = np.array(pos)
        return cls.on(state, source, tuple(sorted(state.peers)), pos, prefix[idx], np.array(nbytes, dtype=float),
                      table.total[np.ix_(idx, idx)].astype(float))

    @classmethod
    def on(cls, state: ClusterState, source: str, peers: Sequence[str], positions: Sequence[int],
           work: np.ndarray, nbytes: np.ndarray, need: np.ndarray) -> ChainProblem:
        """A chain's figures (class doc) on `state`'s `peers`, in that order: each peer's
        speed, memory (None: no limit) and send rates read from the state, by a model's
        problem (`from_graph`) and an instance file's (`placement.period_file`) alike."""
        peers = tuple(peers)
        return cls(
            positions=tuple(positions), work=work, nbytes=nbytes, need=need, peers=peers,
            speed=np.array([state.peers[p].speed for p in peers]),
            memory=np.array([state.peers[p].memory or math.inf for p in peers]),
            rate=send_rates(state, peers), source=source,
        )

    def compute(self, a: int, b: int) -> np.ndarray:
        """Seconds of positions [a, b) on every peer; with `a` an array of starts, [a, p]."""
        return (self.work[b] - self.work[a])[..., None] / self.speed

    def transfer(self, k: int, q: int, p: int) -> float:
        """Seconds to move position k's crossing bytes from peer q to peer p."""
        if q == p:
            return 0.0
        return self.nbytes[k] / self.rate[q, p] if self.rate[q, p] > 0 else math.inf

    def hops(self) -> np.ndarray:
        """[k, q, p]: every `transfer(k, q, p)` at once (the same divisions)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            link = self.nbytes[:, None, None] / self.rate[None, :, :]
        link[:, self.rate == 0] = math.inf
        link[:, np.arange(len(self.peers)), np.arange(len(self.peers))] = 0.0
        return link


def send_rates(state: ClusterState, peers: tuple[str, ...]) -> np.ndarray:
    """Bytes/s from each of `peers` (rows) to each (columns): the link's bandwidth capped by
    the sender's NIC (`partition.cost.send_rate`), inf to itself, 0 out of reach: how every
    chain problem prices its links (`ChainProblem.on`), from a model or an instance file."""
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
    """Minimise the period: `throughput_dp.chain_dp`, each stage at its compute and each link
    at its transfer, then `improve`; PlanError if no chain fits the peers' memories."""
    m, n_peers, src = len(problem.positions), len(problem.peers), problem.src
    finals, back = chain_dp(problem.hops(), src, min(n_peers, m - 1),
                            lambda b: problem.compute(np.arange(b), b),
                            lambda b: problem.need[:b, b][:, None] <= problem.memory[None, :])
    s, p = np.unravel_index(int(np.argmin(finals)), finals.shape)
    if not math.isfinite(finals[s, p]):
        # the DP's labels all ran into used peers: start from greedy, else from any chain that fits
        greedy = greedy_chain(problem)
        route = _route_of(problem, greedy) if greedy is not None else _feasible_route(problem)
        plan = improve(problem, route) if route is not None else None
        if plan is None or not math.isfinite(plan.period):
            raise PlanError(_no_chain_message(problem))
        return plan
    return improve(problem, walk(back, int(s), m - 1, int(p)))


def _route_of(problem: ChainProblem, plan: ChainPlan) -> list[tuple[int, int, int]]:
    at = {pos: k for k, pos in enumerate(problem.positions)}
    return [(at[s.start], at[s.stop], problem.peers.index(s.peer)) for s in plan.stages]


def improve(problem: ChainProblem, route: Route, rounds: int = 200) -> ChainPlan:
    """Local search from `route`: move a cut by one position, give a stage an unused peer,
    swap two stages' peers, merge two stages, or split one over an unused peer; take the
    best move while the period falls. Moves touch only the stages at the bottleneck."""
    route = list(route)
    plan = build_plan(problem, route)
    for _ in range(rounds):
        moves = _moves(problem, route, plan)
        if not moves:
            break
        value, step = min(((period_of(problem, r), r) for r in moves), key=lambda t: t[0])
        if not value < plan.period - 1e-15:
            break
        route, plan = step, build_plan(problem, step)
    return plan


def _moves(problem: ChainProblem, route: list[tuple[int, int, int]], plan: ChainPlan) -> list[list]:
    k_hot = _hot_stages(problem, route, plan)
    unused = [p for p in range(len(problem.peers)) if p not in {q for _, _, q in route}]
    moves: list[list] = []
    for k in k_hot:
        a, b, p = route[k]
        for q in unused:  # another peer
            moves.append([*route[:k], (a, b, q), *route[k + 1 :]])
            for c in range(a + 1, b):  # split over an unused peer
                moves.append([*route[:k], (a, c, p), (c, b, q), *route[k + 1 :]])
                moves.append([*route[:k], (a, c, q), (c, b, p), *route[k + 1 :]])
        for j in range(len(route)):  # swap peers
            if j != k:
                r = list(route)
                r[k], r[j] = (a, b, route[j][2]), (route[j][0], route[j][1], p)
                moves.append(r)
        for j in (k - 1, k + 1):  # shift the cut, or merge, with a neighbour
            if 0 <= j < len(route):
                lo, hi = sorted((k, j))
                (a1, b1, p1), (_, b2, p2) = route[lo], route[hi]
                for c in (b1 - 1, b1 + 1):
                    if a1 < c < b2:
                        moves.append([*route[:lo], (a1, c, p1), (c, b2, p2), *route[hi + 1 :]])
                for keep in (p1, p2):
                    moves.append([*route[:lo], (a1, b2, keep), *route[hi + 1 :]])
    return moves


def _hot_stages(problem: ChainProblem, route: list[tuple[int, int, int]], plan: ChainPlan) -> list[int]:
    """The stages whose compute, or whose incoming or outgoing link, sets the period."""
    hot = set()
    names = [problem.peers[p] for _, _, p in route]
    for k, stage in enumerate(plan.stages):
        if stage.compute_s >= plan.period or stage.memory_bytes > problem.memory[route[k][2]]:
            hot.add(k)
    for link in plan.links:
        if link.seconds >= plan.period:
            hot.update(k for k, name in enumerate(names) if name in (link.sender, link.receiver))
    return sorted(hot) or list(range(len(route)))


def _feasible_route(problem: ChainProblem, budget: int = 100_000) -> list[tuple[int, int, int]] | None:
    """Any route whose stages fit their distinct peers and whose links are in reach, by a
    depth-first search with dead ends remembered (at most `budget` expansions), so a chain
    that exists is not reported as fitting nowhere when the DP's labels and greedy miss it."""
    m, src = len(problem.positions), problem.src
    reach = problem.rate > 0
    dead: set[tuple[int, int, frozenset]] = set()
    left = [budget]

    def search(k: int, q: int, used: frozenset) -> list | None:
        if k == m - 1:
            return [] if q == src or reach[q, src] else None
        if (k, q, used) in dead or left[0] <= 0:
            return None
        left[0] -= 1
        for b in range(m - 1, k, -1):  # long stages first: fewer peers needed
            for p in range(len(problem.peers)):
                if p in used or problem.need[k, b] > problem.memory[p] or not (p == q or reach[q, p]):
                    continue
                rest = search(b, p, used | {p})
                if rest is not None:
                    return [(k, b, p), *rest]
        dead.add((k, q, used))
        return None

    return search(0, src, frozenset())


def _no_chain_message(problem: ChainProblem) -> str:
    m = len(problem.positions)
    singles = [float(problem.need[k, k + 1]) for k in range(m - 1)]
    k = int(np.argmax(singles))
    if singles[k] <= max(problem.memory):  # every piece fits somewhere: the links or distinct peers are short
        return (
            f"no chain reaches: every partition fits some peer's memory, but no route of distinct peers from "
            f"{problem.source} and back to it has links in reach that hold them all (check the links and memories)"
        )
    return (
        f"no chain fits: the smallest partition holding nodes [{problem.positions[k]}, {problem.positions[k + 1]}) "
        f"needs {singles[k] / 1e6:.3g} MB and the largest peer memory is {max(problem.memory) / 1e6:.3g} MB"
    )


def greedy_chain(problem: ChainProblem) -> ChainPlan | None:
    """ITNAC's greedy baseline: from the source, the next stage goes to the unused peer with
    the fastest link from the previous one (ties: the faster peer) that can hold the next
    piece, and takes the longest run of positions that fits its memory. None if stuck (or a
    link it needs is out of reach)."""
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
    plan = build_plan(problem, route)
    return plan if math.isfinite(plan.period) else None


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
