"""DINA-P's planner: a dynamic program over cut positions, for the star data flow.

best[j] = min over i < j of best[i] + stage(i, j), where stage(i, j) is the cheapest way
to run compute nodes [i, j): whole on one peer (the source itself included), or spatially
split over the k best peers (k = 2 .. peers available) when [i, j) lies in a spatial run.
The number of stages, and so of partitions, is what the program returns, not an input.

Whole stages are priced for all i at once with numpy (the bytes in and out of every
[i, j) come from `stagebytes`). Spatial stages are priced only between "anchor"
positions of a run (its ends and its single-tensor cuts, thinned to a bounded count),
which keeps the search fast on long runs such as DenseNet's dense blocks.

Peers with a `memory` limit only get stages that fit it (`partition.memory`: weights plus
peak activations; a spatial slice is charged its whole stage); a model no peer can hold is
a PlanError naming its smallest partition and the largest memory.

Everything here is pure: the cluster state and the per-node reference times come in as
arguments, so the live peers and the simulator run the same planner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np

from fognet.errors import PlanError
from fognet.model.graph import ModelGraph
from fognet.partition.cost import (
    ClusterState,
    Slice,
    finish_together_rows,
    send_rate,
    send_time,
    stage_latency,
    transfer_time,
)
from fognet.partition.memory import MemoryTable, fits, no_fit_message, peer_usage
from fognet.partition.stagebytes import StageBytes, stage_bytes
from fognet.partition.stages import Plan, Stage


@dataclass(frozen=True)
class PlannerConfig:
    spatial: bool = True
    max_spatial_peers: int | None = None  # None: every reachable peer may take a slice
    max_anchors: int = 24  # candidate spatial stage ends per run
    exact_groups_up_to: int = 4  # up to this many peers, try every group for a spatial stage


class SpatialPricing:
    """What the planner needs to know of a run that can be sliced along H.

    `fognet.placement.pricing.HaloPricing` is the real one (the one slice rule, passed in:
    partition/ does not import placement/); the planner only needs rows and
    bytes, so tests can price synthetic runs too.
    """

    def ranges(self) -> Sequence[tuple[int, int]]:
        """Maximal sliceable node ranges [start, stop)."""
        raise NotImplementedError

    def out_rows(self, start: int, stop: int) -> int:
        raise NotImplementedError

    def slice_bytes(self, start: int, stop: int, rows: tuple[int, int]) -> tuple[int, int]:
        """(input bytes, output bytes) of the slice computing output rows [a, b)."""
        raise NotImplementedError

    def slice_work(self, start: int, stop: int, rows: tuple[int, int], work: float) -> float:
        """Reference seconds of the slice, given the whole stage's `work`."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Option:
    cost: float
    start: int
    stop: int
    peers: tuple[str, ...]
    rows: tuple[tuple[int, int], ...] | None


class Planner:
    """Prices stages for one model on one cluster state; `plan` runs the program."""

    def __init__(
        self,
        graph: ModelGraph,
        times: Sequence[float],
        state: ClusterState,
        source: str,
        spatial: SpatialPricing | None = None,
        config: PlannerConfig = PlannerConfig(),
        bytes_table: StageBytes | None = None,
    ) -> None:
        if len(times) != len(graph):
            raise PlanError(f"{len(times)} node times for {len(graph)} compute nodes")
        if source not in state.peers:
            raise PlanError(f"source {source!r} is not in the cluster state")
        own = state.peers[source]
        if own.cap < 1.0:
            # A peer that also lends its device caps what OTHERS may load on it; its own frames
            # are never refused there (DESIGN: a source's own device cannot refuse).
            state = replace(state, peers={**state.peers, source: replace(own, cap=1.0)})
        self.graph = graph
        self.state = state
        self.source = source
        self.config = config
        self.spatial = spatial if config.spatial else None
        self.work = np.concatenate([[0.0], np.cumsum(np.asarray(times, dtype=float))])
        self.bytes = bytes_table or stage_bytes(graph)
        self.peers = [p for p in sorted(state.peers) if p == source or state.link(source, p) is not None]
        limited = any(state.peers[p].memory is not None for p in self.peers)
        self.memory = MemoryTable.of(graph) if limited else None
        self.limits = {p: state.peers[p].memory for p in self.peers}  # tightened by `plan`

    # -- whole stages --------------------------------------------------------------
    def whole_costs(self, j: int, peer: str) -> np.ndarray:
        """Predicted time of stages [i, j) on `peer`, for every i in 0..j-1."""
        p = self.state.peers[peer]
        i = np.arange(j)
        service = (self.work[j] - self.work[i]) / p.speed
        own = self.state.peers[self.source]
        compute = service + p.stream_wait(service, own.rate, own.poisson)
        if peer != self.source:
            send = send_time(self.state, self.source, peer, self.bytes.inputs[i, j])
            back = transfer_time(self.state, peer, self.source, self.bytes.outputs[i, j])
            compute = compute + send + back
        if self.memory is not None:
            compute = np.where(fits(self.memory, self.limits[peer], j), compute, np.inf)
        return compute

    def whole_cost(self, i: int, j: int, peer: str) -> float:
        return float(self.whole_costs(j, peer)[i])

    # -- spatial stages -------------------------------------------------------------
    def spatial_option(self, i: int, j: int, peers: Sequence[str] | None = None) -> _Option | None:
        """The best spatial split of [i, j) over the top-k peers (or over `peers`)."""
        if self.spatial is None:
            return None
        height = self.spatial.out_rows(i, j)
        if height < 2:
            return None
        work = self.work[j] - self.work[i]
        if peers is not None:
            return self._price_split(i, j, list(peers), height, work)
        best: _Option | None = None
        for group in self._peer_groups(i, j, height, work):
            option = self._price_split(i, j, list(group), height, work)
            if option is not None and (best is None or option.cost < best.cost):
                best = option
        return best

    def _peer_groups(self, i: int, j: int, height: int, work: float) -> list[tuple[str, ...]]:
        """Every group of >= 2 peers on small clusters; the top-k by per-row cost on large ones."""
        limit = min(self.config.max_spatial_peers or len(self.peers), len(self.peers))
        if len(self.peers) <= self.config.exact_groups_up_to:
            return [g for k in range(2, limit + 1) for g in combinations(self.peers, k)]
        ranked = sorted(self.peers, key=lambda p: self._per_row_cost(i, j, p, height, work))
        return [tuple(ranked[:k]) for k in range(2, limit + 1)]

    def _per_row_cost(self, i: int, j: int, peer: str, height: int, work: float) -> float:
        p = self.state.peers[peer]
        row_work = work / height / p.speed
        if peer == self.source:
            return row_work
        link = self.state.link(self.source, peer)
        rate = send_rate(link, self.state.peers[self.source].nic)
        return row_work + (self.bytes.inputs[i, j] / rate + self.bytes.outputs[i, j] / link.bandwidth) / height

    def _fixed_cost(self, i: int, j: int, peer: str) -> float:
        wait = self.state.peers[peer].wait
        if peer == self.source:
            return wait
        return wait + 2 * self.state.link(self.source, peer).latency

    def _price_split(self, i: int, j: int, peers: list[str], height: int, work: float) -> _Option | None:
        fixed = [self._fixed_cost(i, j, p) for p in peers]
        per_row = [self._per_row_cost(i, j, p, height, work) for p in peers]
        counts = finish_together_rows(height, fixed, per_row)
        if self.state.peers[self.source].nic:
            # Sends share the source's NIC one after the other: a slice's input also waits
            # for the slices sent before it. Re-size twice with that wait in its fixed cost.
            for _ in range(2):
                ahead = self._airtime_ahead(i, j, peers, counts)
                counts = finish_together_rows(height, [f + a for f, a in zip(fixed, ahead, strict=True)], per_row)
        if self.memory is not None and not all(fits(self.memory, self.limits[p], j)[i] for p in peers):
            return None
        chosen, rows, at = [], [], 0
        for peer, count in zip(peers, counts, strict=True):
            if count > 0:
                chosen.append(peer)
                rows.append((at, at + count))
                at += count
        if len(chosen) < 2:
            return None
        cost = self.price_slices(i, j, chosen, rows)
        return _Option(cost, i, j, tuple(chosen), tuple(rows))

    def _airtime_ahead(self, i: int, j: int, peers: Sequence[str], counts: Sequence[int]) -> list[float]:
        """Per peer, the seconds the source's NIC spends on the slices sent before its own."""
        assert self.spatial is not None
        nic = self.state.peers[self.source].nic
        ahead, busy, at = [], 0.0, 0
        for peer, count in zip(peers, counts, strict=True):
            ahead.append(busy if peer != self.source else 0.0)
            if peer != self.source and count > 0:
                in_b, _ = self.spatial.slice_bytes(i, j, (at, at + count))
                busy += in_b / send_rate(self.state.link(self.source, peer), nic)
            at += count
        return ahead

    def price_slices(self, i: int, j: int, peers: Sequence[str], rows: Sequence[tuple[int, int]]) -> float:
        """Predicted time of a spatial stage: `cost.stage_latency` of its slices, sent in
        the stage's peer order (the order the requester sends them) through the source's NIC,
        each waiting with the source's own stream on its peer as a whole stage does."""
        assert self.spatial is not None
        work = self.work[j] - self.work[i]
        slices = []
        for peer, r in zip(peers, rows, strict=True):
            in_b, out_b = self.spatial.slice_bytes(i, j, r)
            slices.append((peer, Slice(self.spatial.slice_work(i, j, r, work), in_b, out_b)))
        return stage_latency(self.state, self.source, slices, streamed=True).total

    def _anchors(self, start: int, stop: int) -> list[int]:
        cut_sizes = {c.position: len(c.crossing) for c in self.graph.cuts() if start < c.position < stop}
        inner = [p for p, size in cut_sizes.items() if size == 1]
        if len(inner) > self.config.max_anchors:
            step = len(inner) / self.config.max_anchors
            inner = [inner[int(k * step)] for k in range(self.config.max_anchors)]
        return sorted({start, stop, *inner})

    def spatial_ranges(self) -> list[tuple[int, int]]:
        """Node ranges [i, j) the planner may run as a spatial stage (ends at run anchors)."""
        if self.spatial is None or len(self.peers) < 2:
            return []
        ranges = []
        for start, stop in self.spatial.ranges():
            anchors = self._anchors(start, stop)
            ranges += [(i, j) for a, i in enumerate(anchors) for j in anchors[a + 1 :]]
        return ranges

    def _spatial_options(self) -> dict[int, list[_Option]]:
        """The best spatial option of every spatial range, grouped by end position j."""
        by_end: dict[int, list[_Option]] = {}
        for i, j in self.spatial_ranges():
            option = self.spatial_option(i, j)
            if option is not None:
                by_end.setdefault(j, []).append(option)
        return by_end

    # -- the program ----------------------------------------------------------------
    def plan(self, model_sha256: str = "", input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Plan:
        """The program's plan; with memory limits, a peer given stages that together exceed
        its memory has its limit for one stage tightened below its largest and the program
        re-runs, until every peer's stages fit (or none can: PlanError)."""
        given = {p: self.state.peers[p].memory for p in self.peers}
        self.limits = dict(given)
        while True:
            try:
                plan = self._program(model_sha256, input_shapes)
            except PlanError:
                if self.limits == given:
                    raise
                raise PlanError("every node fits some peer, but no plan keeps each peer's stages together within "
                                "its memory; give the peers more memory or add peers") from None
            if self.memory is None:
                return plan
            placed = [(s.start, s.stop, p) for s in plan.stages for p in s.peers]
            over = [p for p, used in peer_usage(self.memory, placed).items() if used > (self.limits[p] or np.inf)]
            if not over:
                return plan
            peer = over[0]
            self.limits[peer] = max(self.memory.need(a, b) for a, b, q in placed if q == peer) - 1

    def _program(self, model_sha256: str, input_shapes: Mapping[str, tuple[int, ...]] | None) -> Plan:
        n = len(self.graph)
        best = np.full(n + 1, np.inf)
        best[0] = 0.0
        back: list[_Option | None] = [None] * (n + 1)
        spatial = self._spatial_options()
        for j in range(1, n + 1):
            for peer in self.peers:
                total = best[:j] + self.whole_costs(j, peer)
                i = int(np.argmin(total))
                if total[i] < best[j]:
                    best[j] = total[i]
                    back[j] = _Option(float(total[i] - best[i]), i, j, (peer,), None)
            for option in spatial.get(j, ()):
                total = best[option.start] + option.cost
                if total < best[j]:
                    best[j] = total
                    back[j] = option
        if not np.isfinite(best[n]) and self.memory is not None and None not in self.limits.values():
            raise PlanError(no_fit_message(self.memory, {p: self.state.peers[p].memory for p in self.peers}))
        if not np.isfinite(best[n]):
            raise PlanError("no finite-latency plan: is every peer unreachable from the source?")
        stages: list[Stage] = []
        j = n
        while j > 0:
            option = back[j]
            assert option is not None
            stages.append(Stage(option.start, option.stop, option.peers, option.rows, option.cost))
            j = option.start
        stages.reverse()
        return Plan(model_sha256, self.source, tuple(stages), float(best[n]), dict(input_shapes or {}))

    # -- pricing given plans ---------------------------------------------------------
    def price(self, plan: Plan) -> Plan:
        """The same plan re-priced under this planner's state (for hysteresis and baselines)."""
        stages = []
        for stage in plan.stages:
            if any(p not in self.state.peers for p in stage.peers):
                missing = next(p for p in stage.peers if p not in self.state.peers)
                raise PlanError(f"plan uses peer {missing!r}, which is not in the cluster")
            if stage.spatial:
                cost = self.price_slices(stage.start, stage.stop, stage.peers, stage.rows)
            else:
                cost = self.whole_cost(stage.start, stage.stop, stage.peer)
            stages.append(Stage(stage.start, stage.stop, stage.peers, stage.rows, cost))
        return Plan(plan.model_sha256, plan.source, tuple(stages), sum(s.predicted_s for s in stages), plan.input_shapes)

    def all_local(self) -> Plan:
        return self._single(self.source)

    def best_single_node(self) -> Plan:
        """Everything on the one peer (source included) with the lowest predicted latency."""
        return min((self._single(p) for p in self.peers), key=lambda plan: plan.predicted_s)

    def neurosurgeon(self) -> Plan:
        """The best single split: nodes [0, c) on the source, [c, n) on one other peer."""
        n = len(self.graph)
        best = self.all_local()
        here = self.state.peers[self.source]
        local = self.work[: n + 1] / here.speed + here.wait  # as whole_cost(0, c, source)
        for peer in self.peers:
            if peer == self.source:
                continue
            remote = np.array([self.whole_cost(c, n, peer) for c in range(n)])
            totals = local[:n] + remote
            totals[0] = remote[0]
            c = int(np.argmin(totals))
            if totals[c] < best.predicted_s:
                stages = [Stage(c, n, (peer,), None, float(remote[c]))]
                if c > 0:
                    stages.insert(0, Stage(0, c, (self.source,), None, float(local[c])))
                best = Plan("", self.source, tuple(stages), float(totals[c]))
        return best

    def _single(self, peer: str) -> Plan:
        n = len(self.graph)
        cost = self.whole_cost(0, n, peer)
        return Plan("", self.source, (Stage(0, n, (peer,), None, cost),), cost)
