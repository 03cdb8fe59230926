"""Rewriting a sliced run as ONNX: the sub-model a slice runs, with H made the slice's own.

`slice_model` builds the run's live nodes (as `fognet.partition.spatial_ops.rewrite_nodes`
gives them) into a model whose boundary tensors have the slice's heights, or symbolic
heights so that one model serves every slice. A worker that knows only (start, stop, output
rows) builds the same spec as the source and a model whose outputs are already cropped with
`slice_task(graph, start, stop, rows)`. `run_split` is the reference data flow, every slice
run in turn and merged:

    run = spatial_run(graph, start, stop)                   # fognet.partition.spatial_runs
    spec, model = slice_task(graph, start, stop, rows)      # what a worker runs
    merged = run_split(graph, run, [(0, 10), (10, 16)], feeds, runner)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition.extract import build_submodel, value_info
from fognet.partition.halo import Range
from fognet.partition.row_geometry import Geometry
from fognet.partition.spatial_ops import onnx_opset, rewrite_nodes
from fognet.partition.spatial_runs import SpatialRun, spatial_run
from fognet.partition.spatial_slices import (
    SliceSpec,
    crop_outputs,
    merge_outputs,
    plan_slices,
    slice_spec,
    split_inputs,
)

Runner = Callable[[onnx.ModelProto, dict[str, np.ndarray]], Mapping[str, np.ndarray]]


def slice_model(
    graph: ModelGraph,
    run: SpatialRun,
    spec: SliceSpec | None = None,
    cache: dict | None = None,
    *,
    crop: bool = False,
) -> onnx.ModelProto:
    """The run's nodes as a model whose boundary tensors have the slice's H (symbolic if None).

    With `crop` (a spec is then required) the model ends in Slice nodes that keep only the
    spec's valid rows, so a worker returns exactly the rows the source merges. `cache`, if
    given, is the caller's dict keyed by (start, stop, input heights or None, crop or None).
    """
    if crop and spec is None:
        raise PartitionError("a cropped slice model needs the slice's SliceSpec")
    crops = tuple((o.crop_start, o.crop_stop) for o in spec.outputs) if crop and spec else None
    key = (run.start, run.stop, None if spec is None else spec.input_heights, crops)
    if cache is not None and key in cache:
        return cache[key]
    in_h: dict[str, int | str] = {name: f"H_{k}" for k, name in enumerate(run.inputs)}
    out_h: dict[str, int | str] = {name: f"H_out_{k}" for k, name in enumerate(run.outputs)}
    if spec is not None:
        in_h.update({i.name: i.stop - i.start for i in spec.inputs})
        out_h.update({o.name: o.crop_stop - o.crop_start if crop else o.height for o in spec.outputs})
    nodes, extra = rewrite_nodes(graph, run.positions)
    if crop and spec is not None:
        nodes, inits = _cropped(nodes, spec, onnx_opset(graph))
        extra.extend(inits)
    model = build_submodel(
        graph,
        nodes,
        [value_info(graph.tensors[n], _with_h(graph, n, in_h[n])) for n in run.inputs],
        [value_info(graph.tensors[n], _with_h(graph, n, out_h[n])) for n in run.outputs],
        name=f"{graph.model.graph.name or 'model'}_{run.start}_{run.stop}_slice",
    )
    model.graph.initializer.extend(extra)
    if cache is not None:
        cache[key] = model
    return model


def slice_task(
    graph: ModelGraph,
    start: int,
    stop: int,
    rows: Range,
    geometries: Sequence[Geometry | None] | None = None,
    cache: dict | None = None,
) -> tuple[SliceSpec, onnx.ModelProto]:
    """What a worker runs for output rows `rows` of stage [start, stop), from its own model copy.

    The spec depends on nothing but (start, stop, rows), so source and worker derive the same
    one. The model has static heights and its outputs are already cropped: feed it
    `split_inputs(full, spec)`, and its outputs are the unsplit rows `spec.outputs[i].row_start`
    onwards, ready for `merge_outputs(..., cropped=True)`.
    """
    run = spatial_run(graph, start, stop, geometries, check=False)
    spec = slice_spec(run, (int(rows[0]), int(rows[1])))
    return spec, slice_model(graph, run, spec, cache, crop=True)


def run_split(
    graph: ModelGraph,
    run: SpatialRun,
    row_ranges: Sequence[Range],
    feeds: Mapping[str, np.ndarray],
    runner: Runner,
    cache: dict | None = None,
) -> dict[str, np.ndarray]:
    """Run every slice in turn with `runner(model, feeds)` and merge: the reference data flow."""
    specs = plan_slices(run, row_ranges)
    results = []
    for spec in specs:
        model = slice_model(graph, run, spec, cache)
        results.append(crop_outputs(runner(model, split_inputs(feeds, spec)), spec))
    return merge_outputs(results, specs, cropped=True)


def _cropped(
    nodes: Sequence[onnx.NodeProto], spec: SliceSpec, opset: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes with each output renamed `<name>__uncropped` and a Slice to the kept rows."""
    renamed = {o.name: f"{o.name}__uncropped" for o in spec.outputs}
    result, inits = [], []
    for node in nodes:
        new = onnx.NodeProto()
        new.CopyFrom(node)
        for names in (new.input, new.output):
            for k, name in enumerate(names):
                names[k] = renamed.get(name, name)
        result.append(new)
    for o in spec.outputs:
        starts, ends, axes = [o.crop_start], [o.crop_stop], [2]
        name = f"{o.name}__crop"
        if opset >= 10:
            consts = [
                numpy_helper.from_array(np.array(v, dtype=np.int64), f"{name}_{label}")
                for label, v in (("starts", starts), ("ends", ends), ("axes", axes))
            ]
            inits.extend(consts)
            slice_node = helper.make_node("Slice", [renamed[o.name], *(c.name for c in consts)], [o.name], name=name)
        else:
            slice_node = helper.make_node(
                "Slice", [renamed[o.name]], [o.name], name=name, starts=starts, ends=ends, axes=axes
            )
        result.append(slice_node)
    return result, inits


def _with_h(graph: ModelGraph, name: str, h: int | str) -> list[int | str]:
    shape = list(graph.tensors[name].shape)
    shape[2] = h
    return shape
