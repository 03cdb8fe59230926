"""Test models for spatial slicing: random NCHW stacks, zoo ranges, less common ops.

Shared by the spatial_* tests, which check sliced outputs against the unsplit run's in real
onnxruntime sessions.
"""

from __future__ import annotations

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from fognet.model.graph import ModelGraph, analyse
from fognet.model.load import normalise
from fognet.model.runtime import make_session, random_feeds, run, run_model_with_outputs
from fognet.partition.spatial_rewrite import run_split
from fognet.partition.spatial_runs import SpatialRun, find_runs, spatial_run

OPSET = 17
WIDTH = 9


def runner(model: onnx.ModelProto, feeds: dict) -> dict:
    return run(make_session(model), feeds)


class Builder:
    """Grows a random NCHW stack one layer at a time, tracking C and H like shape inference."""

    def __init__(self, channels: int, height: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.x, self.c, self.h = "x", channels, height
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, height, WIDTH])

    def name(self, base: str) -> str:
        return f"{base}{len(self.nodes)}"

    def const(self, base: str, array: np.ndarray) -> str:
        init = numpy_helper.from_array(array, self.name(base))
        self.inits.append(init)
        return init.name

    def add(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, s: int, d: int, pt: int, pb: int) -> str:
        w = (self.rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        b = (0.1 * self.rng.standard_normal(cout)).astype(np.float32)
        pl = (k - 1) // 2  # W keeps its size; only H is under test
        return self.add(
            "Conv", [x, self.const("w", w), self.const("b", b)], kernel_shape=[k, k],
            strides=[s, 1], dilations=[d, 1], pads=[pt, pl, pb, k - 1 - pl],
        )

    def model(self) -> onnx.ModelProto:
        out = helper.make_tensor_value_info(self.x, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "stack", [self.input], [out], initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        normalise(model)
        return model


def window_out(h: int, k: int, s: int, d: int, pt: int, pb: int, ceil: bool = False) -> int:
    span = h + pt + pb - d * (k - 1) - 1
    if span < 0:
        return 0
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= h + pt else out


LAYERS = ["conv", "conv", "same_conv", "pool", "avgpool", "relu_bn", "residual", "down_residual",
          "concat", "upsample", "transpose", "pad"]


@st.composite
def stacks(draw) -> tuple[onnx.ModelProto, int]:
    b = Builder(draw(st.integers(1, 3)), draw(st.integers(16, 64)), draw(st.integers(0, 2**16)))
    for kind in draw(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=6)):
        layer(draw, b, kind)
    if not b.nodes:
        b.x = b.add("Relu", [b.x])
    return b.model(), b.h


def layer(draw, b: Builder, kind: str) -> None:  # noqa: C901 - one branch per layer kind
    ints = st.integers
    if kind == "conv":
        k, s, d = draw(ints(1, 7)), draw(ints(1, 2)), draw(ints(1, 2))
        pt, pb = draw(ints(0, k)), draw(ints(0, k))
        h = window_out(b.h, k, s, d, pt, pb)
        if h >= 2:
            cout = draw(ints(1, 4))
            b.x, b.c, b.h = b.conv(b.x, b.c, cout, k, s, d, pt, pb), cout, h
    elif kind == "same_conv":
        k, s = draw(ints(1, 6)), draw(ints(1, 2))
        w = (b.rng.standard_normal((2, b.c, k, k)) / k).astype(np.float32)
        mode = draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER"]))
        b.x = b.add("Conv", [b.x, b.const("w", w)], kernel_shape=[k, k], strides=[s, 1], auto_pad=mode)
        b.c, b.h = 2, -(-b.h // s)
    elif kind in ("pool", "avgpool"):
        k, s, ceil = draw(ints(2, 3)), draw(ints(1, 2)), draw(st.booleans())
        pt, pb = draw(ints(0, k - 1)), draw(ints(0, k - 1))
        h = window_out(b.h, k, s, 1, pt, pb, ceil)
        # onnx shape inference ignores the "last window starts in padding" rule onnxruntime
        # applies; fognet ends a run at such a node instead of trusting a wrong size.
        if h >= 2 and (not ceil or (h * s < b.h + pt) == ((h - 1) * s < b.h + pt)):
            attrs = dict(kernel_shape=[k, 1], strides=[s, 1], pads=[pt, 0, pb, 0], ceil_mode=int(ceil))
            if kind == "avgpool":
                b.x = b.add("AveragePool", [b.x], count_include_pad=draw(ints(0, 1)), **attrs)
            else:
                b.x = b.add("MaxPool", [b.x], **attrs)
            b.h = h
    elif kind == "relu_bn":
        c = b.c
        params = [b.const(n, np.abs(b.rng.standard_normal(c)).astype(np.float32) + 0.5) for n in "sbmv"]
        b.x = b.add("Relu", [b.add("BatchNormalization", [b.x, *params])])
    elif kind == "residual":
        k = draw(st.sampled_from([1, 3, 5]))
        y = b.conv(b.x, b.c, b.c, k, 1, 1, k // 2, k // 2)
        b.x = b.add("Add", [b.x, b.add("Relu", [y])])
    elif kind == "down_residual" and b.h >= 4:
        main = b.conv(b.add("Relu", [b.conv(b.x, b.c, 2, 3, 2, 1, 1, 1)]), 2, 2, 3, 1, 1, 1, 1)
        skip = b.conv(b.x, b.c, 2, 1, 2, 1, 0, 0)
        b.x, b.c, b.h = b.add("Add", [main, skip]), 2, window_out(b.h, 3, 2, 1, 1, 1)
    elif kind == "concat":
        d = draw(ints(1, 2))
        y = b.conv(b.x, b.c, 2, 3, 1, d, d, d)
        b.x, b.c = b.add("Concat", [b.x, y], axis=1), b.c + 2
    elif kind == "upsample" and b.h <= 48:
        mode = draw(st.sampled_from(["asymmetric", "half_pixel"]))
        f = draw(ints(2, 3))
        if draw(st.booleans()):
            scales = b.const("scales", np.array([1, 1, f, 2], dtype=np.float32))
            b.x = b.add("Resize", [b.x, "", scales], mode=draw(st.sampled_from(["nearest", "linear"])),
                        coordinate_transformation_mode=mode)
        else:  # the sizes form, which slices cannot keep (it fixes H): rewritten to scales
            sizes = b.const("sizes", np.array([1, b.c, f * b.h, 2 * WIDTH], dtype=np.int64))
            b.x = b.add("Resize", [b.x, "", "", sizes], mode="nearest", coordinate_transformation_mode=mode)
            b.x = b.add("Resize", [b.x, "", "", b.const("sizes", np.array([1, b.c, f * b.h, WIDTH],
                        dtype=np.int64))], mode="nearest", coordinate_transformation_mode=mode)
        b.h *= f
    elif kind == "transpose" and b.h <= 40:
        k, s = draw(ints(2, 4)), 2
        p = draw(ints(0, k - 1))
        w = (b.rng.standard_normal((b.c, 2, k, 1)) / k).astype(np.float32)
        b.x = b.add("ConvTranspose", [b.x, b.const("tw", w)], kernel_shape=[k, 1], strides=[s, 1],
                    pads=[p, 0, p, 0])
        b.c, b.h = 2, s * (b.h - 1) + k - 2 * p
    elif kind == "pad":
        mode = draw(st.sampled_from(["constant", "edge", "reflect"]))
        pt, pb = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        pads = b.const("pads", np.array([0, 0, pt, 0, 0, 0, pb, 0], dtype=np.int64))
        b.x = b.add("Pad", [b.x, pads], mode=mode)
        b.h += pt + pb


@st.composite
def row_splits(draw, height: int) -> list[tuple[int, int]]:
    count = draw(st.integers(2, min(5, height)))
    cuts = draw(st.lists(st.integers(1, height - 1), min_size=count - 1, max_size=count - 1, unique=True))
    edges = [0, *sorted(cuts), height]
    return list(zip(edges, edges[1:], strict=False))


def assert_split_matches(model: onnx.ModelProto, rows_for) -> None:
    graph = analyse(model)
    runs = find_runs(graph)
    assert [(r.start, r.stop) for r in runs] == [(0, len(graph))], "the whole stack is one run"
    feeds = random_feeds(graph.inputs, seed=3)
    whole = runner(model, feeds)
    out = run_split(graph, runs[0], rows_for(runs[0].height), feeds, runner)
    for name, value in whole.items():
        np.testing.assert_allclose(out[name], value, rtol=1e-4, atol=1e-5)



def zoo_case(name: str, pick) -> tuple[ModelGraph, SpatialRun, dict]:
    """The zoo model's run over pick(graph), and every tensor the run reads or makes."""
    from fognet.model.load import load_model

    graph = analyse(load_model(name).model)
    start, stop = pick(graph)
    spatial = spatial_run(graph, start, stop)
    names = sorted({*spatial.inputs, *spatial.outputs} - {i.name for i in graph.inputs})
    feeds = random_feeds(graph.inputs, seed=2)
    full = {**feeds, **run_model_with_outputs(graph.model, names, feeds)}
    return graph, spatial, full


def first_op(op: str):
    return lambda g: next(i for i, n in enumerate(g.nodes) if n.op_type in op.split("|"))


ZOO_RANGES = {
    # stem, max pool and the first two residual blocks
    "resnet18": lambda g: (0, first_op("Add")(g) + 5),
    # from the 13x13 route through the x2 upsample and the Concat with the 26x26 skip, to the end
    "yolov3-tiny": lambda g: (first_op("Resize|Upsample")(g) - 2, len(g)),
    # conv block 1 and its pool
    "vgg16:slim": lambda g: (0, first_op("MaxPool")(g) + 1),
    # the conv trunk, as find_runs cuts it back to outputs of >= 2 rows
    "pilotnet": lambda g: (find_runs(g)[0].start, find_runs(g)[0].stop),
}


def op_case(op: str) -> onnx.ModelProto:
    """Conv, then `op`, then a conv that mixes rows again, at an odd height."""
    b = Builder(4, 23, seed=7)
    b.x = b.conv(b.x, 4, 4, 3, 1, 1, 1, 1)
    if op == "Upsample9":
        b.x = b.add("Upsample", [b.x, b.const("sc", np.array([1, 1, 3, 1], np.float32))], mode="nearest")
        b.h *= 3
    elif op == "DepthToSpace":
        b.x = b.add("DepthToSpace", [b.x], blocksize=2, mode="CRD")
        b.c, b.h = 1, b.h * 2
    elif op == "SpaceToDepth":
        b.x = b.add("Pad", [b.x, b.const("p", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))])
        b.x = b.add("SpaceToDepth", [b.x], blocksize=2)
        b.c, b.h = 16, (b.h + 1) // 2
    elif op == "LpPool":
        b.x = b.add("LpPool", [b.x], kernel_shape=[3, 1], strides=[2, 1], pads=[1, 0, 1, 0], p=2)
        b.h = window_out(b.h, 3, 2, 1, 1, 1)
    elif op == "DilatedMaxPool":
        b.x = b.add("MaxPool", [b.x], kernel_shape=[3, 1], dilations=[2, 1], pads=[2, 0, 1, 0])
        b.h = window_out(b.h, 3, 1, 2, 2, 1)
    elif op == "Softmax":
        b.x = b.add("Softmax", [b.x], axis=1)
    elif op == "PReluClipLRN":
        b.x = b.add("PRelu", [b.x, b.const("sl", np.full((4, 1, 1), 0.1, np.float32))])
        b.x = b.add("Clip", [b.x, b.const("lo", np.array(-0.5, np.float32)), b.const("hi", np.array(0.5, np.float32))])
        b.x = b.add("LRN", [b.x], size=3)
    elif op == "ResizeTf":
        b.x = b.add("Resize", [b.x, "", b.const("sc", np.array([1, 1, 3, 1], np.float32))], mode="nearest",
                    coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="round_prefer_ceil")
        b.h *= 3
    elif op == "LinearTf":  # linear modes map rows like nearest ones (tf: (r + 0.5) / f)
        b.x = b.add("Resize", [b.x, "", b.const("sc", np.array([1, 1, 2, 1], np.float32))], mode="linear",
                    coordinate_transformation_mode="tf_half_pixel_for_nn")
        b.h *= 2
    elif op == "EdgePad":
        b.x = b.add("Pad", [b.x, b.const("p", np.array([0, 1, 2, 0, 0, 0, 3, 0], np.int64))], mode="edge")
        b.c, b.h = 5, b.h + 5
    b.x = b.conv(b.x, b.c, 2, 3, 1, 1, 1, 1)
    model = b.model()
    if op == "Upsample9":
        del model.opset_import[:]
        model.opset_import.append(helper.make_opsetid("", 9))
        model.ir_version = 7
        normalise(model)
    return model

