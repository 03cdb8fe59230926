"""Spatial slicing (DINA-P point 2): split a run of spatially local ops along H, with halos.

The flow, for a stage that is a run of compute nodes [start, stop):

    runs = find_runs(graph)                       # maximal splittable runs
    run = spatial_run(graph, start, stop)         # or any sub-range the planner picked
    specs = plan_slices(run, slices_for_rows([10, 0, 6]))   # rows of run.primary
    model = slice_model(graph, run, spec)         # the same nodes, H made the slice's own
    feeds = split_inputs(full_inputs, spec)       # source side: input rows incl. halo
    kept = crop_outputs(runner(model, feeds), spec)         # worker side: drop garbage rows
    merged = merge_outputs([kept, ...], specs, cropped=True)  # source side: concat along H

A worker that knows only (start, stop, output rows) builds the same spec and a model whose
outputs are already cropped with `slice_task(graph, start, stop, rows)`.

Row ranges refer to the run's primary output (`run.primary`, made by the run's last node);
other outputs of the run (a skip tensor leaving mid-run) get the proportional rows of their
own height. Which rows are right is decided per row by `fognet.partition.halo`, so a slice's
rows are either exactly the unsplit model's or cropped. A `SliceSpec` is all a worker needs
besides its copy of the model: it serialises to a small JSON-safe dict.

Node attributes are kept, except two rewrites that are exact on the full image and keep
slices consistent: `auto_pad=SAME_*` becomes the explicit pads of the full image (a slice
would otherwise pad for its own height), and Resize `sizes` becomes `scales`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition import halo
from fognet.partition.extract import build_submodel, constant_closure, value_info
from fognet.partition.halo import (
    SHIFT_INVARIANT_MODES,
    Geometry,
    Linear,
    Nearest,
    Pointwise,
    Range,
    Shift,
    Step,
    Transposed,
    Window,
)

log = logging.getLogger(__name__)

Runner = Callable[[onnx.ModelProto, dict[str, np.ndarray]], Mapping[str, np.ndarray]]

POINTWISE = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
    "Softplus", "Softsign", "Mish", "Gelu", "Clip", "Abs", "Neg", "Exp", "Log", "Sqrt",
    "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Cast", "Identity", "Dropout",
    "ThresholdedRelu", "Sign", "BatchNormalization", "LRN", "Shrink",
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu",
}
CHANNEL_SOFTMAX = {"Softmax", "LogSoftmax", "Hardmax"}
SPARE_OUTPUTS = {"Dropout", "MaxPool"}  # second outputs that are fine when unused
MEMO_SIZE = 4096  # row plans remembered per run


# ----------------------------------------------------------------------------- runs


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


def node_geometries(graph: ModelGraph) -> tuple[Geometry | None, ...]:
    """Per compute node, its row arithmetic, or None where the node ends a run."""
    consts = _Constants(graph)
    used = {n for node in graph.nodes for n in node.input} | {o.name for o in graph.outputs}
    result = []
    for node in graph.nodes:
        try:
            geometry = _geometry(graph, node, consts, used)
        except (KeyError, ValueError, IndexError, TypeError, RuntimeError) as exc:
            log.debug("node %s (%s) is not spatial: %s", node.name, node.op_type, exc)
            geometry = None
        result.append(geometry)
    return tuple(result)


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
        Step(_data_inputs(graph, graph.nodes[p]), graph.nodes[p].output[0], geometries[p]) for p in live
    )
    names = {n for step in steps for n in (*step.inputs, step.output)}
    heights = tuple((n, graph.tensors[n].shape[2]) for n in sorted(names))
    run = SpatialRun(start, stop, tuple(i for i in inputs if i in names), outputs, steps, heights, live)
    if check and run.height >= 2:
        plan_slices(run, [(0, run.height // 2), (run.height // 2, run.height)])
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


# ----------------------------------------------------------------------------- slices


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
    return [_spec(run, r) for r in ranges]


def _plan_one(run: SpatialRun, rows: Range) -> halo.RowPlan:
    heights = run.heights
    wanted = {}
    for name, (lo, hi) in run.output_rows(rows).items():
        if lo >= hi:  # this output gets no rows here, but the slice still computes it
            lo = min(lo, heights[name] - 1)
            hi = lo + 1
        wanted[name] = (lo, hi)
    return halo.plan_rows(run.steps, heights, run.inputs, wanted)


def _spec(run: SpatialRun, rows: Range) -> SliceSpec:
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


# ----------------------------------------------------------------------------- sub-models


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
    heights = run.heights
    in_h: dict[str, int | str] = {name: f"H_{k}" for k, name in enumerate(run.inputs)}
    out_h: dict[str, int | str] = {name: f"H_out_{k}" for k, name in enumerate(run.outputs)}
    if spec is not None:
        in_h.update({i.name: i.stop - i.start for i in spec.inputs})
        out_h.update({o.name: o.crop_stop - o.crop_start if crop else o.height for o in spec.outputs})
    consts = _Constants(graph)
    nodes, extra = [], []
    for pos in run.positions:
        new, inits = _rewrite(graph, graph.nodes[pos], consts, heights)
        nodes.append(new)
        extra.extend(inits)
    if crop and spec is not None:
        nodes, inits = _cropped(nodes, spec, _opset(graph))
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
    spec = _spec(run, (int(rows[0]), int(rows[1])))
    return spec, slice_model(graph, run, spec, cache, crop=True)


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


def _rewrite(
    graph: ModelGraph, node: onnx.NodeProto, consts: _Constants, heights: Mapping[str, int]
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """A copy of the node that computes the same on slices (see the module docstring)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    auto_pad = _text(attrs.get("auto_pad", b"NOTSET"))
    if node.op_type in ("Conv", "MaxPool", "AveragePool", "LpPool") and auto_pad not in ("NOTSET", "VALID"):
        new = onnx.NodeProto()
        new.CopyFrom(node)
        _, pads = _window_params(graph, node, attrs)
        kept = [a for a in new.attribute if a.name != "auto_pad"]
        del new.attribute[:]
        new.attribute.extend([*kept, helper.make_attribute("pads", pads)])
        return new, []
    if node.op_type == "Resize" and len(node.input) > 3 and node.input[3]:
        x = node.input[0]
        sizes = consts.value(node.input[3])
        in_shape = graph.tensors[x].shape
        scales = np.array([s / i for s, i in zip(sizes, in_shape, strict=True)], dtype=np.float32)
        init = numpy_helper.from_array(scales, f"{node.name}__fognet_scales")
        new = onnx.NodeProto()
        new.CopyFrom(node)
        del new.input[:]
        new.input.extend([x, node.input[1], init.name])
        return new, [init]
    return node, []


# ----------------------------------------------------------------------------- node geometry


class _Constants:
    """Values and shapes of constant tensors (initialisers, Constant nodes, constant subgraphs)."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self.inits = {i.name: i for i in graph.model.graph.initializer}
        self.infos = {vi.name: vi for vi in graph.model.graph.value_info}

    def value(self, name: str) -> np.ndarray:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        if not self.graph.is_constant(name):
            raise ValueError(f"{name!r} is computed from the input, not a constant")
        from onnx.reference import ReferenceEvaluator

        nodes, inits = constant_closure(self.graph, {name})
        sub = helper.make_graph(
            nodes, "const", [], [onnx.ValueInfoProto(name=name)],
            initializer=[self.inits[i] for i in inits],
        )
        model = helper.make_model(sub, opset_imports=list(self.graph.model.opset_import))
        return np.asarray(ReferenceEvaluator(model).run(None, {})[0])

    def shape(self, name: str) -> tuple[int, ...]:
        if name in self.inits:
            return tuple(self.inits[name].dims)
        vi = self.infos.get(name)
        if vi is not None and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                return tuple(d.dim_value for d in dims)
        return tuple(self.value(name).shape)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _opset(graph: ModelGraph) -> int:
    for imp in graph.model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def _data_inputs(graph: ModelGraph, node: onnx.NodeProto) -> tuple[str, ...]:
    return tuple(n for n in node.input if n and not graph.is_constant(n))


def _geometry(
    graph: ModelGraph, node: onnx.NodeProto, consts: _Constants, used: set[str]
) -> Geometry | None:
    outputs = [o for o in node.output if o]
    if node.op_type in SPARE_OUTPUTS:  # a Dropout mask or MaxPool indices nobody reads
        outputs = outputs[:1] + [o for o in outputs[1:] if o in used]
    if node.domain not in ("", "ai.onnx") or len(outputs) != 1 or node.output[0] not in graph.tensors:
        return None
    out = graph.tensors[outputs[0]]
    data = _data_inputs(graph, node)
    if len(out.shape) != 4 or out.nbytes < 0 or not data:
        return None
    infos = [graph.tensors.get(n) for n in data]
    if any(i is None or len(i.shape) != 4 or i.nbytes < 0 for i in infos):
        return None
    h_in = infos[0].shape[2]
    geometry = _node_geometry(graph, node, consts, data, h_in, out.shape[2])
    if geometry is None or geometry.out_len(h_in) != out.shape[2]:
        return None
    return geometry


def _node_geometry(
    graph: ModelGraph, node: onnx.NodeProto, consts: _Constants, data: tuple[str, ...], h_in: int, h_out: int
) -> Geometry | None:
    op = node.op_type
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if op in POINTWISE or op == "Concat" or op in CHANNEL_SOFTMAX:
        return _pointwise(graph, node, consts, data, attrs, h_out)
    if len(data) != 1 or node.input[0] != data[0]:
        return None  # weights, scales, pads computed from the input
    if op in ("Conv", "MaxPool", "AveragePool", "LpPool"):
        (k, s, d, ceil), pads = _window_params(graph, node, attrs)
        return Window(k, s, d, pads[0], pads[2], ceil)
    if op == "SpaceToDepth":
        b = int(attrs["blocksize"])
        return Window(b, b)
    if op == "DepthToSpace":
        return Nearest(int(attrs["blocksize"]))
    if op == "ConvTranspose":
        return _transposed(node, consts, attrs)
    if op in ("Resize", "Upsample"):
        return _resize(graph, node, consts, attrs, h_in, h_out)
    if op == "Pad":
        return _pad(graph, node, consts, attrs)
    return None


def _pointwise(graph, node, consts, data, attrs, h_out) -> Geometry | None:
    op = node.op_type
    if op == "Concat" and int(attrs["axis"]) not in (1, -3):
        return None
    if op in CHANNEL_SOFTMAX and (_opset(graph) < 13 or int(attrs.get("axis", -1)) not in (1, -3)):
        return None
    if op == "BatchNormalization" and int(attrs.get("training_mode", 0)):
        return None
    if any(graph.tensors[n].shape[2] != h_out for n in data):
        return None  # broadcast along H (an attention map): not a row-local op
    for name in node.input:
        if name and name not in data:
            shape = consts.shape(name)
            if op == "Concat" or (len(shape) >= 2 and shape[-2] != 1 and op != "BatchNormalization"):
                return None  # a constant that varies along H would need slicing too
    return Pointwise()


def _window_params(graph: ModelGraph, node: onnx.NodeProto, attrs: dict) -> tuple[tuple, list[int]]:
    """((kernel, stride, dilation, ceil_mode) along H, pads [t, l, b, r]) with auto_pad resolved."""
    if "kernel_shape" in attrs:
        kernel = list(attrs["kernel_shape"])
    else:
        kernel = list(_Constants(graph).shape(node.input[1])[2:])
    if len(kernel) != 2:
        raise ValueError("only 2-D windows")
    strides = list(attrs.get("strides", [1, 1]))
    dilations = list(attrs.get("dilations", [1, 1]))
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    auto_pad = _text(attrs.get("auto_pad", b"NOTSET"))
    ceil = bool(attrs.get("ceil_mode", 0))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        shape = graph.tensors[node.input[0]].shape
        pads = [0, 0, 0, 0]
        for axis in (0, 1):
            n, k, s, d = shape[2 + axis], kernel[axis], strides[axis], dilations[axis]
            total = max(0, (-(-n // s) - 1) * s + d * (k - 1) + 1 - n)
            head = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads[axis], pads[2 + axis] = head, total - head
    elif auto_pad == "VALID":
        pads = [0, 0, 0, 0]
    return (kernel[0], strides[0], dilations[0], ceil), pads


def _transposed(node, consts, attrs) -> Geometry | None:
    if "output_shape" in attrs or _text(attrs.get("auto_pad", b"NOTSET")) not in ("NOTSET", "VALID"):
        return None
    kernel = list(attrs.get("kernel_shape", consts.shape(node.input[1])[2:]))
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if _text(attrs.get("auto_pad", b"NOTSET")) == "VALID":
        pads = [0, 0, 0, 0]
    stride = list(attrs.get("strides", [1, 1]))[0]
    dilation = list(attrs.get("dilations", [1, 1]))[0]
    out_pad = list(attrs.get("output_padding", [0, 0]))[0]
    return Transposed(kernel[0], stride, dilation, pads[0], pads[2], out_pad)


def _resize(graph, node, consts, attrs, h_in, h_out) -> Geometry | None:
    mode = _text(attrs.get("mode", b"nearest"))
    if mode not in ("nearest", "linear", "bilinear"):
        return None
    opset = _opset(graph)
    if node.op_type == "Upsample" or opset < 11:
        coord, rounding = "asymmetric", "floor"
    else:
        coord = _text(attrs.get("coordinate_transformation_mode", b"half_pixel"))
        rounding = _text(attrs.get("nearest_mode", b"round_prefer_floor"))
        if coord not in SHIFT_INVARIANT_MODES or "axes" in attrs or int(attrs.get("antialias", 0)):
            return None
    if node.op_type == "Upsample" and "scales" in attrs:
        scales = list(attrs["scales"])
    elif node.op_type == "Upsample" or opset < 11:
        scales = list(consts.value(node.input[1]))
    else:
        scales = list(consts.value(node.input[2])) if len(node.input) > 2 and node.input[2] else []
        if not scales:  # sizes: slices get the same as scales (see _rewrite), if exact in W
            sizes = list(consts.value(node.input[3]))
            shape = graph.tensors[node.input[0]].shape
            scales = [s / i for s, i in zip(sizes, shape, strict=True)]
            if int(np.floor(shape[3] * np.float32(scales[3]))) != sizes[3]:
                return None
    if len(scales) != 4 or scales[0] != 1 or scales[1] != 1:
        return None
    factor = int(round(float(scales[2])))
    if factor < 1 or abs(float(scales[2]) - factor) > 1e-6 or h_out != h_in * factor:
        return None
    if mode != "nearest":
        return Linear(factor, coord)
    return Nearest(factor, coord, rounding)


def _pad(graph, node, consts, attrs) -> Geometry | None:
    if _opset(graph) < 11:
        pads = list(attrs["pads"])
    else:
        if len(node.input) > 3 and node.input[3]:
            return None  # axes input (opset 18): keep it simple
        pads = [int(p) for p in consts.value(node.input[1])]
    mode = _text(attrs.get("mode", b"constant"))
    if len(pads) != 8 or pads[0] or pads[4] or mode not in ("constant", "edge", "reflect"):
        return None
    return Shift(pads[2], pads[6], mode)
