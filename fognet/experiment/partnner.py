"""PArtNNer's setting: one car and a far cloud, bandwidth and cloud load changing over time.

The simulator holds links fixed for a run, so this is a frame-by-frame replay on the
cost model (DESIGN.md's formulas, via DINA-P's planner) run by the live source's own
parts, not copies of them:

- the car's view of its link and of the cloud's speed is a `infer.calibration.Calibration`
  fed, frame by frame, the `SubtaskTiming`s the live requester would report: an edge-only
  frame measures nothing, and a figure no frame measured for `forget_after` frames goes
  back to its configured value (which is how the live source finds a link it left again),
  unless `probe_s` > 0 (a probe of one frame's cloud-only transfer every `probe_s` seconds,
  which the live source does not send);
- the cloud's load reaches the car with its last heartbeat (every `SessionOptions.heartbeat_s`,
  half a period out of phase with the segments, so a change is heard half a beat late);
- what the car does about a moved state is `infer.replanning`'s rule (`next_step`,
  `choose`, and `replan.known_plans` as `PlannerPlacement` revisits them) with the live defaults: a DP re-plan at most every
  `replan_interval_s`, re-pricing (and going back to a known plan) in between. The DP's own
  run time is not modelled: the frame after the decision takes the new plan.

Time varies inside a frame too (`Trace`): each stage starts when the one before ended, a
transfer's bytes go at the rate of the moment they cross (one that straddles a change pays
the new rate from the change on) and the cloud's wait is its load when the input arrives.
Frames are priced one at a time, not queued behind each other (PArtNNer's figures are per
inference; at 5 fps an edge-only ResNet-34 on the car would fall behind).

Every frame is priced so: edge-only (all on the car), cloud-only (everything shipped),
fognet (the plan the car holds) and the oracle (the planner's plan under the true state at
the frame's start). After each change, re-convergence is how many frames until fognet is
within the switching margin of the oracle.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, replace

from fognet.experiment.config import PartnnerConfig
from fognet.experiment.region import planner_for
from fognet.infer.calibration import DEFAULT_FORGET_AFTER, Calibration
from fognet.infer.replanning import choose, next_step
from fognet.infer.requester import SubtaskTiming
from fognet.infer.session import SessionOptions
from fognet.partition.cost import ClusterState, LinkState, PeerState, subtask_latency
from fognet.partition.replan import DEFAULT_MARGIN, known_plans
from fognet.partition.stages import Plan, Stage
from fognet.placement.pricing import ModelCosts
from fognet.placement.subtasks import stage_pieces

CAR, CLOUD = "car", "cloud"
LIVE = SessionOptions()  # the live source's re-planning figures


@dataclass(frozen=True)
class Step:
    frame: int
    time_s: float
    segment: int
    bandwidth: float
    load: float
    edge_s: float
    cloud_s: float
    fognet_s: float
    oracle_s: float
    plan: str  # "start-stop@peer|..." of the plan fognet ran


@dataclass(frozen=True)
class Convergence:
    segment: int
    frames: int | None  # None: not within the margin before the next change
    seconds: float | None
    fognet_s: float = 0.0  # the segment's mean latencies
    best_single_s: float = 0.0  # the better of edge-only and cloud-only


class Trace:
    """The segments as functions of time: bandwidth, load, and how long bytes take."""

    def __init__(self, cfg: PartnnerConfig) -> None:
        self.cfg = cfg
        self.starts = list(itertools.accumulate((s.seconds for s in cfg.segments[:-1]), initial=0.0))

    def segment(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.starts, t) - 1)

    def state(self, t: float) -> ClusterState:
        seg = self.cfg.segments[self.segment(t)]
        return _state(self.cfg, seg.bandwidth, seg.load)

    def send(self, t: float, nbytes: float) -> float:
        """Seconds for `nbytes` sent at `t` to arrive: the link's latency, plus the bytes at
        each segment's rate while it lasts (the last one lasts for ever)."""
        k, now, left = self.segment(t), t, float(nbytes)
        while left > 0:
            rate = self.cfg.segments[k].bandwidth
            end = self.starts[k + 1] if k + 1 < len(self.starts) else math.inf
            if now + left / rate <= end:
                now += left / rate
                break
            left -= (end - now) * rate
            now, k = end, k + 1
        return now - t + self.cfg.latency


def _state(cfg: PartnnerConfig, bandwidth: float, load: float) -> ClusterState:
    return ClusterState.of(
        [PeerState(CAR, cfg.car_speed), PeerState(CLOUD, cfg.cloud_speed, backlog=load)],
        {(CAR, CLOUD): LinkState(bandwidth, cfg.latency)},
    )


def _label(plan: Plan) -> str:
    return "|".join(f"{s.start}-{s.stop}@{'+'.join(s.peers)}" for s in plan.stages)


def run_frame(costs: ModelCosts, plan: Plan, trace: Trace, t: float) -> tuple[float, list[SubtaskTiming]]:
    """One frame of `plan` started at `t` through the trace: its latency and the timings the
    requester would report. Under a trace of one segment it is the planner's `price`."""
    now = t
    timings = []
    for k, stage in enumerate(plan.stages):
        ends = []
        for piece in stage_pieces(costs, stage):
            peer, w, in_b, out_b = piece.peer, piece.work, piece.in_bytes, piece.out_bytes
            sent = trace.send(now, in_b) if peer != CAR else 0.0
            at = trace.state(now + sent)  # the peer's load when the input arrives
            part = subtask_latency(at, CAR, peer, w, 0.0, 0.0)
            back = trace.send(now + sent + part.wait + part.compute, out_b) if peer != CAR else 0.0
            ends.append(now + sent + part.wait + part.compute + back)
            if peer != CAR:
                timings.append(SubtaskTiming(k, peer, sent + back, part.wait, part.compute, round(in_b),
                                             round(out_b), True, w))
        now = max(ends)
    return now - t, timings


def replay(costs: ModelCosts, cfg: PartnnerConfig, forget_after: int | None = None) -> tuple[list[Step], list[Convergence]]:
    """Every frame of the segments in turn; the car starts configured with the first
    segment's figures (module doc)."""
    trace = Trace(cfg)
    cloud_only = Plan("", CAR, (Stage(0, len(costs.graph), (CLOUD,)),))
    truths = [planner_for(costs, _state(cfg, s.bandwidth, s.load), CAR) for s in cfg.segments]
    references = [(t.all_local(), t.plan()) for t in truths]
    first = cfg.segments[0]
    cal = Calibration(CAR) if forget_after is None else Calibration(CAR, forget_after)
    state = cal.apply(_state(cfg, first.bandwidth, first.load))
    current = planner_for(costs, state, CAR).plan()
    history, planned, priced, planned_at = [current], state, state, 0.0
    steps: list[Step] = []
    total = sum(max(1, round(s.seconds * cfg.fps)) for s in cfg.segments)
    for frame in range(total):
        t = frame / cfg.fps
        beat = LIVE.heartbeat_s
        heartbeat = max(0.0, beat * (math.floor(t / beat - 0.5) + 0.5))
        state = cal.apply(_state(cfg, first.bandwidth, cfg.segments[trace.segment(heartbeat)].load))
        step = next_step(planned, priced, state, t - planned_at, cfg.threshold, LIVE.replan_interval_s)
        if step is not None:
            planner = planner_for(costs, state, CAR)
            if step[0] == "replan":
                candidates = [planner.plan()]
                planned, planned_at = state, t
            else:
                candidates = [planner.price(p) for p in known_plans(history[:-1], current, alone=True)]
            taken = choose(planner.price(current), candidates, LIVE.replan_margin) if candidates else current
            if _label(taken) != _label(current):
                history.append(taken)
            current, priced = taken, state
        fognet_s, timings = run_frame(costs, current, trace, t)
        if not timings and _probe_due(frame, cfg):
            timings = [replace(run_frame(costs, cloud_only, trace, t)[1][0], compute_s=0.0, wait_s=0.0, work_s=0.0)]
        cal.observe(timings)
        k = trace.segment(t)
        seg = cfg.segments[k]
        edge, oracle = (run_frame(costs, p, trace, t)[0] for p in references[k])
        steps.append(Step(frame, t, k, seg.bandwidth, seg.load, edge, run_frame(costs, cloud_only, trace, t)[0],
                          fognet_s, oracle, _label(current)))
    return steps, convergence(steps, cfg.fps)


def rules(cfg: PartnnerConfig) -> dict[str, float]:
    """The live rule's figures the replay ran with (the report states them)."""
    return {"threshold": cfg.threshold, "margin": LIVE.replan_margin, "interval_s": LIVE.replan_interval_s,
            "heartbeat_s": LIVE.heartbeat_s, "forget_after": DEFAULT_FORGET_AFTER}


def _probe_due(frame: int, cfg: PartnnerConfig) -> bool:
    every = round(cfg.probe_s * cfg.fps)
    return cfg.probe_s > 0 and frame % max(1, every) == 0


def convergence(steps: list[Step], fps: float, margin: float = DEFAULT_MARGIN) -> list[Convergence]:
    """Per segment after the first: frames from its start until fognet is within `margin`
    of the oracle, and the segment's mean latency beside the better single-site one."""
    out = []
    for k in sorted({s.segment for s in steps})[1:]:
        mine = [s for s in steps if s.segment == k]
        hit = next((i for i, s in enumerate(mine) if s.fognet_s <= s.oracle_s * (1 + margin)), None)
        mean = {key: sum(getattr(s, key) for s in mine) / len(mine) for key in ("fognet_s", "edge_s", "cloud_s")}
        out.append(Convergence(k, hit, None if hit is None else hit / fps, mean["fognet_s"],
                               min(mean["edge_s"], mean["cloud_s"])))
    return out


def gains(steps: list[Step]) -> dict[str, float]:
    """Mean latency of edge-only and cloud-only over fognet's, over every frame."""
    mean = {key: sum(getattr(s, key) for s in steps) / len(steps) for key in ("edge_s", "cloud_s", "fognet_s", "oracle_s")}
    return {
        "over_edge": mean["edge_s"] / mean["fognet_s"],
        "over_cloud": mean["cloud_s"] / mean["fognet_s"],
        "oracle_over_fognet": mean["oracle_s"] / mean["fognet_s"],
        **{f"mean_{k}": v for k, v in mean.items()},
    }
