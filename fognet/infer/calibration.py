"""The source's calibrated view of the cluster: speeds and its own links, from its frames.

Planning starts from what the cluster file (or a profile) says; what runs really take
then corrects it (DESIGN.md, "re-plans when measured state moves"). Every frame that ran
feeds its subtask timings in:

- **speed** of each peer that ran a subtask: `work_s / compute_s` (the reference work
  the source predicted for it over the compute the peer reported), the same sample the
  peer takes itself and advertises in STATE; the source's own samples are at hand at
  once, before the next heartbeat.
- **links** source <-> peer: a transfer of `in + out` bytes took `transfer_s` (round trip
  minus the peer's wait and compute), i.e. `2 * latency + bytes / bandwidth`. A transfer
  whose bytes dominate yields a bandwidth sample (latency taken out), one whose latency
  dominates a latency sample (byte time taken out). Only subtasks sent first in their
  stage count: a later slice also waited for the NIC to send the ones before it.

Each figure is a `calibrate.Estimate` (robust EWMA: one outlier is ignored until a second
confirms it), seeded with the configured value as one sample. Pure: no clock, no I/O.

A figure only frames measure goes stale once the plan stops using it: a link the source
left because it dropped is never measured again, so without more the source would never
see it recover (PArtNNer's setting in `fognet experiment driving`: fognet stayed on the
car after a tunnel, 0.54x of cloud-only). So a link, or a peer's speed, that no frame has
measured for `forget_after` frames is forgotten: the link returns to its configured
figure (whose plan, if better, the next re-plan takes, and whose frames then measure the
link again), the speed to the one the peer advertises. Counting frames, not seconds,
bounds what exploring costs when the link is still bad: one frame in `forget_after`.

API
    Calibration(source, forget_after=DEFAULT_FORGET_AFTER)
        .observe(timings)                            SubtaskTimings of one frame
        .apply(state) -> ClusterState                the state with calibrated speeds and links
        .speed(peer) -> float | None; .link(peer) -> LinkState | None
        .samples -> int                              timings taken in so far
    stream_rate(times) -> float | None               frames/s: one over the median gap of `times`
    source_rate(arrivals, ends, paced) -> float | None   the rate a round prices the source at

A peer's backlog is not calibrated here: STATE says which part of it is this source's own
work, and the one rule that takes it out is `placement.instance.backlog_without`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import replace

from fognet.infer.requester import SubtaskTiming
from fognet.partition.calibrate import Estimate, bandwidth_sample, speed_sample
from fognet.partition.cost import ClusterState, LinkState

MIN_COMPUTE_S = 1e-4  # shorter runs say more about timer noise than about speed
DEFAULT_FORGET_AFTER = 20  # frames without a sample before a figure is forgotten (module doc)
# An unpaced stream is priced at this share of the rate its plan delivered (`source_rate`):
# below the default utilisation cap (0.9), so the placement that delivered it stays feasible.
UNPACED_SHARE = 0.8


class Calibration:
    def __init__(self, source: str, forget_after: int = DEFAULT_FORGET_AFTER) -> None:
        self.source = source
        self.forget_after = forget_after
        self.samples = 0
        self.frames = 0  # observe() calls: the clock staleness is counted on
        self._last: dict[tuple[str, str], int] = {}  # ("link" | "speed", peer) -> frame of its last sample
        self._speeds: dict[str, Estimate] = {}
        self._bandwidth: dict[str, Estimate] = {}
        self._latency: dict[str, Estimate] = {}
        self._seeds: dict[str, LinkState] = {}

    def seed(self, state: ClusterState) -> None:
        """Start each link's estimates from the state's figure (counted as one sample)."""
        for peer in state.peers:
            link = state.link(self.source, peer)
            if peer == self.source or link is None or peer in self._seeds:
                continue
            self._seeds[peer] = link
            self._reset_link(peer, samples=1)

    def _reset_link(self, peer: str, samples: int) -> None:
        """The configured figure, counted as `samples` (0 once forgotten: the next
        measurement is taken outright, there being no estimate left to guard)."""
        link = self._seeds[peer]
        self._bandwidth[peer] = Estimate(link.bandwidth, samples=samples)
        self._latency[peer] = Estimate(link.latency, samples=samples)
        self._last[("link", peer)] = self.frames

    def observe(self, timings: Iterable[SubtaskTiming]) -> None:
        """One frame's subtasks. A peer's speed sample is its total work over its total
        compute in the frame: per subtask, the reference times' error differs from stage to
        stage (a FLOP estimate errs more on some layers), and alternating samples from a
        small and a big stage would keep the estimate from settling."""
        self.frames += 1
        work: dict[str, float] = {}
        compute: dict[str, float] = {}
        for t in timings:
            self.samples += 1
            if t.peer == self.source:
                continue
            if t.work_s > 0:
                work[t.peer] = work.get(t.peer, 0.0) + t.work_s
                compute[t.peer] = compute.get(t.peer, 0.0) + t.compute_s
            if t.alone and t.peer in self._bandwidth:
                self._observe_link(t)
        for peer, w in work.items():
            if compute[peer] > MIN_COMPUTE_S:
                est = self._speeds.get(peer, Estimate(0.0))
                self._speeds[peer] = est.update(speed_sample(w, compute[peer]))
                self._last[("speed", peer)] = self.frames
        self._forget()

    def _forget(self) -> None:
        """Figures no frame measured for `forget_after` frames (module doc)."""
        for (kind, peer), last in list(self._last.items()):
            if self.frames - last < self.forget_after:
                continue
            if kind == "speed":
                del self._speeds[peer], self._last[(kind, peer)]
            elif self.link(peer) != self._seeds[peer]:
                self._reset_link(peer, samples=0)

    def _observe_link(self, t: SubtaskTiming) -> None:
        bw, lat = self._bandwidth[t.peer], self._latency[t.peer]
        self._last[("link", t.peer)] = self.frames
        nbytes = t.in_bytes + t.out_bytes
        byte_time = nbytes / bw.value
        if byte_time >= 2 * lat.value:
            self._bandwidth[t.peer] = bw.update(bandwidth_sample(nbytes, t.transfer_s, 2 * lat.value))
        else:
            self._latency[t.peer] = lat.update(max(0.0, t.transfer_s - byte_time) / 2)

    def speed(self, peer: str) -> float | None:
        est = self._speeds.get(peer)
        return est.value if est is not None and est.samples else None

    def link(self, peer: str) -> LinkState | None:
        if peer not in self._seeds:
            return None
        return LinkState(self._bandwidth[peer].value, self._latency[peer].value)

    def apply(self, state: ClusterState) -> ClusterState:
        """`state` with the speeds and source links this source has measured."""
        self.seed(state)
        peers = {}
        for pid, p in state.peers.items():
            speed = self.speed(pid)
            peers[pid] = replace(p, speed=speed) if speed else p
        links = dict(state.links)
        for pid in state.peers:
            link = self.link(pid)
            if link is not None and link != state.link(self.source, pid):
                links[(min(self.source, pid), max(self.source, pid))] = link
        return ClusterState(peers, links, state.default_link)


def stream_rate(times: Sequence[float]) -> float | None:
    """Frames/s from the times (s, one clock) of a stream's last frames: one over their
    median gap (the median: a re-plan's pause is no frame gap); None from fewer than two,
    or when most gaps are 0 (copies of one frame, as warm-up sends)."""
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    if not gaps or gaps[len(gaps) // 2] <= 0:
        return None
    return 1.0 / gaps[len(gaps) // 2]


def source_rate(arrivals: Sequence[float], ends: Sequence[float], paced: bool) -> float | None:
    """The frames/s a round prices this source's stream at: the rate it OFFERS, never the
    rate its current plan happens to serve, which a round would turn against that plan.

    Paced (a camera), the offer is the frames' own rate, from the stream times of the
    frames as they arrive (`arrivals`; skipped and late frames count: they were offered).
    Unpaced (a benchmark, `fognet infer` without --fps), a frame is sent as soon as the
    window frees, so the gap between frame ends IS the current plan's bottleneck service
    time (its latency with a window of 1): priced at that rate the bottleneck site sits at
    rho ~ 1 >= its cap, the round refuses the very placement that made the rate, the next
    rate is another plan's, and placements flip round to round (issue 11). Such a stream
    offers no rate of its own (it takes whatever frees), so it is priced at UNPACED_SHARE
    of what its plan delivered (`ends`): below the cap, so that placement stays feasible,
    yet at the stream's real order of magnitude (~10 frames/s, not the 1 a round assumed:
    three cars on one laptop then looked like 9% of it when they needed all of it). Not
    the window over the latency: the latency is the plan's too (the same feedback), and a
    window of 4 over a one-stage plan would price 4x what any site serves. Not the frames'
    timestamps: an unpaced run ignores them (a benchmark streams a 10 fps drive at 40).
    None until two frames tell."""
    if paced and (offered := stream_rate(arrivals)) is not None:
        return offered
    delivered = stream_rate(ends)
    return None if delivered is None else UNPACED_SHARE * delivered
