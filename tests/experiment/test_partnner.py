"""PArtNNer's replay: time-varying links priced honestly, and the live source's rule
re-converging after every change (it used to stay on the car once it left the cloud)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fognet.experiment.config import PartnnerConfig, Segment, load_config
from fognet.experiment.driving import _costs
from fognet.experiment.partnner import CAR, CLOUD, Trace, convergence, replay, run_frame
from fognet.experiment.region import planner_for
from fognet.infer.calibration import DEFAULT_FORGET_AFTER
from fognet.partition.stages import Plan, Stage


@pytest.fixture(scope="module")
def resnet34():
    return _costs("resnet34")


def _cfg(*segments: tuple[float, float, float], **kw) -> PartnnerConfig:
    return PartnnerConfig(segments=tuple(Segment(s, bw, load) for s, bw, load in segments), **kw)


def test_a_transfer_straddling_a_change_pays_the_new_rate_from_the_change_on() -> None:
    trace = Trace(_cfg((1.0, 1e6, 0.0), (2.0, 1e5, 0.0), (1.0, 1e7, 0.0), latency=0.03))
    assert trace.send(0.0, 5e5) == pytest.approx(0.5 + 0.03)  # all inside the first segment
    # 1e6 B in the first second, then 1.5e5 B at 1e5 B/s: 1.5 s more
    assert trace.send(0.0, 1.15e6) == pytest.approx(2.5 + 0.03)
    # from 2.5 s: 0.5 s at 1e5 (5e4 B), then the rest at 1e7 in the third segment, and beyond it
    assert trace.send(2.5, 5e4 + 2e7) == pytest.approx(0.5 + 2.0 + 0.03)
    assert [trace.segment(t) for t in (0.0, 0.99, 1.0, 2.9, 3.0, 99.0)] == [0, 0, 1, 1, 2, 2]


def test_a_frame_under_one_segment_costs_what_the_planner_prices(resnet34) -> None:
    cfg = _cfg((5.0, 1e6, 0.5))
    trace = Trace(cfg)
    truth = planner_for(resnet34, trace.state(0.0), CAR)
    n = len(resnet34.graph)
    plans = [truth.all_local(), truth.plan(), Plan("", CAR, (Stage(0, n, (CLOUD,)),)),
             Plan("", CAR, (Stage(0, 40, (CAR,)), Stage(40, n, (CLOUD,))))]
    for plan in plans:
        seconds, timings = run_frame(resnet34, plan, trace, 1.0)
        assert seconds == pytest.approx(truth.price(plan).predicted_s, rel=1e-9)
        assert len(timings) == sum(CLOUD in s.peers for s in plan.stages)
    _, (cloud,) = run_frame(resnet34, plans[2], trace, 1.0)
    assert cloud.wait_s == pytest.approx(0.5 / cfg.cloud_speed)  # the load it met
    assert cloud.in_bytes == resnet34.bytes.inputs[0, n] and cloud.transfer_s > 2 * cfg.latency


def test_the_live_rule_re_converges_after_every_change_of_the_shipped_setting(resnet34) -> None:
    cfg = load_config("experiments/driving.toml").partnner
    steps, conv = replay(resnet34, cfg)
    assert len(conv) == len(cfg.segments) - 1
    assert all(c.frames is not None for c in conv), conv
    for c in conv:
        # Once converged, the rest of the segment is as good as the better single site but
        # for the frames that try a forgotten link again (one in forget_after at most).
        rest = [s for s in steps if s.segment == c.segment][c.frames:]
        worse = [s.frame for s in rest if s.fognet_s > 1.06 * min(s.edge_s, s.cloud_s)]
        assert len(worse) <= len(rest) // DEFAULT_FORGET_AFTER + 1, (c, worse)
    edge, cloud, fognet = (sum(getattr(s, k) for s in steps) for k in ("edge_s", "cloud_s", "fognet_s"))
    assert fognet < min(edge, cloud)


def test_without_forgetting_a_link_it_left_the_car_never_sees_it_recover(resnet34) -> None:
    """The rule before `Calibration.forget_after`: after the tunnel the link is never
    measured again, and the car runs alone while the cloud would be 7x faster."""
    cfg = _cfg((4.0, 2.5e7, 0.0), (4.0, 1.25e5, 0.0), (4.0, 2.5e7, 0.0))
    _, never = replay(resnet34, cfg, forget_after=10**9)
    steps, forgets = replay(resnet34, cfg, forget_after=5)
    assert never[1].frames is None and forgets[1].frames is not None
    assert forgets[1].fognet_s < never[1].fognet_s / 2
    assert {s.plan for s in steps if s.segment == 2 and s.frame >= 40 + forgets[1].frames} == {f"0-{len(resnet34.graph)}@cloud"}


def test_probes_only_add_link_samples_and_change_nothing_on_a_steady_link(resnet34) -> None:
    cfg = _cfg((3.0, 2.5e7, 0.0))
    plain, _ = replay(resnet34, cfg)
    probed, _ = replay(resnet34, replace(cfg, probe_s=0.4))
    assert [s.fognet_s for s in plain] == [s.fognet_s for s in probed]


def test_convergence_counts_frames_until_fognet_is_within_the_margin() -> None:
    from fognet.experiment.partnner import Step

    def step(frame, seg, fognet):
        return Step(frame, frame / 5, seg, 1e6, 0.0, 1.0, 2.0, fognet, 0.5, "")

    steps = [step(0, 0, 0.5), step(1, 1, 1.0), step(2, 1, 0.9), step(3, 1, 0.52), step(4, 2, 1.0)]
    first, second = convergence(steps, fps=5)
    assert (first.segment, first.frames, first.seconds) == (1, 2, pytest.approx(0.4))
    assert first.fognet_s == pytest.approx((1.0 + 0.9 + 0.52) / 3) and first.best_single_s == 1.0
    assert (second.frames, second.seconds) == (None, None)
