"""One approach on one scenario: rounds of placement, frames through the shared resources.

At each round's start the runner reads every peer's backlog, fixes the round's state
(`Planning.begin_round`), asks the approach for one plan per source, and schedules the
source's frames of the round on that plan. A frame follows the star data flow: for each
stage the source sends each piece its input, the piece queues and runs on its peer, the
output comes back, and the next stage starts when the last piece is back. Frames in
flight finish on the plan they started with. After the last round the engine runs
until every frame is done, so an overloaded approach shows as long latencies, not as
missing frames.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from fognet.partition.plan import PlannerConfig
from fognet.partition.stages import Plan
from fognet.placement.pricing import ModelCosts
from fognet.placement.subtasks import Piece, plan_pieces
from fognet.sim.approaches import Approach
from fognet.sim.cluster import Topology, build_topology
from fognet.sim.engine import Engine
from fognet.sim.planning import Planning, Stream
from fognet.sim.records import FrameRecord, RunResult, summarise
from fognet.sim.resources import ComputeQueue, Network
from fognet.sim.scenario import Scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Compiled:
    """A plan ready to execute: per stage, (peer, piece) pairs; and its label for records."""

    stages: tuple[tuple[tuple[str, Piece], ...], ...]
    label: str
    peers: str
    predicted_s: float


class Simulation:
    """Runs one approach on one scenario; `run()` returns every frame's record and a summary."""

    def __init__(
        self,
        scenario: Scenario,
        approach: Approach,
        costs: Mapping[str, ModelCosts],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.approach = approach
        self.costs = costs
        self.progress = progress
        self.topology: Topology = build_topology(scenario)
        self.engine = Engine()
        self.network = Network(self.engine, self.topology.link)
        self.queues: dict[str, ComputeQueue] = {}
        for pid, peer in self.topology.peers.items():
            self.network.add_interface(pid, peer.nic)
            self.queues[pid] = ComputeQueue(self.engine, pid, peer.speed, scenario.queue, peer.backlog)
        self.planning = Planning(self.topology, costs, PlannerConfig(**scenario.planner),
                                 stream=Stream.of(scenario))
        self.arrivals = arrivals(scenario, self.topology)
        self.records: list[FrameRecord] = []
        self._compiled: dict[tuple, tuple[tuple[Piece, ...], ...]] = {}
        self.subtasks = 0
        self.objectives = [0.0, 0.0]  # the game's and the optimum's predicted totals (optimum runs)

    # -- rounds ------------------------------------------------------------------------
    def run(self) -> RunResult:
        wall = time.perf_counter()
        for r in range(self.scenario.rounds):
            self.engine.at(r * self.scenario.round_s, self._round, r)
        self.engine.run()
        return summarise(self, time.perf_counter() - wall)

    def _round(self, r: int) -> None:
        backlogs = {pid: q.backlog() for pid, q in self.queues.items()}
        self.planning.begin_round(backlogs)
        placed = self.approach.place(self.planning, r, self.scenario.seed)
        self.subtasks += placed.subtasks
        if placed.objectives is not None:
            self.objectives[0] += placed.objectives[0]
            self.objectives[1] += placed.objectives[1]
        start, stop = r * self.scenario.round_s, (r + 1) * self.scenario.round_s
        for source in self.topology.sources:
            compiled = self._compile(source, placed.plans[source], placed.predicted.get(source))
            times = self.arrivals[source]
            lo, hi = np.searchsorted(times, [start, stop])
            for k in range(lo, hi):
                self.engine.at(float(times[k]), self._start_frame, source, compiled, r, int(k))
        if self.progress is not None:
            self.progress(r)

    def _compile(self, source: str, plan: Plan, predicted: float | None) -> _Compiled:
        model = self.topology.peers[source].model
        key = (model, plan.cuts())
        pieces = self._compiled.get(key)
        if pieces is None:
            pieces = self._compiled[key] = plan_pieces(self.costs[model], plan)
        stages = tuple(
            tuple(zip(stage.peers, stage_pieces, strict=True))
            for stage, stage_pieces in zip(plan.stages, pieces, strict=True)
        )
        label = "|".join(f"{s.start}-{s.stop}@{'+'.join(s.peers)}" for s in plan.stages)
        peers = ";".join(sorted(plan.peers))
        return _Compiled(stages, label, peers, plan.predicted_s if predicted is None else predicted)

    # -- frames ------------------------------------------------------------------------
    def _start_frame(self, source: str, compiled: _Compiled, r: int, k: int) -> None:
        _Frame(self, source, compiled, r, k).next_stage()

    def record(self, frame: _Frame) -> None:
        peer = self.topology.peers[frame.source]
        latency = self.engine.now - frame.started
        deadline = peer.deadline_s
        self.records.append(
            FrameRecord(
                approach=self.approach.name,
                source=frame.source,
                model=peer.model or "",
                round=frame.round,
                frame=frame.index,
                start_s=frame.started,
                end_s=self.engine.now,
                latency_s=latency,
                transfer_s=frame.transfer,
                wait_s=frame.wait,
                compute_s=frame.compute,
                stages=len(frame.compiled.stages),
                plan=frame.compiled.label,
                peers=frame.compiled.peers,
                predicted_s=frame.compiled.predicted_s,
                deadline_s=deadline,
                met=None if deadline is None else latency <= deadline + 1e-12,
            )
        )


class _Frame:
    __slots__ = ("sim", "source", "compiled", "round", "index", "started", "stage", "left",
                 "transfer", "wait", "compute")

    def __init__(self, sim: Simulation, source: str, compiled: _Compiled, r: int, k: int) -> None:
        self.sim = sim
        self.source = source
        self.compiled = compiled
        self.round = r
        self.index = k
        self.started = sim.engine.now
        self.stage = -1
        self.left = 0
        self.transfer = self.wait = self.compute = 0.0

    def next_stage(self) -> None:
        self.stage += 1
        if self.stage == len(self.compiled.stages):
            self.sim.record(self)
            return
        pieces = self.compiled.stages[self.stage]
        self.left = len(pieces)
        for peer, piece in pieces:
            _Slice(self, peer, piece).go()

    def slice_done(self, piece: _Slice) -> None:
        self.left -= 1
        if self.left == 0:  # the last piece back is the stage's critical path
            self.transfer += piece.t_in + piece.t_out
            self.wait += piece.waited
            self.compute += piece.ran
            self.next_stage()


class _Slice:
    __slots__ = ("frame", "peer", "piece", "sent_at", "t_in", "t_out", "waited", "ran")

    def __init__(self, frame: _Frame, peer: str, piece: Piece) -> None:
        self.frame = frame
        self.peer = peer
        self.piece = piece
        self.t_in = self.t_out = self.waited = self.ran = 0.0

    def go(self) -> None:
        sim = self.frame.sim
        if self.peer == self.frame.source:
            sim.queues[self.peer].submit(self.piece.work, self._computed)
            return
        self.sent_at = sim.engine.now
        sim.network.send(self.frame.source, self.peer, self.piece.in_bytes, self._arrived)

    def _arrived(self) -> None:
        sim = self.frame.sim
        self.t_in = sim.engine.now - self.sent_at
        sim.queues[self.peer].submit(self.piece.work, self._computed)

    def _computed(self, wait: float, run: float) -> None:
        self.waited, self.ran = wait, run
        if self.peer == self.frame.source:
            self.frame.slice_done(self)
            return
        sim = self.frame.sim
        self.sent_at = sim.engine.now
        sim.network.send(self.peer, self.frame.source, self.piece.out_bytes, self._back)

    def _back(self) -> None:
        self.t_out = self.frame.sim.engine.now - self.sent_at
        self.frame.slice_done(self)


def arrivals(scenario: Scenario, topology: Topology) -> dict[str, np.ndarray]:
    """Each source's frame times over the horizon: fixed rate with a random phase, or Poisson.

    Drawn from the scenario's seed alone, so every approach sees the same frames.
    """
    rng = np.random.default_rng(scenario.seed)
    horizon = scenario.horizon_s
    out: dict[str, np.ndarray] = {}
    for source in topology.sources:
        fps = topology.peers[source].fps
        if scenario.arrival == "fixed":
            period = 1.0 / fps
            phase = rng.uniform(0.0, period)
            out[source] = np.arange(phase, horizon, period)
        else:
            expected = int(horizon * fps * 1.5) + 16
            gaps = rng.exponential(1.0 / fps, size=expected)
            times = np.cumsum(gaps)
            while times[-1] < horizon:  # rare: draw more
                times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(1.0 / fps, size=expected))])
            out[source] = times[times < horizon]
    return out
