"""The run summary's prediction figures, on hand-made records."""

from __future__ import annotations

import pytest

from fognet.sim.records import FrameRecord, error_of_mean, prediction_bias


def _frame(source: str, rnd: int, latency: float, predicted: float) -> FrameRecord:
    return FrameRecord("fognet", source, "m", rnd, 0, 0.0, latency, latency, 0.0, 0.0, latency, 1, "", "", predicted,
                       None, None)


def test_error_of_the_mean_counts_the_model_not_the_scatter() -> None:
    """Frames of 10 and 30 ms around a 20 ms prediction: every frame is off, the mean is
    not. A second stream predicted 40 ms and simulated at 50 ms is 20% off, for its one
    frame of three."""
    records = [_frame("a", 0, 0.010, 0.020), _frame("a", 0, 0.030, 0.020), _frame("b", 0, 0.050, 0.040)]
    assert error_of_mean(records) == pytest.approx((2 * 0.0 + 1 * 0.2) / 3)


def test_error_of_the_mean_is_per_round() -> None:
    """One source over two rounds, 10 ms then 30 ms against 20 ms: each round's mean is off."""
    records = [_frame("a", 0, 0.010, 0.020), _frame("a", 1, 0.030, 0.020)]
    assert error_of_mean(records) == pytest.approx((1.0 + 1 / 3) / 2)


def test_error_per_source_pools_the_rounds() -> None:
    """The same frames as above, pooled over the run: the 20 ms mean is exact; a second
    source 50 ms simulated against 40 ms predicted is 20% off for its one frame of three."""
    records = [_frame("a", 0, 0.010, 0.020), _frame("a", 1, 0.030, 0.020), _frame("b", 1, 0.050, 0.040)]
    assert error_of_mean(records, per_round=False) == pytest.approx((2 * 0.0 + 1 * 0.2) / 3)
    assert error_of_mean(records) == pytest.approx((1.0 + 1 / 3 + 0.2) / 3)


def test_bias_is_the_mean_prediction_over_the_mean_simulation() -> None:
    """60 ms predicted in all against 50 simulated: the model over-prices by 20%."""
    records = [_frame("a", 0, 0.010, 0.020), _frame("b", 0, 0.040, 0.040)]
    assert prediction_bias(records) == pytest.approx(0.2)
