"""Chain plans: the period by hand, the optimum by enumeration, memory never exceeded."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.errors import PlanError
from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.encoding import Encoding
from fognet.partition.memory import MemoryTable
from fognet.partition.throughput import (
    ChainProblem,
    bottleneck_chain,
    build_plan,
    greedy_chain,
    period_of,
    random_chain,
    send_rates,
)
from fognet.partition.throughput_exact import optimal_chain
from fognet.partition.throughput_region import acceleration
from tests.graphs import residual_model


def _problem(work, nbytes, speeds, rates, memory=None, need=None, source=0) -> ChainProblem:
    m = len(work)
    peers = tuple(f"p{k}" for k in range(len(speeds)))
    rate = np.array(rates, dtype=float)
    np.fill_diagonal(rate, math.inf)
    return ChainProblem(
        positions=tuple(range(m)), work=np.array(work, float), nbytes=np.array(nbytes, float),
        need=np.zeros((m, m)) if need is None else np.array(need, float), peers=peers,
        speed=np.array(speeds, float), memory=np.full(len(speeds), math.inf) if memory is None else np.array(memory, float),
        rate=rate, source=peers[source],
    )


def test_period_by_hand_on_a_three_stage_chain() -> None:
    # positions 0..3; stage work 1, 2, 1 s; speeds 1, 2, 4; 100 B in, 50 B at cut 1, 20 B at 2, 10 B out
    p = _problem([0, 1, 3, 4], [100, 50, 20, 10], [1, 2, 4], [[0, 10, 10], [10, 0, 100], [5, 100, 0]])
    plan = build_plan(p, [(0, 1, 0), (1, 2, 1), (2, 3, 2)])
    assert [s.compute_s for s in plan.stages] == [1.0, 1.0, 0.25]
    # links: p0->p1 50 B / 10 B/s = 5 s; p1->p2 20/100 = 0.2 s; p2->p0 10/5 = 2 s
    assert [(link.sender, link.receiver, link.seconds) for link in plan.links] == [
        ("p0", "p1", 5.0), ("p1", "p2", 0.2), ("p2", "p0", 2.0)]
    assert plan.period == 5.0 and plan.throughput == 0.2
    # on one device: the source alone computes 4 s; the input does not move
    assert period_of(p, [(0, 3, 0)]) == 4.0
    # a repeated peer or an unfitting stage is not a plan
    assert period_of(p, [(0, 1, 1), (1, 3, 1)]) == math.inf


def _enumerate(problem: ChainProblem) -> float:
    """Every composition of the positions into stages, every injective choice of peers."""
    m, n_peers = len(problem.positions), len(problem.peers)
    best = math.inf
    for k in range(1, min(n_peers, m - 1) + 1):
        for cuts in itertools.combinations(range(1, m - 1), k - 1):
            bounds = [0, *cuts, m - 1]
            for peers in itertools.permutations(range(n_peers), k):
                route = [(bounds[s], bounds[s + 1], peers[s]) for s in range(k)]
                best = min(best, period_of(problem, route))
    return best


@st.composite
def problems(draw):
    m = draw(st.integers(2, 6))
    n_peers = draw(st.integers(1, 4))
    steps = draw(st.lists(st.floats(0.01, 1.0), min_size=m - 1, max_size=m - 1))
    work = np.concatenate([[0.0], np.cumsum(steps)])
    nbytes = draw(st.lists(st.floats(1.0, 1e3), min_size=m, max_size=m))
    speeds = draw(st.lists(st.floats(0.2, 5.0), min_size=n_peers, max_size=n_peers))
    rates = [[draw(st.sampled_from([0.0, 100.0, 1e3, 1e4])) for _ in range(n_peers)] for _ in range(n_peers)]
    sizes = draw(st.lists(st.floats(1.0, 10.0), min_size=m - 1, max_size=m - 1))
    prefix = np.concatenate([[0.0], np.cumsum(sizes)])
    need = np.maximum(prefix[None, :] - prefix[:, None], 0.0)
    memory = draw(st.lists(st.floats(3.0, 40.0), min_size=n_peers, max_size=n_peers))
    source = draw(st.integers(0, n_peers - 1))
    return _problem(work, nbytes, speeds, rates, memory, need, source)


@settings(max_examples=150, deadline=None)
@given(problem=problems())
def test_optimum_equals_enumeration_and_bounds_the_heuristics(problem) -> None:
    truth = _enumerate(problem)
    if not math.isfinite(truth):
        with pytest.raises(PlanError):
            optimal_chain(problem)
        return
    best = optimal_chain(problem)
    assert best.period == pytest.approx(truth, rel=1e-12)
    assert bottleneck_chain(problem).period >= best.period - 1e-12
    greedy = greedy_chain(problem)
    assert greedy is None or greedy.period >= best.period - 1e-12


@settings(max_examples=400, deadline=None)
@given(problem=problems())
def test_the_heuristic_finds_a_chain_whenever_one_fits(problem) -> None:
    # distinct peers break the DP's optimal substructure; a chain that exists must still be found
    assert _finds_a_chain(problem) == math.isfinite(_enumerate(problem))


def _finds_a_chain(problem) -> bool:
    try:
        return math.isfinite(bottleneck_chain(problem).period)
    except PlanError:
        return False


@settings(max_examples=100, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**16))
def test_no_chain_plan_exceeds_a_peers_memory(problem, seed) -> None:
    plans = [random_chain(problem, np.random.default_rng(seed)), greedy_chain(problem)]
    try:
        plans += [bottleneck_chain(problem), optimal_chain(problem)]
    except PlanError:
        pass
    memory = dict(zip(problem.peers, problem.memory, strict=True))
    for plan in plans:
        if plan is None:
            continue
        assert len({s.peer for s in plan.stages}) == len(plan.stages)
        for stage in plan.stages:
            assert stage.memory_bytes <= memory[stage.peer]


def test_chain_on_a_real_graph_and_its_acceleration_verdict() -> None:
    graph = analyse(residual_model())
    table = MemoryTable.of(graph)
    whole = table.need(0, len(graph))
    peers = [PeerState("car", 0.2), PeerState("a", 1.0, memory=whole * 0.8), PeerState("b", 1.0, memory=whole * 0.8)]
    links = {("car", "a"): LinkState(1e8), ("car", "b"): LinkState(1e8), ("a", "b"): LinkState(1e8)}
    state = ClusterState.of(peers, links)
    times = [0.01, 0.01, 0.001, 0.001]
    problem = ChainProblem.from_graph(graph, times, state, "car", positions=range(1, len(graph)))
    plan = bottleneck_chain(problem)
    assert {s.peer for s in plan.stages} <= {"car", "a", "b"}
    assert all(s.memory_bytes <= whole * 0.8 for s in plan.stages if s.peer != "car")
    verdict = acceleration(problem, plan)
    assert verdict.pays and plan.period < verdict.single_period
    # fast single device, slow links: partitioning cannot pay
    slow = {k: LinkState(1e3) for k in links}
    problem2 = ChainProblem.from_graph(graph, times, ClusterState.of([PeerState("car", 5.0), *peers[1:]], slow), "car")
    verdict2 = acceleration(problem2, bottleneck_chain(problem2))
    assert not verdict2.pays and "does not pay" in verdict2.reason


def test_chain_links_are_priced_at_the_bytes_the_encoding_sends() -> None:
    graph = analyse(residual_model())
    state = ClusterState.of([PeerState("car", 1.0), PeerState("a", 1.0)], {("car", "a"): LinkState(1e6)})
    times = [0.01] * len(graph)
    raw = ChainProblem.from_graph(graph, times, state, "car", encoding=Encoding(frames="float32"))
    camera = ChainProblem.from_graph(graph, times, state, "car")  # the default: uint8 frames
    halved = ChainProblem.from_graph(graph, times, state, "car", encoding=Encoding(frames="float32", activations="fp16"))
    frame_bytes = sum(t.nbytes for t in graph.inputs)
    assert raw.nbytes[0] == frame_bytes and camera.nbytes[0] == frame_bytes / 4
    # every inner cut's activations and the outputs are float32: raw as the graph says, fp16 at half
    cuts = {c.position: c.nbytes for c in graph.cuts()}
    assert list(raw.nbytes[1:-1]) == [cuts[p] for p in raw.positions[1:-1]]
    assert list(halved.nbytes[1:]) == [b / 2 for b in raw.nbytes[1:]]
    assert list(camera.nbytes[1:]) == list(raw.nbytes[1:])


def test_a_chain_the_dp_and_greedy_miss_is_still_found() -> None:
    # found by hypothesis: only p2 holds [2, 3) and the DP's label there had used p2 already;
    # greedy got stuck too, and the planner said "no chain fits" although p2 -> p0 -> p1 -> p2 does
    need = [[0, 1, 4, 8], [0, 0, 3, 7], [0, 0, 0, 4], [0, 0, 0, 0]]
    rates = [[0, 100, 0], [0, 0, 100], [100, 100, 0]]
    problem = _problem([0, 1, 1.5, 2.5], [1, 1, 1, 1], [1, 1, 2], rates, memory=[3, 3, 4], need=need, source=2)
    assert greedy_chain(problem) is None
    plan = bottleneck_chain(problem)
    assert plan.period == pytest.approx(optimal_chain(problem).period) == pytest.approx(_enumerate(problem))


def test_a_chain_out_of_reach_is_not_blamed_on_memory() -> None:
    # both peers hold the whole model, but no link leaves the source
    problem = _problem([0, 1, 2], [1, 1, 1], [1, 1], [[0, 0], [100, 0]], memory=[0.5, 10],
                       need=[[0, 1, 2], [0, 0, 1], [0, 0, 0]], source=0)
    with pytest.raises(PlanError, match="no chain reaches"):
        bottleneck_chain(problem)


def test_send_rates_cap_each_link_by_its_senders_nic() -> None:
    state = ClusterState.of(
        [PeerState("a", 1.0, nic=2e6), PeerState("b", 1.0), PeerState("c", 1.0)],
        {("a", "b"): LinkState(5e6), ("b", "c"): LinkState(1e6)},
    )
    rate = send_rates(state, ("a", "b", "c"))
    assert rate[0, 1] == 2e6 and rate[1, 0] == 5e6  # a's NIC caps its sends, not what it receives
    assert rate[1, 2] == rate[2, 1] == 1e6
    assert rate[0, 2] == rate[2, 0] == 0.0  # no link and no default: out of reach
    assert all(rate[k, k] == math.inf for k in range(3))


def test_a_problem_on_a_state_reads_its_peers_in_the_order_given() -> None:
    state = ClusterState.of([PeerState("a", 0.5, nic=2e6), PeerState("b", 2.0, memory=1e6)],
                            {("a", "b"): LinkState(5e6)})
    problem = ChainProblem.on(state, "a", ("b", "a"), range(2), np.array([0.0, 1.0]), np.array([10.0, 5.0]),
                              np.zeros((2, 2)))
    assert problem.peers == ("b", "a") and problem.src == 1 and problem.positions == (0, 1)
    assert problem.speed.tolist() == [2.0, 0.5]
    assert problem.memory.tolist() == [1e6, math.inf]  # no memory said: no limit
    assert problem.rate.tolist() == send_rates(state, ("b", "a")).tolist() == [[math.inf, 5e6], [2e6, math.inf]]


def test_hops_are_every_transfer_at_once() -> None:
    problem = _problem([0, 1, 2, 3], [100, 50, 0, 10], [1.0, 2.0, 1.0],
                       [[0, 1e3, 0], [2e3, 0, 5e2], [1e3, 1e3, 0]])
    hops = problem.hops()
    for k, q, p in itertools.product(range(4), range(3), range(3)):
        assert hops[k, q, p] == problem.transfer(k, q, p), (k, q, p)
    assert hops[0, 0, 2] == math.inf and hops[2, 0, 1] == 0.0 and hops[1, 1, 1] == 0.0


def test_compute_of_every_start_at_once_is_each_starts() -> None:
    problem = _problem([0, 1, 3, 6], [1, 1, 1, 1], [1.0, 2.0], [[0, 1], [1, 0]])
    table = problem.compute(np.arange(3), 3)
    assert table.shape == (3, 2)
    for a in range(3):
        assert table[a].tolist() == problem.compute(a, 3).tolist()
    assert problem.compute(1, 3).tolist() == [5.0, 2.5]
