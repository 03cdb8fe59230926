"""Online calibration: re-estimate a peer's speed or a link's bandwidth from what runs take.

An exponentially weighted mean, made robust to one outlier: a sample that moves the
estimate by more than `outlier_ratio` is held back, and only applied when the next
sample confirms the move (lies on the same side, beyond the same ratio); the estimate
then jumps to the two samples' mean. A single spike (one slow frame, one GC pause) is
therefore ignored, while a real change (a link that really dropped) shows in full after
two samples. Pure: the caller feeds samples in order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_ALPHA = 0.3
DEFAULT_OUTLIER_RATIO = 2.0


@dataclass(frozen=True)
class Estimate:
    value: float
    samples: int = 0
    pending: float | None = None  # an outlier waiting for confirmation
    alpha: float = DEFAULT_ALPHA
    outlier_ratio: float = DEFAULT_OUTLIER_RATIO

    def update(self, sample: float) -> Estimate:
        if not sample > 0:
            return self
        if self.samples == 0:
            return replace(self, value=sample, samples=1, pending=None)
        if not self._is_outlier(sample):
            return replace(self, value=self._blend(self.value, sample), samples=self.samples + 1, pending=None)
        if self.pending is not None and (self.pending > self.value) == (sample > self.value):
            # Confirmed: the level itself moved (a link that dropped), so jump to it
            # rather than creep there at `alpha` per sample.
            return replace(self, value=(self.pending + sample) / 2, samples=self.samples + 2, pending=None)
        return replace(self, pending=sample)

    def _is_outlier(self, sample: float) -> bool:
        ratio = sample / self.value
        return ratio > self.outlier_ratio or ratio < 1.0 / self.outlier_ratio

    def _blend(self, old: float, sample: float) -> float:
        return (1.0 - self.alpha) * old + self.alpha * sample


def speed_sample(work_s: float, measured_s: float) -> float:
    """Reference-seconds done per second, from one run of `work_s` that took `measured_s`."""
    return work_s / measured_s if measured_s > 0 else 0.0


def bandwidth_sample(nbytes: float, transfer_s: float, latency_s: float) -> float:
    """Bytes per second of one transfer, with the link's latency taken out."""
    moving = transfer_s - latency_s
    return nbytes / moving if moving > 0 and nbytes > 0 else 0.0
