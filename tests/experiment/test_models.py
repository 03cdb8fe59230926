"""PArtNNer's replay and Feltin's region on a real zoo model (ResNet-34's costs)."""

from __future__ import annotations

import pytest

from fognet.experiment.config import PartnnerConfig, Segment
from fognet.experiment.partnner import convergence, gains, replay
from fognet.experiment.region import acceleration_map
from fognet.sim.experiment import ModelCache
from fognet.sim.scenario import ModelSpec


@pytest.fixture(scope="module")
def resnet34():
    return ModelCache().get(ModelSpec("resnet34", "resnet34"))


def test_region_needs_a_fast_link(resnet34):
    cells = {(c.bandwidth, c.ratio): c for c in acceleration_map(resnet34, "resnet34", [1e5, 1e9], [1.0], 0.002)}
    slow, fast = cells[(1e5, 1.0)], cells[(1e9, 1.0)]
    assert slow.speedup == pytest.approx(1.0) and not slow.both  # shipping tensors costs more than it saves
    assert fast.both and fast.speedup > 1.05  # two equal devices on a fast link split the work
    assert fast.split_s < fast.single_s


def test_replay_follows_a_link_that_drops(resnet34):
    cfg = PartnnerConfig(model="resnet34", fps=5, car_speed=0.25, cloud_speed=8.0, latency=0.03,
                         segments=(Segment(2, 2.5e7, 0.0), Segment(4, 1.0e6, 0.0)))
    steps, conv = replay(resnet34, cfg)
    assert len(steps) == 30 and [s.segment for s in steps].count(1) == 20
    assert steps[0].fognet_s == pytest.approx(steps[0].oracle_s)  # planned on the true first state
    assert conv[0].frames is not None and conv[0].frames <= 3  # the offloaded frames measured the drop
    assert steps[-1].fognet_s <= steps[-1].oracle_s * 1.05
    assert gains(steps)["over_cloud"] > 1.0  # cloud-only keeps shipping frames over the slow link


def test_probing_sees_a_link_that_recovers(resnet34):
    segments = (Segment(2, 1.0e6, 0.0), Segment(4, 2.5e7, 0.0))
    base = PartnnerConfig(model="resnet34", fps=5, car_speed=0.25, cloud_speed=8.0, latency=0.03, segments=segments)
    probing = PartnnerConfig(**{**base.__dict__, "probe_s": 1.0})
    steps, _ = replay(resnet34, probing)
    assert steps[-1].fognet_s <= steps[-1].oracle_s * 1.05
    assert convergence(steps, probing.fps)[0].frames is not None
