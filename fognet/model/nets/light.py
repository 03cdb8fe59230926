"""onnx's shipped `light_*` test graphs, turned into normal models with seeded weights.

onnx ships nine well-known architectures under `onnx/backend/test/data/light/` without
their weights: most parameters are made at run time by ConstantOfShape(0.02) from
`*__SHAPE` inputs, a few are reshaped or unsqueezed on the way, and IR 3 lists every
initialiser as a graph input too. With every weight 0.02 the outputs say nothing, so:

- each parameter becomes an initialiser of its final shape (the generator and any
  Reshape/Unsqueeze of it are folded away), drawn by its role (see `init`): Conv/Gemm
  weights He-scaled by fan-in, biases small, BatchNorm scale ~1, shift ~0, mean ~0,
  variance ~1, a Mul operand ~1, an Add operand ~0. The few parameters onnx stored with
  real values are redrawn by the same rule, so one seed determines the whole model and a
  trained BatchNorm statistic never meets a random convolution;
- inputs and initialisers nothing uses any more (`OC2_DUMMY_*`, `*__SHAPE`, a stray
  `imagenet1k_blobs_queue_*`) are dropped, initialisers are not listed as inputs;
- IR goes to 8; the opset (9) is kept, which onnx and onnxruntime still support.

`slim` caps the hidden width of a chain of Gemm layers (every Gemm but the last) at 256,
so VGG-19, ZFNet and BVLC AlexNet keep their conv body without 100M+ FC parameters.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fognet.errors import ModelError
from fognet.model.nets import init

log = logging.getLogger(__name__)

IR_VERSION = 8
SLIM_FC = 256
PRODUCER = "fognet.zoo"
Shape = tuple[int, ...]


def light_dir() -> Path:
    return Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"


def source_path(stem: str) -> Path:
    path = light_dir() / f"{stem}.onnx"
    if not path.is_file():
        raise ModelError(f"{path} is missing from this onnx install ({onnx.__version__}); reinstall onnx")
    return path


def convert(stem: str, seed: int, slim: bool = False) -> onnx.ModelProto:
    """The light model `stem` (e.g. "light_resnet50") with seeded weights; see module docstring."""
    model = onnx.load(source_path(stem))
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.data_type != TensorProto.FLOAT}
    params = {t.name: tuple(t.dims) for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    kept = [node for node in graph.node if not _fold(node, params, constants)]
    if slim:
        _slim_gemms(kept, params)
    gammas = _residual_gammas(kept)
    rectified = _rectified(kept, [vi.name for vi in graph.input], params, constants)
    initialisers = _initialisers(kept, params, constants, seed, gammas, rectified)
    names = {t.name for t in initialisers}
    used = {name for node in kept for name in node.input}
    inputs = [vi for vi in graph.input if vi.name in used and vi.name not in names]
    new_graph = helper.make_graph(
        kept, graph.name or stem, inputs, list(graph.output), initializer=initialisers,
        doc_string=f"{stem} from onnx's backend test data, with seeded weights",
    )
    return helper.make_model(
        new_graph, opset_imports=list(model.opset_import), producer_name=PRODUCER, ir_version=IR_VERSION
    )


def _fold(node: onnx.NodeProto, params: dict[str, Shape], constants: dict[str, np.ndarray]) -> bool:
    """Record what a weight-making node makes (a parameter's shape) and say whether to drop it."""
    op, inputs = node.op_type, list(node.input)
    if op == "ConstantOfShape" and inputs and inputs[0] in constants:
        params[node.output[0]] = tuple(int(d) for d in constants[inputs[0]])
        return True
    if op == "Reshape" and inputs[0] in params and len(inputs) > 1 and inputs[1] in constants:
        params[node.output[0]] = _reshaped(params[inputs[0]], constants[inputs[1]])
        return True
    if op == "Unsqueeze" and inputs[0] in params and len(inputs) == 1:
        axes = next(helper.get_attribute_value(a) for a in node.attribute if a.name == "axes")
        params[node.output[0]] = _unsqueezed(params[inputs[0]], axes)
        return True
    return False


def _reshaped(shape: Shape, target: np.ndarray) -> Shape:
    dims = [shape[i] if int(d) == 0 else int(d) for i, d in enumerate(target)]
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(shape) // known
    return tuple(dims)


def _unsqueezed(shape: Shape, axes: Sequence[int]) -> Shape:
    rank = len(shape) + len(axes)
    positions = sorted(a % rank for a in axes)
    dims = list(shape)
    for axis in positions:
        dims.insert(axis, 1)
    return tuple(dims)


def _slim_gemms(nodes: Sequence[onnx.NodeProto], params: dict[str, Shape]) -> None:
    """Cap every Gemm's output width but the last at SLIM_FC; the next Gemm's input follows."""
    gemms = [n for n in nodes if n.op_type == "Gemm" and n.input[1] in params]
    previous_width: int | None = None
    for index, node in enumerate(gemms):
        trans_b = _attr(node, "transB", 0)
        n_axis, k_axis = (0, 1) if trans_b else (1, 0)
        weight = list(params[node.input[1]])
        if previous_width is not None:
            weight[k_axis] = previous_width
        if index < len(gemms) - 1:
            weight[n_axis] = min(weight[n_axis], SLIM_FC)
            if len(node.input) > 2 and node.input[2] in params:
                params[node.input[2]] = (weight[n_axis],)
        params[node.input[1]] = tuple(weight)
        previous_width = weight[n_axis]


def _initialisers(
    nodes: Sequence[onnx.NodeProto], params: dict[str, Shape], constants: dict[str, np.ndarray],
    seed: int, gammas: dict[str, float], rectified: set[str],
) -> list[TensorProto]:
    """Every tensor the kept nodes read from weights, in order of first use."""
    out: list[TensorProto] = []
    seen: set[str] = set()
    for node in nodes:
        for index, name in enumerate(node.input):
            if name in seen or not (name in params or name in constants):
                continue
            seen.add(name)
            if name in params:
                gamma = gammas.get(node.output[0], 1.0)
                linear = node.input[0] not in rectified
                out.append(_draw(seed, name, params[name], node, index, gamma, linear))
            else:
                out.append(numpy_helper.from_array(constants[name], name))
    return out


def _residual_gammas(nodes: Sequence[onnx.NodeProto]) -> dict[str, float]:
    """BatchNorm scales for outputs that feed a residual sum, so depth does not blow up.

    With untrained running statistics BatchNorm does not renormalise, and each residual
    sum adds a branch's energy to the skip's. A branch summed with an identity skip
    starts at init.RESIDUAL_GAMMA; k BatchNorm outputs summed together (a projection shortcut
    plus its branch) get 1/sqrt(k) each, so the sum keeps their size.
    """
    producer = {out: node.op_type for node in nodes for out in node.output}
    gammas: dict[str, float] = {}
    for node in nodes:
        if node.op_type not in ("Sum", "Add"):
            continue
        normed = [x for x in node.input if producer.get(x) == "BatchNormalization"]
        identity = len(normed) < len(node.input)
        for x in normed:
            gammas[x] = init.RESIDUAL_GAMMA if identity else 1.0 / math.sqrt(len(normed))
    return gammas


def _rectified(
    nodes: Sequence[onnx.NodeProto], inputs: Sequence[str], params: dict[str, Shape],
    constants: dict[str, np.ndarray],
) -> set[str]:
    """Tensors that are non-negative: the image input and what rectifiers and pools make of it."""
    rectified = {name for name in inputs if name not in params and name not in constants}
    for node in nodes:
        data = [name for name in node.input if name and name not in params and name not in constants]
        if node.op_type in init.RECTIFIERS or (
            node.op_type in init.KEEPS_RECTIFIED and all(name in rectified for name in data)
        ):
            rectified.update(node.output)
    return rectified


def _draw(
    seed: int, name: str, shape: Shape, node: onnx.NodeProto, index: int, gamma: float,
    linear: bool,
) -> TensorProto:
    """A parameter's values, chosen by what reads it (its first consumer and input slot).

    A BatchNorm's scale centres on `gamma` (see `_residual_gammas`); a
    Conv/Gemm reading a tensor no rectifier produced gets gain 1 (see `init.he`).
    """
    op = node.op_type
    if op == "Conv" and index == 1:
        return init.he(seed, name, shape, init.conv_fan_in(shape), rectified=not linear)
    if op == "Gemm" and index == 1:
        fan_in = shape[1] if _attr(node, "transB", 0) else shape[0]
        return init.he(seed, name, shape, fan_in, rectified=not linear)
    if op == "BatchNormalization" and index == 1:
        return init.near(seed, name, shape, gamma)
    if op == "BatchNormalization" and index == 4:
        return init.near(seed, name, shape)
    if op == "Mul":
        return init.near(seed, name, shape)
    if op in ("Conv", "Gemm", "BatchNormalization", "Add", "Sum"):
        return init.small(seed, name, shape)
    log.info("parameter %s read by %s input %d: drawn small", name, op, index)
    return init.small(seed, name, shape)


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(helper.get_attribute_value(attr))
    return default
