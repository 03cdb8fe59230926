"""A small graph builder for the models the zoo makes in code.

Every helper appends one node (with a readable, unique name) and its seeded parameters,
and tracks the static shape of what it produces, so a builder can ask a tensor's channel
count or feature width instead of repeating the architecture's arithmetic. Building is
deterministic: nodes and initialisers are kept in the order they are made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fognet.model.nets import init

OPSET = 17
IR_VERSION = 8
PRODUCER = "fognet.zoo"
Shape = tuple[int, ...]


class GraphBuilder:
    """Collects nodes, seeded initialisers and shapes; `model()` returns the ModelProto (zoo.build checks it)."""

    def __init__(self, name: str, seed: int, input_shape: Shape, input_name: str = "input") -> None:
        self.name = name
        self.seed = seed
        self.input_name = input_name
        self.shapes: dict[str, Shape] = {input_name: tuple(input_shape)}
        self.nodes: list[onnx.NodeProto] = []
        self.initialisers: list[TensorProto] = []
        self._counts: dict[str, int] = {}
        self._constants: dict[str, str] = {}
        self.rectified: set[str] = {input_name}  # non-negative tensors (image, ReLU outputs)

    # -- bookkeeping ------------------------------------------------------------------------

    def _name(self, prefix: str) -> str:
        index = self._counts.get(prefix, 0) + 1
        self._counts[prefix] = index
        return f"{prefix}{index}"

    def _node(self, op: str, inputs: Sequence[str], shape: Shape, name: str | None = None, **attrs) -> str:
        node_name = name or self._name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [node_name], name=node_name, **attrs))
        self.shapes[node_name] = tuple(shape)
        data = [x for x in inputs if x in self.shapes]
        if op in init.RECTIFIERS or (op in init.KEEPS_RECTIFIED and all(x in self.rectified for x in data)):
            self.rectified.add(node_name)
        return node_name

    def _param(self, tensor: TensorProto) -> str:
        self.initialisers.append(tensor)
        return tensor.name

    def constant(self, key: str, values: np.ndarray) -> str:
        """A shared constant initialiser (e.g. Clip bounds), made once per builder."""
        if key not in self._constants:
            self._constants[key] = self._param(numpy_helper.from_array(values, key))
        return self._constants[key]

    def channels(self, x: str) -> int:
        return self.shapes[x][1]

    # -- layers -----------------------------------------------------------------------------

    def conv(
        self, x: str, cout: int, k: int, stride: int = 1, pad: int | None = None,
        group: int = 1, bias: bool = True, name: str | None = None,
    ) -> str:
        n, cin, h, w = self.shapes[x]
        pad = k // 2 if pad is None else pad
        name = name or self._name("conv")
        weight_shape = (cout, cin // group, k, k)
        weight = init.he(self.seed, f"{name}.w", weight_shape, init.conv_fan_in(weight_shape), x in self.rectified)
        inputs = [x, self._param(weight)]
        if bias:
            inputs.append(self._param(init.small(self.seed, f"{name}.b", (cout,))))
        out = (n, cout, _out_len(h, k, stride, pad, pad), _out_len(w, k, stride, pad, pad))
        return self._node(
            "Conv", inputs, out, name, kernel_shape=[k, k], strides=[stride, stride],
            pads=[pad] * 4, group=group,
        )

    def bn(self, x: str, gamma: float = 1.0, name: str | None = None) -> str:
        """Inference BatchNormalization: scale ~gamma, shift ~0, mean ~0, variance ~1."""
        c = self.channels(x)
        name = name or self._name("bn")
        s = self.seed
        params = [
            init.near(s, f"{name}.scale", (c,), gamma), init.small(s, f"{name}.bias", (c,)),
            init.small(s, f"{name}.mean", (c,)), init.near(s, f"{name}.var", (c,)),
        ]
        return self._node(
            "BatchNormalization", [x, *(self._param(p) for p in params)], self.shapes[x], name,
            epsilon=1e-5,
        )

    def relu(self, x: str) -> str:
        return self._node("Relu", [x], self.shapes[x])

    def relu6(self, x: str) -> str:
        low = self.constant("relu6.min", np.array(0.0, np.float32))
        high = self.constant("relu6.max", np.array(6.0, np.float32))
        return self._node("Clip", [x, low, high], self.shapes[x], self._name("relu6_"))

    def leaky(self, x: str, alpha: float = 0.1) -> str:
        return self._node("LeakyRelu", [x], self.shapes[x], alpha=alpha)

    def maxpool(self, x: str, k: int, stride: int, pads: Sequence[int] = (0, 0, 0, 0)) -> str:
        n, c, h, w = self.shapes[x]
        out = (n, c, _out_len(h, k, stride, pads[0], pads[2]), _out_len(w, k, stride, pads[1], pads[3]))
        return self._node(
            "MaxPool", [x], out, kernel_shape=[k, k], strides=[stride, stride], pads=list(pads)
        )

    def global_avgpool(self, x: str) -> str:
        n, c = self.shapes[x][:2]
        return self._node("GlobalAveragePool", [x], (n, c, 1, 1), self._name("gap"))

    def flatten(self, x: str) -> str:
        shape = self.shapes[x]
        return self._node("Flatten", [x], (shape[0], math.prod(shape[1:])), axis=1)

    def gemm(self, x: str, out: int, name: str | None = None) -> str:
        """Fully connected layer, torchvision layout: weight (out, in), transB=1."""
        n, fan_in = self.shapes[x]
        name = name or self._name("fc")
        w = self._param(init.he(self.seed, f"{name}.w", (out, fan_in), fan_in, x in self.rectified))
        b = self._param(init.small(self.seed, f"{name}.b", (out,)))
        return self._node("Gemm", [x, w, b], (n, out), name, transB=1)

    def add(self, a: str, b: str) -> str:
        return self._node("Add", [a, b], self.shapes[a])

    def concat(self, xs: Sequence[str]) -> str:
        first = self.shapes[xs[0]]
        c = sum(self.channels(x) for x in xs)
        return self._node("Concat", list(xs), (first[0], c, *first[2:]), axis=1)

    def upsample2x(self, x: str) -> str:
        """Nearest-neighbour x2 on H and W (each row and column repeated twice)."""
        n, c, h, w = self.shapes[x]
        scales = self.constant("upsample2x.scales", np.array([1, 1, 2, 2], np.float32))
        return self._node(
            "Resize", [x, "", scales], (n, c, 2 * h, 2 * w), self._name("upsample"), mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )

    # -- result -----------------------------------------------------------------------------

    def model(self, outputs: Sequence[str], doc: str = "") -> onnx.ModelProto:
        x = helper.make_tensor_value_info(self.input_name, TensorProto.FLOAT, list(self.shapes[self.input_name]))
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(self.shapes[o])) for o in outputs]
        graph = helper.make_graph(self.nodes, self.name, [x], outs, initializer=self.initialisers, doc_string=doc)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER,
            ir_version=IR_VERSION,
        )
        return model

    def rename_output(self, x: str, name: str) -> str:
        """Give a final tensor a meaningful name (e.g. "steering") via its producing node."""
        node = next(n for n in self.nodes if n.output[0] == x)
        node.output[0] = name
        self.shapes[name] = self.shapes.pop(x)
        if x in self.rectified:
            self.rectified.add(name)
        return name


def _out_len(size: int, k: int, stride: int, pad_begin: int, pad_end: int) -> int:
    return (size + pad_begin + pad_end - k) // stride + 1
