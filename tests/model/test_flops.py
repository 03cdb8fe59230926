"""FLOPs on hand-built graphs whose counts are worked out by hand in each test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fognet.model.flops import graph_node_flops, model_flops, node_flops
from fognet.model.graph import analyse
from fognet.model.load import load_model
from tests.graphs import conv, fin, make, residual_model


def _weights(name: str, shape) -> object:
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def test_single_conv_counts_two_per_multiply_add_plus_bias() -> None:
    node, inits = conv("c", "x", "y", cin=3, cout=8, k=3)
    model = make([node], inits, [fin("x", [1, 3, 16, 16])], [fin("y", [1, 8, 16, 16])])
    # 8*16*16 outputs, each 3*3*3 multiply-adds, plus one bias add each.
    assert model_flops(model) == 2 * (8 * 16 * 16) * 27 + 8 * 16 * 16


def test_grouped_strided_dilated_conv() -> None:
    w = _weights("w", (8, 2, 3, 3))  # groups=4 -> 2 input channels per group
    node = helper.make_node(
        "Conv", ["x", "w"], ["y"], name="c", group=4, strides=[2, 2], dilations=[2, 2],
        pads=[2, 2, 2, 2], kernel_shape=[3, 3],
    )
    model = make([node], [w], [fin("x", [1, 8, 16, 16])], [fin("y", [1, 8, 8, 8])])
    assert model_flops(model) == 2 * (8 * 8 * 8) * (2 * 9)  # no bias; dilation adds nothing


def test_conv_transpose_scatters_each_input_through_the_kernel() -> None:
    w = _weights("w", (4, 6, 2, 2))  # (C_in, C_out, kH, kW)
    b = _weights("b", (6,))
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="ct", strides=[2, 2])
    model = make([node], [w, b], [fin("x", [1, 4, 5, 5])], [fin("y", [1, 6, 10, 10])])
    assert model_flops(model) == 2 * (4 * 5 * 5) * (6 * 4) + 6 * 10 * 10


def test_gemm_with_transposed_b_and_bias() -> None:
    w = _weights("w", (10, 32))
    b = _weights("b", (10,))
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    model = make([node], [w, b], [fin("x", [1, 32])], [fin("y", [1, 10])])
    assert model_flops(model) == 2 * 10 * 32 + 10


def test_batched_matmul() -> None:
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    model = make([node], [], [fin("a", [2, 3, 4, 5]), fin("b", [2, 3, 5, 7])], [fin("y", [2, 3, 4, 7])])
    assert model_flops(model) == 2 * (2 * 3 * 4 * 7) * 5


def test_pooling_bn_softmax_and_data_movement() -> None:
    shapes = {"x": (1, 4, 8, 8), "p": (1, 4, 4, 4), "g": (1, 4, 1, 1), "s": (1, 16), "r": (1, 64)}
    pool = helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    gap = helper.make_node("GlobalAveragePool", ["x"], ["g"])
    bn = helper.make_node("BatchNormalization", ["x", "s1", "b1", "m1", "v1"], ["x"])
    soft = helper.make_node("Softmax", ["s"], ["s"])
    lrn = helper.make_node("LRN", ["x"], ["x"], size=5)
    summed = helper.make_node("Sum", ["x", "x", "x"], ["x"])
    reshape = helper.make_node("Reshape", ["x", "shape"], ["r"])
    unknown = helper.make_node("SomeCustomOp", ["x"], ["p"], domain="custom")
    assert node_flops(pool, shapes) == 4 * 4 * 4 * 9
    assert node_flops(gap, shapes) == 4 * 8 * 8
    assert node_flops(bn, shapes) == 2 * 256
    assert node_flops(soft, shapes) == 3 * 16
    assert node_flops(lrn, shapes) == 13 * 256
    assert node_flops(summed, shapes) == 2 * 256
    assert node_flops(reshape, shapes) == 0
    assert node_flops(unknown, shapes) == 4 * 4 * 4  # fallback: output elements
    assert node_flops(helper.make_node("Relu", ["x"], ["nowhere"]), shapes) == 0  # unknown shape


def test_per_node_flops_sum_to_model_flops() -> None:
    model = residual_model()
    per_node = graph_node_flops(analyse(model))
    conv1 = 2 * 8 * 16 * 16 * 27 + 8 * 16 * 16
    conv2 = 2 * 8 * 16 * 16 * 72 + 8 * 16 * 16
    assert per_node == [conv1, conv2, 8 * 16 * 16, 8 * 16 * 16]
    assert sum(per_node) == model_flops(model)


def test_model_without_value_info_is_inferred() -> None:
    node, inits = conv("c", "x", "y", cin=2, cout=2, k=1)
    graph = helper.make_graph([node], "g", [fin("x", [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert model_flops(model) == 2 * 2 * 16 * 2 + 2 * 16


LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"


@pytest.mark.skipif(not LIGHT.exists(), reason="onnx's light models are not installed")
def test_published_multiply_add_counts_of_real_networks() -> None:
    # ResNet-50 ~4.1 G multiply-adds, VGG-19 ~19.6 G (conv + fc), at 224x224.
    resnet = model_flops(load_model(LIGHT / "light_resnet50.onnx").model)
    vgg = model_flops(load_model(LIGHT / "light_vgg19.onnx").model)
    assert 2 * 4.05e9 < resnet < 2 * 4.15e9
    assert 2 * 19.5e9 < vgg < 2 * 19.8e9
