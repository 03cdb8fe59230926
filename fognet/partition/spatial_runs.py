"""Runs of spatially local ops (DINA-P point 2): the stages that can be split along H.

A `SpatialRun` is compute nodes [start, stop) whose every node is local along H
(`fognet.partition.spatial_ops`), with the row arithmetic of the nodes that feed its
outputs. `find_runs` lists the maximal runs of a model; `spatial_run` checks and builds the
run of any sub-range a planner picks (pass it `node_geometries(graph)` when asking about
many). Row ranges refer to the run's primary output (`run.primary`, made by the run's last
node); other outputs of the run (a skip tensor leaving mid-run) get the proportional rows of
their own height. `run.plan(rows)` is the halo plan (`fognet.partition.halo`) of the slice
making those rows: what `fognet.partition.spatial_slices` turns into a `SliceSpec`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition import halo
from fognet.partition.halo import Range, Step
from fognet.partition.row_geometry import Geometry
from fognet.partition.spatial_ops import data_inputs, node_geometries

log = logging.getLogger(__name__)

MEMO_SIZE = 4096  # row plans remembered per run


@dataclass(frozen=True)
class SpatialRun:
    """Compute nodes [start, stop) that can be split along H, with their row arithmetic."""

    start: int
    stop: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    steps: tuple[Step, ...]
    tensor_heights: tuple[tuple[str, int], ...]
    positions: tuple[int, ...]  # the nodes slices run: those in [start, stop) that feed an output
    _memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def heights(self) -> dict[str, int]:
        """Full-image H of every tensor the run reads or makes."""
        return dict(self.tensor_heights)

    @property
    def primary(self) -> str:
        """The output whose rows slice row ranges count (the one the last node makes)."""
        return self.outputs[-1]

    @property
    def height(self) -> int:
        return self.heights[self.primary]

    def output_rows(self, rows: Range) -> dict[str, Range]:
        """Rows [lo, hi) of the primary output, mapped onto every output's own height."""
        h = self.height
        lo, hi = rows
        if not 0 <= lo <= hi <= h:
            raise PartitionError(f"row range [{lo}, {hi}) is outside the run's {h} output rows")
        heights = self.heights
        return {name: (lo * heights[name] // h, hi * heights[name] // h) for name in self.outputs}

    def input_rows(self, out_start: int, out_stop: int) -> dict[str, Range]:
        """Input rows (with halo and grid alignment) a slice making these output rows reads."""
        return dict(self.plan((out_start, out_stop)).inputs)

    def plan(self, rows: Range) -> halo.RowPlan:
        """The row plan of one slice, remembered: planners ask about the same rows often."""
        key = (int(rows[0]), int(rows[1]))
        if key not in self._memo:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = _plan_one(self, key)
        return self._memo[key]


def _plan_one(run: SpatialRun, rows: Range) -> halo.RowPlan:
    """The halo plan of the slice making primary rows `rows`; an output given no rows gets one."""
    heights = run.heights
    wanted = {}
    for name, (lo, hi) in run.output_rows(rows).items():
        if lo >= hi:  # this output gets no rows here, but the slice still computes it
            lo = min(lo, heights[name] - 1)
            hi = lo + 1
        wanted[name] = (lo, hi)
    return halo.plan_rows(run.steps, heights, run.inputs, wanted)


def spatial_run(
    graph: ModelGraph,
    start: int,
    stop: int,
    geometries: Sequence[Geometry | None] | None = None,
    check: bool = True,
) -> SpatialRun:
    """The run for nodes [start, stop); PartitionError when the range cannot be split along H.

    Pass `geometries = node_geometries(graph)` when asking about many ranges. With `check`,
    a two-way split is planned once, which catches branches that cannot be aligned.
    """
    geometries = node_geometries(graph) if geometries is None else geometries
    if not 0 <= start < stop <= len(graph):
        raise PartitionError(f"node range [{start}, {stop}) is outside 0..{len(graph)}")
    for pos in range(start, stop):
        if geometries[pos] is None:
            node = graph.nodes[pos]
            raise PartitionError(
                f"node {node.name!r} ({node.op_type}) at position {pos} is not spatially local; "
                "a spatial stage cannot contain it"
            )
    inputs, outputs = graph.boundary(start, stop)
    made = {o for node in graph.nodes[start:stop] for o in node.output}
    outputs = tuple(sorted((o for o in outputs if o in made), key=graph.producer))
    if not outputs:
        raise PartitionError(f"nodes [{start}, {stop}) produce nothing that is used")
    live = _live_positions(graph, start, stop, outputs)
    steps = tuple(
        Step(data_inputs(graph, graph.nodes[p]), graph.nodes[p].output[0], geometries[p]) for p in live
    )
    names = {n for step in steps for n in (*step.inputs, step.output)}
    heights = tuple((n, graph.tensors[n].shape[2]) for n in sorted(names))
    run = SpatialRun(start, stop, tuple(i for i in inputs if i in names), outputs, steps, heights, live)
    if check and run.height >= 2:
        for rows in ((0, run.height // 2), (run.height // 2, run.height)):
            run.plan(rows)
    return run


def _live_positions(graph: ModelGraph, start: int, stop: int, outputs: Sequence[str]) -> tuple[int, ...]:
    """Positions in [start, stop) whose node feeds an output: dead nodes would only cost rows."""
    wanted = set(outputs)
    live = []
    for pos in range(stop - 1, start - 1, -1):
        node = graph.nodes[pos]
        if any(o in wanted for o in node.output):
            live.append(pos)
            wanted.update(n for n in node.input if n)
    return tuple(reversed(live))


def find_runs(graph: ModelGraph, min_height: int = 2) -> list[SpatialRun]:
    """Maximal runs of consecutive spatially local nodes whose output has >= min_height rows.

    A run whose output is too short (PilotNet's last convs end at one row) is cut back to
    its longest prefix whose output is tall enough.
    """
    geometries = node_geometries(graph)
    runs = []
    pos = 0
    while pos < len(graph):
        if geometries[pos] is None:
            pos += 1
            continue
        end = pos
        while end < len(graph) and geometries[end] is not None:
            end += 1
        run = _tall_prefix(graph, pos, end, geometries, min_height)
        if run is not None:
            runs.append(run)
        pos = end
    return runs


def _tall_prefix(
    graph: ModelGraph, start: int, stop: int, geometries: Sequence[Geometry | None], min_height: int
) -> SpatialRun | None:
    while stop > start:
        if graph.tensors[graph.nodes[stop - 1].output[0]].shape[2] >= min_height:
            try:
                run = spatial_run(graph, start, stop, geometries)
            except PartitionError as exc:
                log.info("nodes [%d, %d) are local but not splittable: %s", start, stop, exc)
            else:
                if run.height >= min_height:
                    return run
        stop -= 1
    return None

