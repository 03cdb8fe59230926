"""The planner's DP against exhaustive search over every plan, under the same cost model."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.plan import Planner
from fognet.placement.pricing import HaloPricing
from tests.graphs import branches_model, conv_chain_model, residual_model


def _cluster(speeds, bandwidths, latency=0.001, backlogs=None, nic=None) -> ClusterState:
    peers = [PeerState("car", speeds[0], nic=nic)]
    links = {}
    for k, (speed, bw) in enumerate(zip(speeds[1:], bandwidths, strict=True)):
        pid = f"w{k}"
        peers.append(PeerState(pid, speed, backlog=(backlogs or [0.0] * 9)[k]))
        links[("car", pid)] = LinkState(bw, latency)
    return ClusterState.of(peers, links)


def _exhaustive(planner: Planner, n: int) -> float:
    """Minimum over every composition of [0, n) into stages, every option per stage."""
    spatial = set(planner.spatial_ranges())
    best = float("inf")
    for mask in range(1 << (n - 1)):
        cuts = [p for p in range(1, n) if mask >> (p - 1) & 1]
        bounds = [0, *cuts, n]
        total = 0.0
        for i, j in itertools.pairwise(bounds):
            options = [planner.whole_cost(i, j, peer) for peer in planner.peers]
            if (i, j) in spatial:
                for k in range(2, len(planner.peers) + 1):
                    for group in itertools.combinations(planner.peers, k):
                        option = planner.spatial_option(i, j, peers=group)
                        if option is not None:
                            options.append(option.cost)
            total += min(options)
        best = min(best, total)
    return best


MODELS = {"residual": residual_model, "branches": branches_model, "chain": conv_chain_model}


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=12, deadline=None)
@given(
    speeds=st.lists(st.floats(0.05, 4.0), min_size=3, max_size=4),
    bw=st.lists(st.floats(1e5, 1e8), min_size=3, max_size=3),
    work=st.lists(st.floats(1e-4, 2e-2), min_size=8, max_size=8),
)
def test_dp_equals_exhaustive_search(name, speeds, bw, work) -> None:
    graph = analyse(MODELS[name]())
    state = _cluster(speeds, bw[: len(speeds) - 1])
    planner = Planner(graph, work[: len(graph)], state, "car", spatial=HaloPricing(graph))
    plan = planner.plan()
    assert plan.predicted_s == pytest.approx(_exhaustive(planner, len(graph)), rel=1e-9)
    assert plan.stages[-1].stop == len(graph)
    assert planner.price(plan).predicted_s == pytest.approx(plan.predicted_s, rel=1e-9)


def test_a_fast_well_connected_worker_takes_the_work() -> None:
    graph = analyse(conv_chain_model())
    state = _cluster([0.1, 4.0], [1e9])
    plan = Planner(graph, [0.01] * len(graph), state, "car", spatial=HaloPricing(graph)).plan()
    assert plan.peers == {"w0"}


def test_a_slow_link_keeps_everything_local() -> None:
    graph = analyse(conv_chain_model())
    state = _cluster([1.0, 4.0], [1e3])
    plan = Planner(graph, [0.01] * len(graph), state, "car").plan()
    assert plan.peers == {"car"} and len(plan.stages) == 1


def test_equal_workers_get_a_spatial_split() -> None:
    graph = analyse(conv_chain_model())
    state = _cluster([0.05, 1.0, 1.0, 1.0], [1e10] * 3, latency=0.0)
    planner = Planner(graph, [0.05] * len(graph), state, "car", spatial=HaloPricing(graph))
    plan = planner.plan()
    spatial = [s for s in plan.stages if s.spatial]
    assert spatial and len(spatial[0].peers) >= 2
    assert plan.predicted_s < planner.best_single_node().predicted_s


def test_reference_plans_are_never_better_than_the_dp() -> None:
    graph = analyse(residual_model())
    state = _cluster([0.3, 1.0, 2.0], [5e6, 2e6], latency=0.003)
    planner = Planner(graph, [0.004, 0.01, 0.001, 0.001], state, "car", spatial=HaloPricing(graph))
    best = planner.plan().predicted_s
    for ref in (planner.all_local(), planner.best_single_node(), planner.neurosurgeon()):
        assert best <= ref.predicted_s + 1e-12
        assert planner.price(ref).predicted_s == pytest.approx(ref.predicted_s)


def test_a_source_that_also_lends_its_device_never_refuses_its_own_frames() -> None:
    """A peer that is source and worker carries a cap below 1 for others' work; its own
    frames at a rate that loads it past that cap, with no usable worker, still get a plan
    on it (DESIGN: a source's own device cannot refuse), priced finite."""
    graph = analyse(conv_chain_model())
    times = [0.01] * len(graph)
    state = ClusterState.of([PeerState("car", 1.0, cap=0.5, rate=80.0), PeerState("w0", 1.0)],
                            {("car", "w0"): LinkState(1.0, 1.0)})
    planner = Planner(graph, times, state, "car")
    plan = planner.plan()
    assert plan.peers == {"car"}
    assert 0 < plan.predicted_s < float("inf")


@pytest.mark.parametrize("poisson", [False, True])
def test_a_spatial_stages_slices_wait_with_the_sources_own_stream_as_whole_stages_do(poisson: bool) -> None:
    """Joint planning: a slice on a worker carrying others' streams waits R / (1 - load -
    rate x) with its own load (and, for a Poisson stream, R its own rate x^2 / 2 more), and
    on the source's own device its own term too; past the worker's cap it is refused."""
    graph = analyse(conv_chain_model())
    times = [0.01] * len(graph)
    rate, load, residual = 4.0, 0.5, 0.004
    state = ClusterState.of(
        [PeerState("car", 0.5, rate=rate, poisson=poisson),
         PeerState("w", 1.0, load=load, residual=residual, cap=0.9)],
        {("car", "w"): LinkState(1e7, 0.002)})
    planner = Planner(graph, times, state, "car", spatial=HaloPricing(graph))
    i, j = planner.spatial_ranges()[0]
    height = planner.spatial.out_rows(i, j)
    rows = [(0, height // 2), (height // 2, height)]
    work = sum(times[i:j])

    def finish(peer: str, r: tuple[int, int]) -> float:
        x = planner.spatial.slice_work(i, j, r, work) / state.peers[peer].speed
        own = rate * x * x / 2 if poisson else 0.0
        if peer == "car":
            return own / (1 - rate * x) + x
        in_b, out_b = planner.spatial.slice_bytes(i, j, r)
        return 0.002 + in_b / 1e7 + (residual + own) / (1 - load - rate * x) + x + 0.002 + out_b / 1e7

    expected = max(finish("car", rows[0]), finish("w", rows[1]))
    assert planner.price_slices(i, j, ["car", "w"], rows) == pytest.approx(expected, rel=1e-12)
    # 0.3 s a node: the worker's half of the first node alone loads it past 0.9 at 4 frames/s
    busy = Planner(graph, [0.3] * len(graph), state, "car", spatial=HaloPricing(graph))
    assert busy.price_slices(i, j, ["car", "w"], rows) == math.inf
