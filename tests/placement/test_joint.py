"""The joint loop's pieces: the load a matching puts on each site, and the planner's wait under it."""

from __future__ import annotations

import math

import pytest

from fognet.matching.cost import finish_pieces, pieces, transfer
from fognet.matching.instance import Instance, Link, LocalDevice, PeerId, Subtask, SubtaskId, Worker
from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.plan import Planner
from fognet.placement.joint import SiteLoad, site_loads
from tests.graphs import conv_chain_model


def _sub(sid: str, source: str, work: float, stage: int = 0) -> Subtask:
    return Subtask(SubtaskId(sid), PeerId(source), work, 10, 10, stage)


def test_site_loads_leave_out_the_asking_source_and_keep_the_phantom_backlog() -> None:
    inst = Instance(
        workers=(Worker(PeerId("w#w"), 2.0, 0.1, cap=0.95), Worker(PeerId("v#w"), 1.0, 0.0)),
        links=(), local=(LocalDevice(PeerId("a"), 1.0, 0.0, rate=2.0), LocalDevice(PeerId("b"), 1.0, 0.0, rate=4.0)),
        subtasks=(_sub("a.0", "a", 0.2), _sub("b.0", "b", 0.3), _sub("b.1", "b", 0.1), _sub("b.2", "b", 0.5, 1)),
    )
    assignment = {"a.0": "w#w", "b.0": "w#w", "b.1": "w#w", "b.2": "b"}
    for_a = site_loads(inst, assignment, "a")
    # b's two slices of stage 0 on w are one piece of 0.4 ref-s: x = 0.2 s at 4 frames/s
    phantom = 0.1 / 2.0
    assert for_a["w"].load == pytest.approx(phantom / 1.0 + 4 * 0.2)
    assert for_a["w"].residual == pytest.approx((phantom**2 / 1.0 + 4 * 0.2**2) / 2)
    assert for_a["w"].cap == 0.95
    assert for_a["v"] == SiteLoad(0.0, 0.0, 0.9)
    for_b = site_loads(inst, assignment, "b")
    assert for_b["w"].load == pytest.approx(phantom + 2 * 0.1)
    assert for_b["w"].residual == pytest.approx((phantom**2 + 2 * 0.1**2) / 2)


def test_the_residual_leaves_the_asking_sources_own_pieces_out_for_both_arrivals() -> None:
    # The planner prices the candidate piece's own term itself (PeerState.stream_wait): the
    # source's pieces as matched now (other sizes, or none there) must not be counted again
    def loads(arrival: str) -> SiteLoad:
        inst = Instance(
            workers=(Worker(PeerId("w#w"), 2.0, 0.1),), links=(),
            local=(LocalDevice(PeerId("a"), 1.0, 0.0, rate=2.0), LocalDevice(PeerId("b"), 1.0, 0.0, rate=4.0)),
            subtasks=(_sub("a.0", "a", 0.2), _sub("a.1", "a", 0.6, 1), _sub("b.0", "b", 0.4)), arrival=arrival,
        )
        return site_loads(inst, {"a.0": "w#w", "a.1": "w#w", "b.0": "w#w"}, "a")["w"]

    phantom = 0.1 / 2.0
    others = phantom**2 + 4 * 0.2**2  # b's piece: x = 0.4 / 2 s at 4 frames/s
    fixed, poisson = loads("fixed"), loads("poisson")
    assert fixed.residual == poisson.residual == pytest.approx(others / 2)
    assert fixed.load == poisson.load == pytest.approx(phantom + 4 * 0.2)


CANDIDATE_S = 0.06  # reference-seconds of the whole model (6 nodes of 0.01)


@pytest.mark.parametrize("arrival", ["fixed", "poisson"])
@pytest.mark.parametrize("old_work", [None, 0.02, CANDIDATE_S])  # a's piece on w now: none, smaller, the same
@pytest.mark.parametrize(("queue", "backlog", "b_work"), [
    ("fifo", 0.1, 0.4),  # Pollaczek-Khinchine: any mix of work
    ("sjf", 0.0, CANDIDATE_S),  # Cobham with one class (equal work, no phantom) is the same formula
])
def test_the_planners_stage_on_a_worker_costs_what_the_game_prices_that_piece(
    arrival: str, old_work: float | None, queue: str, backlog: float, b_work: float
) -> None:
    """DESIGN.md "The stream cost model": the planner's predicted time of a whole stage on
    a worker, under the loads the current matching puts there, is the game's latency of
    that piece on that worker beside the other source's (its wait R / (1 - rho), with
    R = (B - B_a) / 2 for fixed-rate streams and B / 2 for Poisson ones, B and rho
    counting the candidate piece, not a's piece there now)."""
    graph = analyse(conv_chain_model())
    times = [CANDIDATE_S / len(graph)] * len(graph)
    link = dict(bandwidth=1e7, latency=0.002)
    local = (LocalDevice(PeerId("a"), 1.0, 0.0, rate=2.0), LocalDevice(PeerId("b"), 1.0, 0.0, rate=4.0))
    worker = Worker(PeerId("w#w"), 2.0, backlog, cap=0.95)
    links = (Link(PeerId("a"), PeerId("w#w"), **link), Link(PeerId("b"), PeerId("w#w"), **link))
    b_piece = _sub("b.0", "b", b_work)
    now = Instance((worker,), links, (_sub("a.0", "a", old_work or 0.01), b_piece), local, arrival=arrival, queue=queue)
    background = site_loads(now, {"a.0": "w#w" if old_work else "a", "b.0": "w#w"}, "a")["w"]
    state = ClusterState.of(
        [PeerState("a", 1.0, rate=2.0, poisson=arrival == "poisson"),
         PeerState("w", 2.0, load=background.load, residual=background.residual, cap=background.cap)],
        {("a", "w"): LinkState(**link)})
    planner = Planner(graph, times, state, "a")
    n = len(graph)
    in_b, out_b = int(planner.bytes.inputs[0, n]), int(planner.bytes.outputs[0, n])
    piece = Subtask(SubtaskId("a.0"), PeerId("a"), CANDIDATE_S, in_b, out_b)
    then = Instance((worker,), links, (piece, b_piece), local, arrival=arrival, queue=queue)
    finish = finish_pieces(then, PeerId("w#w"), pieces(then.subtasks))[(PeerId("a"), 0)]
    t_in, t_out = transfer(then, PeerId("a"), PeerId("w#w"), in_b, out_b, in_b)
    assert planner.whole_cost(0, n, "w") == pytest.approx(t_in + finish + t_out, rel=1e-9)


def test_the_planners_wait_among_other_streams_and_its_cap() -> None:
    busy = PeerState("w", 1.0, backlog=0.0, load=0.5, residual=0.01, cap=0.9)
    assert busy.stream_wait(0.1, 2.0) == pytest.approx(0.01 / (1 - 0.5 - 0.2))
    assert busy.stream_wait(0.2, 2.0) == math.inf  # 0.5 + 0.4 reaches the cap: refused
    assert busy.wait == pytest.approx(0.01 / 0.5)
    # a Poisson stream also waits for its own frames: + rate x^2 / 2 in the residual
    assert busy.stream_wait(0.1, 2.0, poisson=True) == pytest.approx((0.01 + 2.0 * 0.1**2 / 2) / (1 - 0.5 - 0.2))
    idle = PeerState("w", 2.0, backlog=0.4)
    assert idle.stream_wait(0.1, 0.0) == idle.wait == pytest.approx(0.2)
