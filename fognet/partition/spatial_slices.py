"""Slices of a spatial run: the row ranges each peer makes, and the data flow around them.

A `SliceSpec` is one slice of a run: which full-image rows of each run input it reads (with
halo), what each output's slice rows are, and which of them are kept. It depends on nothing
but (run, rows), so source and worker derive the same one, and it serialises to a small
JSON-safe dict. The source cuts inputs with `split_inputs` and concatenates results with
`merge_outputs`; a worker drops the rows that differ from the unsplit run with
`crop_outputs` (or runs a model that crops, `fognet.partition.spatial_rewrite`).

    specs = plan_slices(run, slices_for_rows([10, 0, 6]))   # rows of run.primary
    feeds = split_inputs(full_inputs, spec)                 # source side: input rows incl. halo
    kept = crop_outputs(outputs_of_the_slice, spec)         # worker side: drop garbage rows
    merged = merge_outputs([kept, ...], specs, cropped=True)  # source side: concat along H
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fognet.errors import PartitionError
from fognet.partition.halo import Range
from fognet.partition.spatial_runs import SpatialRun


@dataclass(frozen=True)
class SliceInput:
    name: str
    start: int  # full-image rows [start, stop) this slice reads
    stop: int


@dataclass(frozen=True)
class SliceOutput:
    name: str
    full_height: int  # H of the unsplit tensor
    height: int  # H the slice model makes
    crop_start: int  # slice rows [crop_start, crop_stop) are kept ...
    crop_stop: int
    row_start: int  # ... and are full-image rows from row_start on


@dataclass(frozen=True)
class SliceSpec:
    """One slice of a run: what rows go in, what comes out, what to keep. JSON-safe."""

    start: int
    stop: int
    rows: Range  # rows of the run's primary output this slice yields
    inputs: tuple[SliceInput, ...]
    outputs: tuple[SliceOutput, ...]

    @property
    def input_heights(self) -> tuple[int, ...]:
        return tuple(i.stop - i.start for i in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "stop": self.stop,
            "rows": list(self.rows),
            "inputs": [[i.name, i.start, i.stop] for i in self.inputs],
            "outputs": [
                [o.name, o.full_height, o.height, o.crop_start, o.crop_stop, o.row_start]
                for o in self.outputs
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SliceSpec:
        try:
            return cls(
                start=int(data["start"]),
                stop=int(data["stop"]),
                rows=(int(data["rows"][0]), int(data["rows"][1])),
                inputs=tuple(SliceInput(str(n), int(a), int(b)) for n, a, b in data["inputs"]),
                outputs=tuple(
                    SliceOutput(str(n), *(int(v) for v in rest)) for n, *rest in data["outputs"]
                ),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PartitionError(f"malformed slice spec: {exc!r}") from exc


def slices_for_rows(rows: Sequence[int]) -> list[Range]:
    """Consecutive row ranges for per-peer row counts, skipping peers given zero rows."""
    ranges = []
    start = 0
    for count in rows:
        if count < 0:
            raise PartitionError(f"a slice cannot have {count} rows")
        if count:
            ranges.append((start, start + count))
            start += count
    return ranges


def plan_slices(run: SpatialRun, row_ranges: Sequence[Range]) -> list[SliceSpec]:
    """One SliceSpec per row range; the ranges must tile [0, run.height) in order."""
    ranges = [tuple(r) for r in row_ranges if r[1] > r[0]]
    edges = [0, *(hi for _, hi in ranges)]
    if [lo for lo, _ in ranges] != edges[:-1] or edges[-1] != run.height:
        raise PartitionError(
            f"slice rows {list(row_ranges)} do not tile the run's {run.height} output rows in order"
        )
    return [slice_spec(run, r) for r in ranges]


def slice_spec(run: SpatialRun, rows: Range) -> SliceSpec:
    """The spec of the slice making rows `rows` of the run's primary output."""
    plan = run.plan(rows)
    heights = run.heights
    outputs = []
    for name, (lo, hi) in run.output_rows(rows).items():
        ext = plan.extents[name]
        outputs.append(
            SliceOutput(name, heights[name], ext.height, lo - ext.offset, hi - ext.offset, lo)
        )
    inputs = tuple(SliceInput(name, *plan.inputs[name]) for name in run.inputs)
    return SliceSpec(run.start, run.stop, (int(rows[0]), int(rows[1])), inputs, tuple(outputs))


def split_inputs(full_inputs: Mapping[str, np.ndarray], spec: SliceSpec) -> dict[str, np.ndarray]:
    """The rows of each full input a slice reads (contiguous copies, ready to send)."""
    return {i.name: np.ascontiguousarray(full_inputs[i.name][:, :, i.start : i.stop]) for i in spec.inputs}


def crop_outputs(slice_outputs: Mapping[str, np.ndarray], spec: SliceSpec) -> dict[str, np.ndarray]:
    """Keep only the rows of a slice's outputs that equal the unsplit model's."""
    cropped = {}
    for o in spec.outputs:
        value = slice_outputs[o.name]
        if value.ndim != 4 or value.shape[2] < o.crop_stop:
            raise PartitionError(
                f"slice output {o.name!r} has shape {value.shape}; expected {o.height} rows"
            )
        cropped[o.name] = value[:, :, o.crop_start : o.crop_stop]
    return cropped


def merge_outputs(
    outputs: Sequence[Mapping[str, np.ndarray]], specs: Sequence[SliceSpec], cropped: bool = False
) -> dict[str, np.ndarray]:
    """Concatenate the slices' rows along H into the unsplit outputs."""
    if len(outputs) != len(specs):
        raise PartitionError(f"{len(outputs)} slice results for {len(specs)} slices")
    pieces: dict[str, list[tuple[int, np.ndarray]]] = {}
    full: dict[str, int] = {}
    for value, spec in zip(outputs, specs, strict=True):
        kept = value if cropped else crop_outputs(value, spec)
        for o in spec.outputs:
            pieces.setdefault(o.name, []).append((o.row_start, kept[o.name]))
            full[o.name] = o.full_height
    merged = {}
    for name, parts in pieces.items():
        parts.sort(key=lambda p: p[0])
        row = 0
        for start, arr in parts:
            if start != row:
                raise PartitionError(f"slices of {name!r} leave a gap or overlap at row {row}")
            row += arr.shape[2]
        if row != full[name]:
            raise PartitionError(f"slices of {name!r} cover {row} of its {full[name]} rows")
        merged[name] = np.concatenate([arr for _, arr in parts], axis=2)
    return merged
