"""PArtNNer's setting: one car and a far cloud, bandwidth and cloud load changing over time.

The simulator holds links fixed for a run, so this is a frame-by-frame replay on the
cost model instead (DESIGN.md's formulas, via DINA-P's planner), driven by the same
calibration and re-planning rules the live source uses:

- the car's estimate of its link is a `calibrate.Estimate` fed by the transfers of the
  frames it offloaded: an edge-only frame measures nothing, so a link that got better
  while the car ran alone is not seen, unless `probe_s` > 0 (a probe of one frame's
  cloud-only transfer every `probe_s` seconds, which fognet does not send today);
- the cloud's load reaches the car in the next heartbeat (one frame late);
- the car re-plans when its estimated state moved past `threshold` (`replan.state_change`)
  and switches when the new plan is predicted clearly better (`replan.should_switch`).

Every frame is priced under the true state: edge-only (all on the car), cloud-only
(everything shipped), fognet (the plan the car holds) and the oracle (the planner under
the true state). After each change, re-convergence is how many frames until fognet is
within the switching margin of the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

from fognet.experiment.config import PartnnerConfig
from fognet.experiment.region import planner_for
from fognet.partition.calibrate import Estimate, bandwidth_sample
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.replan import DEFAULT_MARGIN, should_switch, state_change
from fognet.partition.stages import Plan, Stage
from fognet.placement.pricing import ModelCosts

CAR, CLOUD = "car", "cloud"


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


def _state(cfg: PartnnerConfig, bandwidth: float, load: float) -> ClusterState:
    return ClusterState.of(
        [PeerState(CAR, cfg.car_speed), PeerState(CLOUD, cfg.cloud_speed, backlog=load)],
        {(CAR, CLOUD): LinkState(bandwidth, cfg.latency)},
    )


def _label(plan: Plan) -> str:
    return "|".join(f"{s.start}-{s.stop}@{'+'.join(s.peers)}" for s in plan.stages)


def _cloud_bytes(costs: ModelCosts, plan: Plan) -> float:
    """Bytes the car sends to and gets back from the cloud for one frame of `plan`."""
    total = 0.0
    for stage in plan.stages:
        if CLOUD not in stage.peers:
            continue
        if stage.rows is None:
            total += costs.bytes.inputs[stage.start, stage.stop] + costs.bytes.outputs[stage.start, stage.stop]
        else:
            rows = stage.rows[stage.peers.index(CLOUD)]
            total += sum(costs.spatial.slice_bytes(stage.start, stage.stop, rows))
    return float(total)


def replay(costs: ModelCosts, cfg: PartnnerConfig) -> tuple[list[Step], list[Convergence]]:
    """Every frame of the segments in turn; the car starts from the first segment's figures."""
    n_nodes = len(costs.graph)
    cloud_only = Plan("", CAR, (Stage(0, n_nodes, (CLOUD,)),))
    first = cfg.segments[0]
    bandwidth = Estimate(first.bandwidth, samples=1)
    heard_load = first.load
    planned_with = _state(cfg, first.bandwidth, first.load)
    current = planner_for(costs, planned_with, CAR).plan()
    steps: list[Step] = []
    frame = 0
    for k, seg in enumerate(cfg.segments):
        true = _state(cfg, seg.bandwidth, seg.load)
        truth = planner_for(costs, true, CAR)
        edge, cloud, oracle = truth.all_local(), truth.price(cloud_only), truth.plan()
        for _ in range(max(1, round(seg.seconds * cfg.fps))):
            estimated = _state(cfg, bandwidth.value, heard_load)
            if state_change(planned_with, estimated, cfg.threshold) is not None:
                planner = planner_for(costs, estimated, CAR)
                candidate = planner.plan()
                if should_switch(planner.price(current), candidate):
                    current = candidate
                planned_with = estimated
            ran = truth.price(current)
            steps.append(Step(frame, frame / cfg.fps, k, seg.bandwidth, seg.load, edge.predicted_s,
                              cloud.predicted_s, ran.predicted_s, oracle.predicted_s, _label(current)))
            nbytes = _cloud_bytes(costs, current)
            if nbytes == 0 and _probe_due(frame, cfg):
                nbytes = _cloud_bytes(costs, cloud_only)
            if nbytes > 0:  # only a transfer measures the link
                moved = 2 * cfg.latency + nbytes / seg.bandwidth
                bandwidth = bandwidth.update(bandwidth_sample(nbytes, moved, 2 * cfg.latency))
            heard_load = seg.load
            frame += 1
    return steps, convergence(steps, cfg.fps)


def _probe_due(frame: int, cfg: PartnnerConfig) -> bool:
    every = round(cfg.probe_s * cfg.fps)
    return cfg.probe_s > 0 and frame % max(1, every) == 0


def convergence(steps: list[Step], fps: float, margin: float = DEFAULT_MARGIN) -> list[Convergence]:
    """Per segment after the first: frames from its start until fognet is within `margin`
    of the oracle."""
    out = []
    for k in sorted({s.segment for s in steps})[1:]:
        mine = [s for s in steps if s.segment == k]
        hit = next((i for i, s in enumerate(mine) if s.fognet_s <= s.oracle_s * (1 + margin)), None)
        out.append(Convergence(k, hit, None if hit is None else hit / fps))
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
