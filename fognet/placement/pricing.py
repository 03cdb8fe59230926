"""One model's prices: per-node reference work, stage bytes, and the one slice rule.

Every part that puts a number on a stage or a slice (the planner's program, the game's
subtasks, the simulator's pieces, the requester's predicted work) reads it from a
`ModelCosts`, so a model is analysed and priced once and all of them agree.

The slice rule (`HaloPricing`, DESIGN.md "a slice's input rows come from the halo walk"):
a slice computing output rows [a, b) of a stage reads, per input of its run, the rows the
halo walk-back (kernel, stride, padding, dilation, grid-aligned) says it needs; its bytes
in are those rows, its bytes out its own output rows, and its work is the stage's work
times the largest share of an input's rows it reads (so halos cost compute too). The
forward validity check that executed slices get is left out: the planner prices thousands
of candidate slices, and the check only ever widens a slice by an aligned row or two.

    ModelCosts(graph, times, bytes, spatial, sha256="", key="")   .work(i, j), .planner(...)
    model_costs(graph, times, sha256="", key="", spatial=True) -> ModelCosts
    HaloPricing(graph)            the planner's `SpatialPricing`, memoised per slice
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition.cost import ClusterState
from fognet.partition.halo import aligned_rows, alignments, walk_back
from fognet.partition.plan import Planner, PlannerConfig, SpatialPricing
from fognet.partition.spatial_ops import node_geometries
from fognet.partition.spatial_runs import SpatialRun, find_runs, spatial_run
from fognet.partition.stagebytes import StageBytes, stage_bytes

Rows = tuple[int, int]


class HaloPricing(SpatialPricing):
    """The slice rule of the module docstring over a model's sliceable runs.

    Every answer is remembered: the halo walk is the planner's hot spot, and re-plans and
    simulated rounds ask for the same (range, rows) again and again."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self._geometries = node_geometries(graph)
        self._ranges = [(run.start, run.stop) for run in find_runs(graph)]
        self._runs: dict[Rows, SpatialRun | None] = {}
        self._heights: dict[Rows, int] = {}
        self._rows: dict[tuple[int, int, Rows], dict[str, Rows]] = {}
        self._bytes: dict[tuple[int, int, Rows], tuple[int, int]] = {}

    def ranges(self) -> list[Rows]:
        return self._ranges

    def run(self, start: int, stop: int) -> SpatialRun | None:
        """The run [start, stop) as slicing sees it, or None if it cannot be sliced."""
        key = (start, stop)
        if key not in self._runs:
            try:
                self._runs[key] = spatial_run(self.graph, start, stop, self._geometries)
            except PartitionError:
                self._runs[key] = None
        return self._runs[key]

    def out_rows(self, start: int, stop: int) -> int:
        key = (start, stop)
        if key not in self._heights:
            run = self.run(start, stop)
            inputs, _ = self.graph.boundary(start, stop)
            # a non-image input (a shape, a flag) makes the range unsplittable here
            ok = run is not None and all(name in run.heights for name in inputs)
            self._heights[key] = run.height if ok else 0
        return self._heights[key]

    def input_rows(self, start: int, stop: int, rows: Rows) -> dict[str, Rows]:
        """Input rows per run input for output rows `rows`: halo walk-back, grid-aligned."""
        key = (start, stop, tuple(rows))
        if key not in self._rows:
            run = self._sliceable(start, stop)
            wanted = {n: r for n, r in run.output_rows(tuple(rows)).items() if r[0] < r[1]}
            need = walk_back(run.steps, run.heights, dict(wanted))
            align = alignments(run.steps, list(wanted))
            self._rows[key] = aligned_rows(need, align, run.heights, run.inputs)
        return self._rows[key]

    def slice_bytes(self, start: int, stop: int, rows: Rows) -> tuple[int, int]:
        key = (start, stop, tuple(rows))
        if key not in self._bytes:
            run = self._sliceable(start, stop)
            ins = self.input_rows(start, stop, rows)
            in_bytes = sum((b - a) * self._row_bytes(name) for name, (a, b) in ins.items())
            outs = run.output_rows(tuple(rows))
            out_bytes = sum((b - a) * self._row_bytes(name) for name, (a, b) in outs.items())
            self._bytes[key] = (int(in_bytes), int(out_bytes))
        return self._bytes[key]

    def slice_work(self, start: int, stop: int, rows: Rows, work: float) -> float:
        heights = self._sliceable(start, stop).heights
        ins = self.input_rows(start, stop, rows)
        return work * max((b - a) / heights[name] for name, (a, b) in ins.items())

    def _sliceable(self, start: int, stop: int) -> SpatialRun:
        run = self.run(start, stop)
        if run is None:
            raise PartitionError(f"nodes [{start}, {stop}) are not one sliceable run; price them as a whole stage")
        return run

    def _row_bytes(self, name: str) -> float:
        info = self.graph.tensors[name]
        return info.nbytes / info.shape[2]


@dataclass(frozen=True)
class ModelCosts:
    """A model as every pricing sees it: graph, reference seconds per compute node (graph
    order), the bytes in and out of every node range, and the slice rule (None: whole
    stages only)."""

    graph: ModelGraph
    times: tuple[float, ...]
    bytes: StageBytes
    spatial: SpatialPricing | None
    sha256: str = ""
    key: str = ""  # the scenario's name for the model (simulator), else ""
    cumwork: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cumwork", np.concatenate([[0.0], np.cumsum(self.times)]))

    def work(self, start: int, stop: int) -> float:
        """Reference seconds of compute nodes [start, stop)."""
        return float(self.cumwork[stop] - self.cumwork[start])

    @property
    def total_s(self) -> float:
        return float(sum(self.times))

    def planner(self, state: ClusterState, source: str, config: PlannerConfig | None = None) -> Planner:
        """The planner for this model under `state`, on these prices (no second analysis)."""
        return Planner(self.graph, self.times, state, source, spatial=self.spatial, config=config or PlannerConfig(),
                       bytes_table=self.bytes)


def model_costs(
    graph: ModelGraph, times: Sequence[float], sha256: str = "", key: str = "", spatial: bool = True
) -> ModelCosts:
    """Price a model once: stage bytes and, unless `spatial` is False, the slice rule."""
    return ModelCosts(graph, tuple(float(t) for t in times), stage_bytes(graph),
                      HaloPricing(graph) if spatial else None, sha256, key)
