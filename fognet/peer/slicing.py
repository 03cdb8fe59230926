"""The two ends of a spatial stage: which slice a worker runs, how the source splits and merges.

A spatial stage [start, stop) with row ranges `rows[i]` (of the run's primary output) for
`peers[i]` is, on the wire, one EXEC per slice naming its node range and output rows. Both
ends derive the same `SliceSpec` from their own copy of the model
(`fognet.partition.spatial_slices`): the source to cut each slice's input rows (with halo)
and to merge, the worker to build the slice's sub-model and to crop the rows that differ from the
unsplit run (so only exact rows travel back). Runs are cached per node range, at most
RUNS_KEPT of them; slice sub-models are not kept (the executor's bounded session cache
is what keeps a slice), so asking for many ranges or rows cannot grow a peer.

API
    Slicer(graph)
        .specs(start, stop, rows) -> list[SliceSpec]      one per range, in order
        .spec(start, stop, rows_one) -> SliceSpec          the slice making `rows_one`
        .model(start, stop, spec) -> onnx.ModelProto       the slice's sub-model
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition.spatial_ops import node_geometries
from fognet.partition.spatial_rewrite import slice_model
from fognet.partition.spatial_runs import SpatialRun, spatial_run
from fognet.partition.spatial_slices import SliceSpec, plan_slices

Range = tuple[int, int]
RUNS_KEPT = 256  # a source's plan has a handful of spatial stages; a worker's caller is untrusted


class Slicer:
    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self._geometries = None
        self._runs: dict[Range, SpatialRun] = {}

    def run(self, start: int, stop: int) -> SpatialRun:
        key = (start, stop)
        if key not in self._runs:
            if self._geometries is None:
                self._geometries = node_geometries(self.graph)
            if len(self._runs) >= RUNS_KEPT:
                del self._runs[next(iter(self._runs))]  # the oldest
            self._runs[key] = spatial_run(self.graph, start, stop, self._geometries)
        return self._runs[key]

    def specs(self, start: int, stop: int, rows: Sequence[Range]) -> list[SliceSpec]:
        return plan_slices(self.run(start, stop), rows)

    def spec(self, start: int, stop: int, rows: Range) -> SliceSpec:
        """The slice for output rows [a, b), planned as part of the tiling [0, a) [a, b) [b, H)."""
        run = self.run(start, stop)
        a, b = rows
        if not 0 <= a < b <= run.height:
            raise PartitionError(f"slice rows [{a}, {b}) are outside the stage's {run.height} output rows")
        tiles = [r for r in ((0, a), (a, b), (b, run.height)) if r[1] > r[0]]
        return next(s for s in plan_slices(run, tiles) if s.rows == (a, b))

    def model(self, start: int, stop: int, spec: SliceSpec) -> onnx.ModelProto:
        return slice_model(self.graph, self.run(start, stop), spec)
