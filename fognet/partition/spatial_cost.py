"""The planner's view of spatial slicing: rows and bytes of a slice, from the real halo walk.

A slice's input rows come from the halo walk-back with grid alignment (the first step of
`halo.plan_rows`), without the forward validity check that the executed slices get: the
planner prices thousands of candidate slices, and the check only ever widens a slice by
an aligned row or two. Work is estimated: a slice does the fraction of the stage's work
that its input rows are of the full input, so halos cost compute too.
"""

from __future__ import annotations

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding, wire_sizes
from fognet.partition.halo import aligned_rows, alignments, walk_back
from fognet.partition.plan import SpatialPricing
from fognet.partition.spatial_ops import node_geometries
from fognet.partition.spatial_runs import SpatialRun, find_runs, spatial_run


class RunPricing(SpatialPricing):
    def __init__(self, graph: ModelGraph, encoding: Encoding = DEFAULT_ENCODING) -> None:
        self.graph = graph
        self._sizes = wire_sizes(graph, encoding)  # bytes on the wire, as stage bytes are priced
        self._geometries = node_geometries(graph)
        self._runs = find_runs(graph)
        self._cache: dict[tuple[int, int], SpatialRun | None] = {}
        self._rows: dict[tuple[int, int, tuple[int, int]], dict[str, tuple[int, int]]] = {}

    def ranges(self) -> list[tuple[int, int]]:
        return [(run.start, run.stop) for run in self._runs]

    def run(self, start: int, stop: int) -> SpatialRun | None:
        key = (start, stop)
        if key not in self._cache:
            try:
                self._cache[key] = spatial_run(self.graph, start, stop, self._geometries)
            except PartitionError:
                self._cache[key] = None
        return self._cache[key]

    def out_rows(self, start: int, stop: int) -> int:
        run = self.run(start, stop)
        if run is None:
            return 0
        inputs, _ = self.graph.boundary(start, stop)
        if any(name not in run.heights for name in inputs):
            return 0  # a non-image input (a shape, a flag) makes the range unsplittable here
        return run.height

    def _row_bytes(self, name: str) -> float:
        info = self.graph.tensors[name]
        return self._sizes[name] / info.shape[2]

    def input_rows(self, start: int, stop: int, rows: tuple[int, int]) -> dict[str, tuple[int, int]]:
        """Input rows per run input for output rows `rows`: halo walk-back, grid-aligned."""
        key = (start, stop, rows)
        if key not in self._rows:
            run = self.run(start, stop)
            assert run is not None
            wanted = {n: r for n, r in run.output_rows(rows).items() if r[0] < r[1]}
            need = walk_back(run.steps, run.heights, dict(wanted))
            align = alignments(run.steps, list(wanted))
            self._rows[key] = aligned_rows(need, align, run.heights, run.inputs)
        return self._rows[key]

    def slice_bytes(self, start: int, stop: int, rows: tuple[int, int]) -> tuple[int, int]:
        run = self.run(start, stop)
        assert run is not None
        ins = self.input_rows(start, stop, rows)
        in_bytes = sum((b - a) * self._row_bytes(name) for name, (a, b) in ins.items())
        outs = run.output_rows(rows)
        out_bytes = sum((b - a) * self._row_bytes(name) for name, (a, b) in outs.items())
        return int(in_bytes), int(out_bytes)

    def slice_work(self, start: int, stop: int, rows: tuple[int, int], work: float) -> float:
        run = self.run(start, stop)
        assert run is not None
        heights = run.heights
        ins = self.input_rows(start, stop, rows)
        fractions = [(b - a) / heights[name] for name, (a, b) in ins.items()]
        return work * max(fractions)
