"""The star planner under peers' memory limits: no peer ever holds more than it lends."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.errors import PlanError
from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.memory import MemoryTable, peer_usage
from fognet.partition.plan import Planner
from fognet.placement.pricing import HaloPricing
from tests.graphs import branches_model, conv_chain_model, residual_model

MODELS = {"residual": residual_model, "branches": branches_model, "chain": conv_chain_model}


def _cluster(speeds, memories) -> ClusterState:
    peers = [PeerState("car", speeds[0], memory=memories[0])]
    links = {}
    for k, (speed, mem) in enumerate(zip(speeds[1:], memories[1:], strict=True)):
        peers.append(PeerState(f"w{k}", speed, memory=mem))
        links[("car", f"w{k}")] = LinkState(1e7, 0.001)
    return ClusterState.of(peers, links)


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=25, deadline=None)
@given(
    speeds=st.lists(st.floats(0.05, 4.0), min_size=3, max_size=4),
    shares=st.lists(st.floats(0.05, 1.2), min_size=4, max_size=4),
    work=st.lists(st.floats(1e-4, 2e-2), min_size=8, max_size=8),
)
def test_no_plan_exceeds_a_peers_memory(name, speeds, shares, work) -> None:
    graph = analyse(MODELS[name]())
    table = MemoryTable.of(graph)
    whole = table.need(0, len(graph))
    memories = [s * whole for s in shares[: len(speeds)]]
    planner = Planner(graph, work[: len(graph)], _cluster(speeds, memories), "car", HaloPricing(graph))
    try:
        plan = planner.plan()
    except PlanError as exc:
        # only when some node's own partition fits nowhere, or the stages could not be spread
        assert "fits on no peer" in str(exc) or "no plan keeps each peer's stages" in str(exc)
        assert max(memories) < whole
        return
    placed = [(s.start, s.stop, p) for s in plan.stages for p in s.peers]
    limit = dict(zip(["car", *[f"w{k}" for k in range(len(speeds) - 1)]], memories, strict=True))
    for peer, used in peer_usage(table, placed).items():
        assert used <= limit[peer], (peer, used, limit[peer], plan)


def test_memory_moves_the_work_off_a_fast_small_peer() -> None:
    graph = analyse(residual_model())
    whole = MemoryTable.of(graph).need(0, len(graph))
    times = [0.01] * len(graph)
    free = Planner(graph, times, _cluster([0.1, 10.0], [None, None]), "car").plan()
    assert {p for s in free.stages for p in s.peers} == {"w0"}
    small = Planner(graph, times, _cluster([0.1, 10.0], [None, whole // 3]), "car").plan()
    assert "car" in {p for s in small.stages for p in s.peers}


def test_a_model_that_fits_nowhere_is_one_clear_line() -> None:
    graph = analyse(residual_model())
    table = MemoryTable.of(graph)
    name, need = table.largest_node()
    state = _cluster([1.0, 2.0], [need - 1, need - 100])
    with pytest.raises(PlanError) as info:
        Planner(graph, [0.01] * len(graph), state, "car").plan()
    message = str(info.value)
    assert "\n" not in message
    assert f"node {name!r} needs {need / 1e6:.3g} MB" in message
    assert f"largest peer memory is {(need - 1) / 1e6:.3g} MB (car)" in message
