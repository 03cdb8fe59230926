"""Small hand-made ONNX graphs whose right answers are known, shared by several test files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fognet.model.load import normalise

OPSET = 17


def conv(name: str, x: str, y: str, cin: int, cout: int, k: int = 3, seed: int = 0, pad: int | None = None, stride: int = 1):
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array((rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32), f"{name}_w")
    b = numpy_helper.from_array((0.1 * rng.standard_normal(cout)).astype(np.float32), f"{name}_b")
    p = k // 2 if pad is None else pad
    node = helper.make_node("Conv", [x, w.name, b.name], [y], name=name, kernel_shape=[k, k], pads=[p] * 4, strides=[stride] * 2)
    return node, [w, b]


def make(nodes, inits, inputs, outputs, name="g") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    normalise(model)
    return model


def fin(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def residual_model() -> onnx.ModelProto:
    """x -> c1 -> a ; a -> c2 -> b ; add(a, b) -> s ; relu(s) -> y.   (a skips over c2)"""
    c1, i1 = conv("c1", "x", "a", 3, 8, seed=1)
    c2, i2 = conv("c2", "a", "b", 8, 8, seed=2)
    add = helper.make_node("Add", ["a", "b"], ["s"], name="add")
    relu = helper.make_node("Relu", ["s"], ["y"], name="relu")
    return make([c1, c2, add, relu], i1 + i2, [fin("x", [1, 3, 16, 16])], [fin("y", [1, 8, 16, 16])])


def branches_model() -> onnx.ModelProto:
    """Inception-like: x -> c0 -> t; t -> (c1 -> u, c2 -> v); concat(u, v) -> y; also out y2 = relu(t)."""
    c0, i0 = conv("c0", "x", "t", 3, 4, seed=3)
    c1, i1 = conv("c1", "t", "u", 4, 4, k=1, seed=4)
    c2, i2 = conv("c2", "t", "v", 4, 4, seed=5)
    cat = helper.make_node("Concat", ["u", "v"], ["y"], name="cat", axis=1)
    r = helper.make_node("Relu", ["t"], ["y2"], name="r")
    return make(
        [c0, c1, c2, cat, r], i0 + i1 + i2, [fin("x", [1, 3, 8, 8])],
        [fin("y", [1, 8, 8, 8]), fin("y2", [1, 4, 8, 8])],
    )


def constant_weights_model() -> onnx.ModelProto:
    """Weights made by ConstantOfShape + Mul (no initialiser holds them), as onnx's light models do."""
    shape = numpy_helper.from_array(np.array([4, 3, 3, 3], dtype=np.int64), "wshape")
    scale = numpy_helper.from_array(np.array(0.05, dtype=np.float32), "scale")
    gen = helper.make_node(
        "ConstantOfShape", ["wshape"], ["w0"], name="gen",
        value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]),
    )
    mul = helper.make_node("Mul", ["w0", "scale"], ["w"], name="mulw")
    c = helper.make_node("Conv", ["x", "w"], ["a"], name="conv", kernel_shape=[3, 3], pads=[1] * 4)
    k = helper.make_node("Constant", [], ["k"], name="k", value=helper.make_tensor("kv", TensorProto.FLOAT, [], [2.0]))
    m = helper.make_node("Mul", ["a", "k"], ["y"], name="muly")
    return make([gen, mul, c, k, m], [shape, scale], [fin("x", [1, 3, 8, 8])], [fin("y", [1, 4, 8, 8])])


def conv_chain_model() -> onnx.ModelProto:
    """conv3x3 -> relu -> conv3x3 (stride 2) -> relu -> maxpool 2 -> conv1x1: all spatial."""
    c1, i1 = conv("k1", "x", "a", 3, 4, seed=6)
    r1 = helper.make_node("Relu", ["a"], ["b"], name="r1")
    c2, i2 = conv("k2", "b", "c", 4, 6, seed=7, stride=2)
    r2 = helper.make_node("Relu", ["c"], ["d"], name="r2")
    mp = helper.make_node("MaxPool", ["d"], ["e"], name="mp", kernel_shape=[2, 2], strides=[2, 2])
    c3, i3 = conv("k3", "e", "y", 6, 4, k=1, seed=8)
    return make([c1, r1, c2, r2, mp, c3], i1 + i2 + i3, [fin("x", [1, 3, 32, 32])], [fin("y", [1, 4, 8, 8])])


def save(model: onnx.ModelProto, path: Path) -> tuple[Path, str]:
    """Write `model` as a real .onnx file; returns the path and the file's sha256."""
    onnx.save(model, str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()
