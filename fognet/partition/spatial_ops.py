"""The per-op rules of spatial slicing: which ONNX nodes are local along H, and how.

`node_geometries` reads each compute node's op and attributes and answers with its row
arithmetic (a `fognet.partition.row_geometry` kind), or None where the node cannot be
split along H and so ends a run: Conv, ConvTranspose, pooling incl. ceil_mode,
element-wise ops and BatchNorm, channel Concat and Softmax, Resize/Upsample by an integer
factor, Pad, SpaceToDepth/DepthToSpace.

`rewrite_nodes` gives the nodes a slice model runs. Node attributes are kept, except two
rewrites that are exact on the full image and keep slices consistent: `auto_pad=SAME_*`
becomes the explicit pads of the full image (a slice would otherwise pad for its own
height), and Resize `sizes` becomes `scales`. Both rules sit here beside the geometry they
must agree with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from fognet.model.graph import ModelGraph
from fognet.partition.extract import constant_closure
from fognet.partition.row_geometry import (
    SHIFT_INVARIANT_MODES,
    Geometry,
    Linear,
    Nearest,
    Pointwise,
    Shift,
    Transposed,
    Window,
)

log = logging.getLogger(__name__)

POINTWISE = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
    "Softplus", "Softsign", "Mish", "Gelu", "Clip", "Abs", "Neg", "Exp", "Log", "Sqrt",
    "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Cast", "Identity", "Dropout",
    "ThresholdedRelu", "Sign", "BatchNormalization", "LRN", "Shrink",
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu",
}
CHANNEL_SOFTMAX = {"Softmax", "LogSoftmax", "Hardmax"}
SPARE_OUTPUTS = {"Dropout", "MaxPool"}  # second outputs that are fine when unused
WINDOW_OPS = {"Conv", "MaxPool", "AveragePool", "LpPool"}  # a 2-D window: kernel, strides, pads


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


def rewrite_nodes(
    graph: ModelGraph, positions: Sequence[int]
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes at `positions` as a slice model runs them, and the initialisers they add."""
    consts = _Constants(graph)
    nodes, extra = [], []
    for pos in positions:
        new, inits = _rewrite(graph, graph.nodes[pos], consts)
        nodes.append(new)
        extra.extend(inits)
    return nodes, extra


def onnx_opset(graph: ModelGraph) -> int:
    """The model's version of the default (ai.onnx) operator set; 1 when it names none."""
    for imp in graph.model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def data_inputs(graph: ModelGraph, node: onnx.NodeProto) -> tuple[str, ...]:
    """The node's inputs computed from the model's input (weights and constants left out)."""
    return tuple(n for n in node.input if n and not graph.is_constant(n))


def _rewrite(
    graph: ModelGraph, node: onnx.NodeProto, consts: _Constants
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """A copy of the node that computes the same on slices (see the module docstring)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type in WINDOW_OPS and _auto_pad(attrs) not in ("NOTSET", "VALID"):
        new = onnx.NodeProto()
        new.CopyFrom(node)
        _, pads = _window_params(graph, node, consts, attrs)
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


def _auto_pad(attrs: dict) -> str:
    return _text(attrs.get("auto_pad", b"NOTSET"))


def _geometry(
    graph: ModelGraph, node: onnx.NodeProto, consts: _Constants, used: set[str]
) -> Geometry | None:
    outputs = [o for o in node.output if o]
    if node.op_type in SPARE_OUTPUTS:  # a Dropout mask or MaxPool indices nobody reads
        outputs = outputs[:1] + [o for o in outputs[1:] if o in used]
    if node.domain not in ("", "ai.onnx") or len(outputs) != 1 or node.output[0] not in graph.tensors:
        return None
    out = graph.tensors[outputs[0]]
    data = data_inputs(graph, node)
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
    if op in WINDOW_OPS:
        (k, s, d, ceil), pads = _window_params(graph, node, consts, attrs)
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
    if op in CHANNEL_SOFTMAX and (onnx_opset(graph) < 13 or int(attrs.get("axis", -1)) not in (1, -3)):
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


def _window_params(
    graph: ModelGraph, node: onnx.NodeProto, consts: _Constants, attrs: dict
) -> tuple[tuple, list[int]]:
    """((kernel, stride, dilation, ceil_mode) along H, pads [t, l, b, r]) with auto_pad resolved."""
    kernel, strides, dilations, pads = _window_attrs(node, consts, attrs)
    auto_pad = _auto_pad(attrs)
    ceil = bool(attrs.get("ceil_mode", 0))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        shape = graph.tensors[node.input[0]].shape
        pads = [0, 0, 0, 0]
        for axis in (0, 1):
            n, k, s, d = shape[2 + axis], kernel[axis], strides[axis], dilations[axis]
            total = max(0, (-(-n // s) - 1) * s + d * (k - 1) + 1 - n)
            head = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads[axis], pads[2 + axis] = head, total - head
    return (kernel[0], strides[0], dilations[0], ceil), pads


def _window_attrs(node: onnx.NodeProto, consts: _Constants, attrs: dict) -> tuple[list[int], ...]:
    """(kernel, strides, dilations, pads) of a 2-D window op or ConvTranspose, the kernel from
    the weights when not given, the pads zero under auto_pad=VALID."""
    if "kernel_shape" in attrs:
        kernel = list(attrs["kernel_shape"])
    else:
        kernel = list(consts.shape(node.input[1])[2:])
    if len(kernel) != 2:
        raise ValueError("only 2-D windows")
    strides = list(attrs.get("strides", [1, 1]))
    dilations = list(attrs.get("dilations", [1, 1]))
    pads = [0, 0, 0, 0] if _auto_pad(attrs) == "VALID" else list(attrs.get("pads", [0, 0, 0, 0]))
    return kernel, strides, dilations, pads


def _transposed(node, consts, attrs) -> Geometry | None:
    if "output_shape" in attrs or _auto_pad(attrs) not in ("NOTSET", "VALID"):
        return None
    kernel, strides, dilations, pads = _window_attrs(node, consts, attrs)
    out_pad = list(attrs.get("output_padding", [0, 0]))[0]
    return Transposed(kernel[0], strides[0], dilations[0], pads[0], pads[2], out_pad)


def _resize(graph, node, consts, attrs, h_in, h_out) -> Geometry | None:
    mode = _text(attrs.get("mode", b"nearest"))
    if mode not in ("nearest", "linear", "bilinear"):
        return None
    opset = onnx_opset(graph)
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
    if onnx_opset(graph) < 11:
        pads = list(attrs["pads"])
    else:
        if len(node.input) > 3 and node.input[3]:
            return None  # axes input (opset 18): keep it simple
        pads = [int(p) for p in consts.value(node.input[1])]
    mode = _text(attrs.get("mode", b"constant"))
    if len(pads) != 8 or pads[0] or pads[4] or mode not in ("constant", "edge", "reflect"):
        return None
    return Shift(pads[2], pads[6], mode)
