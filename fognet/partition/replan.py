"""When to re-plan, and when to switch: thresholds on state, hysteresis on plans.

A source re-plans when a peer joins or leaves, or when a speed, backlog, bandwidth or
link latency it planned with has moved by more than `threshold` (relative; latencies and
backlogs under 10 ms count as 10 ms, so a LAN's jitter is no move). Latency counts
because calibration puts a slow transfer of few bytes down to latency (`infer.calibration`):
a link that dropped under small frames shows there, not in its bandwidth. It then switches only if
the new plan is predicted better than the current one (re-priced under the new state)
by more than `margin`, so that noise does not make plans flap. Frames in flight finish
on the plan they started with; only new frames take the new plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fognet.partition.cost import ClusterState
from fognet.partition.stages import Plan, Stage

KNOWN_PLANS = 4  # earlier plans a re-price weighs beside the current one
DEFAULT_THRESHOLD = 0.2
DEFAULT_MARGIN = 0.05
BACKLOG_FLOOR_S = 0.010  # backlogs below this many reference-seconds count as "idle"
LATENCY_FLOOR_S = 0.010  # latencies below this count as this (jitter on a LAN is no move)


@dataclass(frozen=True)
class Change:
    reason: str

    def __str__(self) -> str:
        return self.reason


def _moved(old: float, new: float, threshold: float, floor: float = 0.0) -> bool:
    base = max(abs(old), floor)
    if base == 0:
        return new != old
    return abs(new - old) / base > threshold


def state_change(old: ClusterState, new: ClusterState, threshold: float = DEFAULT_THRESHOLD) -> Change | None:
    """The first reason to re-plan between two states, or None."""
    joined = sorted(set(new.peers) - set(old.peers))
    left = sorted(set(old.peers) - set(new.peers))
    if joined:
        return Change(f"peer {joined[0]} joined")
    if left:
        return Change(f"peer {left[0]} left")
    for pid in sorted(new.peers):
        a, b = old.peers[pid], new.peers[pid]
        if _moved(a.speed, b.speed, threshold):
            return Change(f"speed of {pid} moved {a.speed:.3g} -> {b.speed:.3g}")
        if _moved(a.backlog, b.backlog, threshold, BACKLOG_FLOOR_S):
            return Change(f"backlog of {pid} moved {a.backlog:.3g} -> {b.backlog:.3g} s")
    ids = sorted(new.peers)
    for x, pa in enumerate(ids):
        for pb in ids[x + 1 :]:
            la, lb = old.link(pa, pb), new.link(pa, pb)
            if (la is None) != (lb is None):
                return Change(f"link {pa}-{pb} {'appeared' if lb else 'vanished'}")
            if la is not None and _moved(la.bandwidth, lb.bandwidth, threshold):
                return Change(f"bandwidth {pa}-{pb} moved {la.bandwidth:.3g} -> {lb.bandwidth:.3g} B/s")
            if la is not None and _moved(la.latency, lb.latency, threshold, LATENCY_FLOOR_S):
                return Change(f"latency {pa}-{pb} moved {la.latency * 1e3:.3g} -> {lb.latency * 1e3:.3g} ms")
    return None


def should_switch(current: Plan, candidate: Plan, margin: float = DEFAULT_MARGIN) -> bool:
    """Both plans priced under the same (new) state; switch only for a clear gain."""
    return candidate.predicted_s < current.predicted_s * (1.0 - margin)


def known_plans(history: Sequence[Plan], current: Plan, alone: bool) -> list[Plan]:
    """Plans a source may go back to between DP runs without planning: the last few
    distinct ones before `current` (by stages), newest first, then (if `alone`) the whole
    model on the source, which a device can always fall back on."""
    own = Plan(current.model_sha256, current.source, (Stage(0, current.stages[-1].stop, (current.source,)),),
               input_shapes=current.input_shapes)
    seen, out = {current.placement()}, []
    for plan in reversed(history[-4 * KNOWN_PLANS:]):
        if plan.placement() not in seen and len(out) < KNOWN_PLANS:
            seen.add(plan.placement())
            out.append(plan)
    return [*out, own] if alone and own.placement() not in seen else out
