"""The joint loop's pieces: the load a matching puts on each site, and the planner's wait under it."""

from __future__ import annotations

import math

import pytest

from fognet.matching.cost import finish_pieces, pieces
from fognet.matching.instance import Instance, LocalDevice, PeerId, Subtask, SubtaskId, Worker
from fognet.partition.cost import PeerState
from fognet.placement.joint import SiteLoad, site_loads


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


def test_for_poisson_arrivals_the_residual_keeps_the_asking_sources_own_second_moment() -> None:
    # DESIGN.md: R = (B - B_src) / 2 for fixed-rate streams, B / 2 for Poisson ones; the load
    # leaves the asking source out either way (the planner adds the piece it prices)
    def loads(arrival: str) -> SiteLoad:
        inst = Instance(
            workers=(Worker(PeerId("w#w"), 2.0, 0.1),), links=(),
            local=(LocalDevice(PeerId("a"), 1.0, 0.0, rate=2.0), LocalDevice(PeerId("b"), 1.0, 0.0, rate=4.0)),
            subtasks=(_sub("a.0", "a", 0.2), _sub("a.1", "a", 0.6, 1), _sub("b.0", "b", 0.4)), arrival=arrival,
        )
        return site_loads(inst, {"a.0": "w#w", "a.1": "w#w", "b.0": "w#w"}, "a")["w"]

    phantom = 0.1 / 2.0
    others = phantom**2 + 4 * 0.2**2  # b's piece: x = 0.4 / 2 s at 4 frames/s
    own = 2 * 0.1**2 + 2 * 0.3**2  # a's two stages there: x = 0.1 s and 0.3 s at 2 frames/s
    fixed, poisson = loads("fixed"), loads("poisson")
    assert fixed.residual == pytest.approx(others / 2)
    assert poisson.residual == pytest.approx((others + own) / 2)
    assert fixed.load == poisson.load == pytest.approx(phantom + 4 * 0.2)


@pytest.mark.parametrize("arrival", ["fixed", "poisson"])
def test_the_planner_under_site_loads_waits_as_the_game_prices_a_fifo_site(arrival: str) -> None:
    inst = Instance(
        workers=(Worker(PeerId("w#w"), 2.0, 0.1),), links=(),
        local=(LocalDevice(PeerId("a"), 1.0, 0.0, rate=2.0), LocalDevice(PeerId("b"), 1.0, 0.0, rate=4.0)),
        subtasks=(_sub("a.0", "a", 0.2), _sub("b.0", "b", 0.4)), arrival=arrival, queue="fifo",
    )
    background = site_loads(inst, {"a.0": "w#w", "b.0": "w#w"}, "a")["w"]
    worker = PeerState("w", 2.0, load=background.load, residual=background.residual, cap=background.cap)
    game = finish_pieces(inst, PeerId("w#w"), pieces(inst.subtasks))[(PeerId("a"), 0)] - 0.2 / 2.0
    assert worker.stream_wait(0.2 / 2.0, 2.0) == pytest.approx(game, rel=1e-12)


def test_the_planners_wait_among_other_streams_and_its_cap() -> None:
    busy = PeerState("w", 1.0, backlog=0.0, load=0.5, residual=0.01, cap=0.9)
    assert busy.stream_wait(0.1, 2.0) == pytest.approx(0.01 / (1 - 0.5 - 0.2))
    assert busy.stream_wait(0.2, 2.0) == math.inf  # 0.5 + 0.4 reaches the cap: refused
    assert busy.wait == pytest.approx(0.01 / 0.5)
    idle = PeerState("w", 2.0, backlog=0.4)
    assert idle.stream_wait(0.1, 0.0) == idle.wait == pytest.approx(0.2)
