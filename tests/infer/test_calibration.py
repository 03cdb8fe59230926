"""The source's calibration: links and speeds from its frames, robust to one spike, and the
re-plans they cause (a real bandwidth drop moves work off the link, a spike does not)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from fognet.data.driving import DrivingStream
from fognet.infer.calibration import UNPACED_SHARE, Calibration, source_rate, stream_rate
from fognet.infer.placement import PlannerPlacement, reprice
from fognet.infer.requester import SubtaskTiming
from fognet.infer.session import Identity, SessionOptions, run_session
from fognet.matching.cost import fits
from fognet.matching.instance import PeerId, Subtask, SubtaskId
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.net.emulation import Link, Pacer
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.encoding import Encoding
from fognet.partition.replan import should_switch, state_change
from fognet.peer.node import Peer, PeerConfig
from fognet.placement.instance import Figures, LinkFigure, game_instance, worker_id
from fognet.placement.pricing import model_costs
from tests import graphs
from tests.graphs import save

LATENCY = 0.002
MB = 1_000_000


def _state() -> ClusterState:
    peers = [PeerState("car", 0.05), PeerState("w1", 1.0), PeerState("w2", 1.0)]
    links = {("car", "w1"): LinkState(2e7, LATENCY), ("car", "w2"): LinkState(1e7, LATENCY)}
    return ClusterState.of(peers, links)


def _transfer(peer: str, bandwidth: float, nbytes: int = MB) -> SubtaskTiming:
    """One whole stage on `peer` whose bytes crossed at `bandwidth`."""
    return SubtaskTiming(0, peer, 2 * LATENCY + nbytes / bandwidth, 0.0, 0.01, nbytes, 0, True, 0.01)


def _chain():
    graph = analyse(graphs.conv_chain_model())
    return model_costs(graph, [0.02] * len(graph))


def _plan(state: ClusterState):
    return PlannerPlacement(spatial=False).place(_chain(), state, "car", {})


def test_slow_transfers_lower_the_link_and_the_next_plan_leaves_it() -> None:
    cal = Calibration("car")
    before = cal.apply(_state())
    first = _plan(before)
    assert first.peers == {"w1"}  # the faster link
    for _ in range(4):
        # w1's link really dropped to 0.2 MB/s (the frame goes as uint8: 3 KB must cost)
        cal.observe([_transfer("w1", 2e5)])
    after = cal.apply(_state())
    assert after.link("car", "w1").bandwidth < 3e6
    assert "bandwidth car-w1" in str(state_change(before, after))
    second = _plan(after)
    assert second.peers == {"w2"}
    assert should_switch(reprice(_chain(), after, "car", first), second)


def test_one_slow_transfer_changes_neither_the_estimate_nor_the_plan() -> None:
    cal = Calibration("car")
    for _ in range(3):
        cal.observe([_transfer("w1", 2e7)])
    steady = cal.apply(_state())
    cal.observe([_transfer("w1", 1e6)])  # one spike: a GC pause, a retransmission
    spiked = cal.apply(_state())
    assert spiked.link("car", "w1") == steady.link("car", "w1")
    assert state_change(steady, spiked) is None
    assert _plan(spiked).peers == _plan(steady).peers == {"w1"}
    cal.observe([_transfer("w1", 2e7)])  # and the next normal one clears it
    assert cal.apply(_state()).link("car", "w1") == steady.link("car", "w1")


def test_speed_samples_and_slices_sent_behind_others_are_not_link_samples() -> None:
    cal = Calibration("car")
    cal.apply(_state())
    queued = SubtaskTiming(0, "w2", 1.0, 0.0, 0.005, MB, 0, False, 0.01)  # waited for the NIC
    cal.observe([queued])
    assert cal.link("w2") == LinkState(1e7, LATENCY)
    assert cal.speed("w2") == pytest.approx(2.0)  # 0.01 reference-s in 0.005 s
    assert cal.speed("w1") is None


def _wide_model():
    """x [1, 3, 64, 64] -> conv -> relu -> conv: ~49 kB in, enough for pacing to dominate."""
    from onnx import helper

    c1, i1 = graphs.conv("c1", "x", "a", 3, 4, seed=1)
    relu = helper.make_node("Relu", ["a"], ["b"], name="relu")
    c2, i2 = graphs.conv("c2", "b", "y", 4, 2, seed=2)
    return graphs.make([c1, relu, c2], i1 + i2, [graphs.fin("x", [1, 3, 64, 64])], [graphs.fin("y", [1, 2, 64, 64])])


async def test_a_bandwidth_drop_mid_stream_moves_new_frames_off_the_link(tmp_path) -> None:
    path, _ = save(_wide_model(), tmp_path / "wide.onnx")
    loaded = load_model(path)
    workers = [Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2)) for n in ("w1", "w2")]
    pacer = Pacer()
    pacer.set_link([workers[0].address], Link(2e6, LATENCY))
    pacer.set_link([workers[1].address], Link(1e6, LATENCY))
    identity = Identity(
        config=PeerConfig("car", speed=0.02, quota=0, cache_dir=tmp_path / "car"), pacer=pacer,
        links={("car", "w1"): LinkState(2e6, LATENCY), ("car", "w2"): LinkState(1e6, LATENCY)},
        default_link=LinkState(1e8, LATENCY),
    )
    options = SessionOptions(
        # heartbeats wait behind frames on the paced link: give them a beat longer than a frame
        via=(workers[0].address,), expect_workers=2, heartbeat_s=1.0, window=1, timeout_s=5.0,
        times=[0.01, 0.001, 0.01], warmup=3, replan_interval_s=0.0,
        encoding=Encoding("float32"),  # 49 kB frames: the pacing this test is built on
    )

    def on_result(result) -> None:
        if result.index == 2:  # w1's link drops to 1/8th: 0.2 s per frame instead of 25 ms
            pacer.set_link([workers[0].address], Link(2.5e5, LATENCY))

    images = iter(DrivingStream(12, size=(64, 64), seed=2))
    async with asyncio.timeout(60), contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w.running())
        await workers[1].membership.introduce(workers[0].address)
        report = await run_session(loaded, images, PlannerPlacement(spatial=False), options, identity, on_result)
    assert [r.index for r in report.results] == list(range(12)) and all(r.ok for r in report.results)
    assert report.plans[0].peers == {"w1"} and report.plans[-1].peers == {"w2"}
    assert any(r.switched for r in report.replans)
    assert report.results[-1].timings[0].peer == "w2"  # frames after the switch take the new plan


def _on_w2(cal: Calibration, frames: int) -> None:
    """`frames` frames that ran on w2 only (at its configured rate): w1 is not measured."""
    for _ in range(frames):
        cal.observe([_transfer("w2", 1e7)])


def test_a_link_the_plan_left_is_forgotten_after_forget_after_frames_and_the_plan_tries_it_again() -> None:
    cal = Calibration("car", forget_after=5)
    cal.apply(_state())
    for _ in range(2):
        cal.observe([_transfer("w1", 2e5)])  # w1 dropped: the plan moves to w2
    dropped = cal.apply(_state())
    assert dropped.link("car", "w1").bandwidth == pytest.approx(2e5)
    assert _plan(dropped).peers == {"w2"}
    _on_w2(cal, 4)
    assert cal.apply(_state()).link("car", "w1") == dropped.link("car", "w1")  # not stale yet
    _on_w2(cal, 1)
    forgotten = cal.apply(_state())
    assert forgotten.link("car", "w1") == LinkState(2e7, LATENCY)  # the configured figure again
    assert "bandwidth car-w1" in str(state_change(dropped, forgotten))
    assert _plan(forgotten).peers == {"w1"}
    # One frame that finds w1 still slow is believed outright (no estimate left to guard),
    # so exploring a still-bad link costs one frame in forget_after.
    cal.observe([_transfer("w1", 2e5)])
    assert cal.apply(_state()).link("car", "w1").bandwidth == pytest.approx(2e5)


def test_a_link_in_use_and_an_unmeasured_configured_one_are_never_reset() -> None:
    cal = Calibration("car", forget_after=3)
    cal.apply(_state())
    for _ in range(10):
        cal.observe([_transfer("w2", 5e6)])  # w2 really gives 5 MB/s, measured every frame
    state = cal.apply(_state())
    assert state.link("car", "w2").bandwidth == pytest.approx(5e6, rel=0.05)  # not reset to 1e7
    assert state.link("car", "w1") == LinkState(2e7, LATENCY)


def test_a_speed_no_frame_measured_for_forget_after_frames_gives_way_to_the_advertised_one() -> None:
    cal = Calibration("car", forget_after=3)
    cal.apply(_state())
    cal.observe([SubtaskTiming(0, "w1", 0.01, 0.0, 0.04, 0, 0, True, 0.01)])  # w1 ran at 0.25
    assert cal.apply(_state()).peers["w1"].speed == pytest.approx(0.25)
    _on_w2(cal, 2)
    assert cal.apply(_state()).peers["w1"].speed == pytest.approx(0.25)
    _on_w2(cal, 1)
    assert cal.speed("w1") is None
    assert cal.apply(_state()).peers["w1"].speed == 1.0  # what w1 advertises


def test_the_stream_rate_is_one_over_the_median_gap_between_frame_ends() -> None:
    assert stream_rate([]) is None and stream_rate([3.0]) is None and stream_rate([2.0, 2.0]) is None
    assert stream_rate([0.0, 0.1, 0.2, 1.5, 1.6, 1.7]) == pytest.approx(10.0)  # a 1.3 s re-plan is no gap
    assert stream_rate([5.0, 5.5]) == pytest.approx(2.0)


def _fog_takes_the_whole_frame(rate: float, service_s: float) -> bool:
    """Would a round let the fog server (speed 1, cap 0.9) run car's whole frame, of
    `service_s` reference-seconds, with car streaming at `rate`?"""
    figures = {"fog": Figures(quota=4, speed=1.0, cap=0.9),
               "car": Figures(rate=rate, links=(LinkFigure("fog", 1e8, 0.0),))}
    frame = Subtask(SubtaskId("car.r1.s0"), PeerId("car"), service_s, 1000, 10)
    return fits(game_instance(figures, [frame], sources=["car"]), worker_id("fog"), [frame])


def test_an_unpaced_stream_is_priced_so_the_plan_that_set_its_rate_stays_feasible() -> None:
    """Unpaced, frames end one fog service time apart (0.1 s): priced at that rate (10/s)
    the fog server would sit at rho = 1 and refuse the frame it is serving (issue 11)."""
    ends = [0.1 * k for k in range(8)]
    rate = source_rate([0.0] * 8, ends, paced=False)
    assert rate == pytest.approx(UNPACED_SHARE * 10.0)
    assert _fog_takes_the_whole_frame(rate, 0.1)
    assert not _fog_takes_the_whole_frame(stream_rate(ends), 0.1)  # the measured rate itself
    assert source_rate([0.0, 0.5, 1.0], ends, paced=False) == rate  # unpaced: its timestamps are ignored
    assert source_rate([], [1.0], paced=False) is None


def test_a_paced_stream_is_priced_at_the_rate_its_frames_arrive_not_at_what_its_plan_served() -> None:
    arrivals = [0.1 * k for k in range(8)]  # a 10 fps camera
    ends = [0.25 * k for k in range(8)]  # a plan that keeps up with 4 of them a second
    assert source_rate(arrivals, ends, paced=True) == pytest.approx(10.0)
    assert not _fog_takes_the_whole_frame(10.0, 0.1)  # so a round sees the overload and moves
    # before two frames arrived (warm-up's copies of one frame): what the plan delivered
    assert source_rate([3.0, 3.0], ends, paced=True) == pytest.approx(UNPACED_SHARE * 4.0)
