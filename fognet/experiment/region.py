"""Feltin et al.'s acceleration region: where splitting a model over two devices beats
running it on the better one alone, over link bandwidth x the helper's speed ratio.

Predicted by DINA-P's planner under the cost model (DESIGN.md): a source device of speed
1 and one helper of speed `ratio`, one link of `bandwidth`. "One device" is the best
single-device plan (everything on the source, or everything shipped to the helper);
"partitioned" is the planner's plan when it uses both. Partitioning pays only where the
cut tensors move faster than the compute they save, which the map shows as a band.

`cell_scenario` is the same two devices as a simulator scenario, so each cell can also be
run through the simulator (fognet against best-node, queues and all): the map measured
in simulation beside the predicted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.plan import Planner, PlannerConfig
from fognet.placement.pricing import ModelCosts
from fognet.sim.scenario import Scenario, parse

SOURCE, HELPER = "device", "helper"
PREFIX = "region-"  # a simulated cell's experiment name is PREFIX + model


@dataclass(frozen=True)
class RegionCell:
    model: str
    bandwidth: float  # bytes/s
    ratio: float  # helper speed / device speed
    single_s: float  # best one-device plan
    split_s: float  # the planner's plan
    stages: int
    both: bool  # the plan uses both devices

    @property
    def speedup(self) -> float:
        return self.single_s / self.split_s if self.split_s > 0 else 1.0


def planner_for(costs: ModelCosts, state: ClusterState, source: str, max_peers: int = 2) -> Planner:
    """DINA-P's planner on `costs` (the simulator's model costs) under `state`."""
    return costs.planner(state, source, PlannerConfig(max_spatial_peers=max_peers))


def cell(costs: ModelCosts, model: str, bandwidth: float, ratio: float, latency: float) -> RegionCell:
    state = ClusterState.of(
        [PeerState(SOURCE, 1.0), PeerState(HELPER, ratio)],
        {(SOURCE, HELPER): LinkState(bandwidth, latency)},
    )
    planner = planner_for(costs, state, SOURCE)
    plan = planner.plan()
    single = planner.best_single_node().predicted_s
    return RegionCell(model, bandwidth, ratio, single, min(plan.predicted_s, single), len(plan.stages),
                      len(plan.peers) > 1)


def acceleration_map(
    costs: ModelCosts, model: str, bandwidths: Sequence[float], ratios: Sequence[float], latency: float
) -> list[RegionCell]:
    """One cell per (bandwidth, ratio), bandwidth-major."""
    return [cell(costs, model, b, r, latency) for b in bandwidths for r in ratios]


def cell_scenario(model: str, bandwidth: float, ratio: float, latency: float, fps: float, rounds: int,
                  where: Path) -> Scenario:
    """One source of speed 1 streaming `model` at `fps`, one helper of speed `ratio`."""
    raw = {
        "name": PREFIX + model, "rounds": rounds, "round_s": 1.0,
        "network": {"bandwidth": bandwidth, "latency": latency},
        "planner": {"max_spatial_peers": 2},
        "sources": [{"name": SOURCE, "speed": 1.0, "count": 1, "model": model, "fps": fps}],
        "workers": [{"name": HELPER, "speed": ratio, "count": 1, "quota": 64}],
    }
    return parse(raw, where, None)
