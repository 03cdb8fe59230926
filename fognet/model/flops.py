"""FLOPs per node, from static shapes alone: the cost basis when no profile was measured.

The splitter balances FLOPs when it has no measured times, and `fognet models` shows
GFLOPs, so the counts follow one documented convention rather than any one paper's:

- a multiply-add counts 2 (Conv, ConvTranspose, Gemm, MatMul, LRN's window sum);
- a bias add counts 1 per output element;
- Conv counts `2 * out elements * (C_in / groups) * kernel elements`; dilation spreads the
  kernel but does not change how many products each output needs, so it adds nothing;
- ConvTranspose counts `2 * in elements * (C_out / groups) * kernel elements` (every
  input element is scattered through the kernel);
- pooling counts kernel elements per output element (a compare or an add each);
  the global pools therefore count their input elements;
- BatchNormalization in inference folds to `x * scale' + shift'`: 2 per element;
- element-wise ops count 1 per output element and per extra operand (Sum of 3 inputs: 2);
- Softmax / LogSoftmax count 3 per element (exp, sum, divide);
- LRN counts `2 * size + 3` per element (square-and-sum the window, scale, power, divide);
- reductions (ReduceMean, ArgMax, ...) count their input elements;
- data movement (Concat, Reshape, Flatten, Transpose, Pad, Slice, Gather, Split, Squeeze,
  Identity, Cast, Shape, ...) counts 0: it does no arithmetic. Its real cost is memory
  traffic, which a measured profile captures and `estimate_profile` prices by bytes;
- Resize counts 0 in "nearest" mode; in "linear"/"cubic" mode, 3 per lerp and
  `2**k - 1` lerps per output element for k resized axes;
- any other op counts its output elements (one operation per result), a deliberately
  modest fallback so an unknown op neither vanishes nor dominates.

A node whose shapes are unknown counts 0 (and is logged): FLOPs are an estimate, and
`fognet.model.graph.analyse` measures any shape static inference misses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import onnx
from onnx import helper

if TYPE_CHECKING:
    from fognet.model.graph import ModelGraph

log = logging.getLogger(__name__)

Shapes = Mapping[str, tuple[int, ...]]

ZERO_COST = frozenset(
    {
        "Concat", "Reshape", "Flatten", "Transpose", "Pad", "Slice", "Gather", "GatherElements",
        "GatherND", "Split", "Squeeze", "Unsqueeze", "Identity", "Cast", "CastLike", "Shape",
        "Size", "Expand", "Tile", "Dropout", "Constant", "ConstantOfShape", "DepthToSpace",
        "SpaceToDepth", "ScatterND", "ScatterElements", "NonZero", "Range", "Compress",
        "Unique", "OneHot", "TopK",
    }
)
ELEMENTWISE = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu",
        "Celu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign",
        "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign",
        "Erf", "Gelu", "Mish", "Sin", "Cos", "Not", "And", "Or", "Xor", "Equal", "Less",
        "LessOrEqual", "Greater", "GreaterOrEqual", "Where", "ThresholdedRelu", "Sum", "Max",
        "Min", "Mean", "IsNaN", "IsInf", "BitShift", "QuantizeLinear", "DequantizeLinear",
    }
)
VARIADIC = frozenset({"Sum", "Max", "Min", "Mean"})
POOLS = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOLS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
SOFTMAX = frozenset({"Softmax", "LogSoftmax", "Hardmax"})
REDUCTIONS = frozenset(
    {
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
    }
)


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _attr(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _has_input(node: onnx.NodeProto, i: int) -> bool:
    return len(node.input) > i and bool(node.input[i])


def _conv(node: onnx.NodeProto, shapes: Shapes, out: tuple[int, ...]) -> int:
    weight = shapes[node.input[1]]  # (C_out, C_in / groups, k...)
    per_output = _numel(weight[1:])
    bias = _numel(out) if _has_input(node, 2) else 0
    return 2 * _numel(out) * per_output + bias


def _conv_transpose(node: onnx.NodeProto, shapes: Shapes, out: tuple[int, ...]) -> int:
    x = shapes[node.input[0]]
    weight = shapes[node.input[1]]  # (C_in, C_out / groups, k...)
    per_input = _numel(weight[1:])
    bias = _numel(out) if _has_input(node, 2) else 0
    return 2 * _numel(x) * per_input + bias


def _gemm(node: onnx.NodeProto, shapes: Shapes, out: tuple[int, ...]) -> int:
    a = shapes[node.input[0]]
    k = a[0] if _attr(node, "transA", 0) else a[-1]
    bias = _numel(out) if _has_input(node, 2) else 0
    return 2 * _numel(out) * k + bias


def _matmul(node: onnx.NodeProto, shapes: Shapes, out: tuple[int, ...]) -> int:
    a = shapes[node.input[0]]
    return 2 * _numel(out) * a[-1]


def _pool(node: onnx.NodeProto, shapes: Shapes, out: tuple[int, ...]) -> int:
    kernel = _attr(node, "kernel_shape", None) or ()
    return _numel(out) * _numel(tuple(kernel))


def _resize(node: onnx.NodeProto, shapes: Shapes, out: tuple[int, ...]) -> int:
    mode = _attr(node, "mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode == "nearest":
        return 0
    x = shapes.get(node.input[0], ())
    resized = sum(1 for a, b in zip(x, out, strict=False) if a != b) if x else len(out) - 2
    return _numel(out) * 3 * (2 ** max(resized, 0) - 1)


def node_flops(node: onnx.NodeProto, shapes: Shapes) -> int:
    """FLOPs of one node under the module's convention; `shapes` maps tensor name -> shape.

    `shapes` must hold the node's output and, for Conv/Gemm/MatMul and friends, its inputs
    (weights included). Missing shapes give 0.
    """
    op = node.op_type
    if op in ZERO_COST:
        return 0
    out = shapes.get(node.output[0]) if node.output else None
    try:
        return _counted(node, shapes, op, out)
    except (KeyError, IndexError, TypeError):
        log.debug("no shapes to count FLOPs of %s (%s); counting 0", node.name, op)
        return 0


def _counted(node: onnx.NodeProto, shapes: Shapes, op: str, out: tuple[int, ...] | None) -> int:
    if out is None:
        raise KeyError(node.output[0] if node.output else op)
    special = _SPECIAL.get(op)
    if special is not None:
        return special(node, shapes, out)
    if op in POOLS:
        return _pool(node, shapes, out)
    if op in GLOBAL_POOLS or op in REDUCTIONS:
        return _numel(shapes[node.input[0]])
    if op in VARIADIC:
        return _numel(out) * max(1, sum(1 for i in node.input if i) - 1)
    if op in ELEMENTWISE:
        return _numel(out)
    if op in SOFTMAX:
        return 3 * _numel(out)
    if op == "BatchNormalization" or op == "InstanceNormalization":
        return 2 * _numel(out)
    if op == "LRN":
        return (2 * int(_attr(node, "size", 1)) + 3) * _numel(out)
    return _numel(out)


_SPECIAL = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Resize": _resize,
    "Upsample": _resize,
}


def tensor_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Static shapes of every tensor the model declares: inputs, value_info, outputs, weights.

    Dimensions that are not concrete make the shape absent, so counts never use a guess.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    graph = model.graph
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
            shapes[vi.name] = tuple(d.dim_value for d in dims)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            value = _attr(node, "value", None)
            if isinstance(value, onnx.TensorProto):
                shapes[node.output[0]] = tuple(value.dims)
    return shapes


def _with_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    if model.graph.value_info:
        return model
    return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)


def model_flops(model: onnx.ModelProto) -> int:
    """Total FLOPs of the model's compute nodes (constant-only subgraphs excluded).

    Runs shape inference first when the model carries no value_info.
    """
    from fognet.model.graph import ModelGraph

    model = _with_shapes(model)
    graph = ModelGraph(model)
    shapes = tensor_shapes(model)
    return sum(node_flops(node, shapes) for node in graph.nodes)


def graph_node_flops(graph: ModelGraph) -> list[int]:
    """FLOPs of each compute node of an analysed graph, in its topological order.

    Uses the graph's tensor sizes, which `analyse` completes by running the model where
    static inference could not.
    """
    shapes = tensor_shapes(graph.model)
    shapes.update({name: t.shape for name, t in graph.tensors.items() if t.nbytes >= 0})
    return [node_flops(node, shapes) for node in graph.nodes]
