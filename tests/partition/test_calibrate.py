from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fognet.partition.calibrate import Estimate, bandwidth_sample, speed_sample


def test_a_single_spike_is_ignored_and_a_real_change_is_followed() -> None:
    est = Estimate(0.0)
    for _ in range(5):
        est = est.update(10.0)
    spiked = est.update(100.0)
    assert spiked.value == est.value and spiked.pending == 100.0
    recovered = spiked.update(10.0)
    assert recovered.value == 10.0 and recovered.pending is None
    dropped = est
    for _ in range(6):
        dropped = dropped.update(2.0)
    assert dropped.value < 4.0


@given(st.lists(st.floats(0.5, 2.0), min_size=1, max_size=30))
def test_the_estimate_stays_within_the_samples_range(samples) -> None:
    est = Estimate(0.0)
    for s in samples:
        est = est.update(s)
    assert min(samples) - 1e-9 <= est.value <= max(samples) + 1e-9


def test_samples_from_measurements() -> None:
    assert speed_sample(0.02, 0.04) == 0.5
    assert bandwidth_sample(1_000_000, 0.102, 0.002) == 1e7
    assert bandwidth_sample(100, 0.001, 0.002) == 0.0
