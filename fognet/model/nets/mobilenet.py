"""MobileNetV2 (Sandler et al. 2018, torchvision layout): inverted residuals, ReLU6.

Depthwise convolutions are Conv with group = channels; ReLU6 is Clip(0, 6). The projecting
BatchNorm of a residual block starts at scale `init.RESIDUAL_GAMMA` (see `resnet`).
"""

from __future__ import annotations

import onnx

from fognet.model.nets import init
from fognet.model.nets.layers import GraphBuilder

# expansion t, output channels c, repeats n, first stride s
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _conv_bn(g: GraphBuilder, x: str, cout: int, k: int, stride: int = 1, group: int = 1, name: str = "") -> str:
    y = g.conv(x, cout, k, stride=stride, group=group, bias=False, name=f"{name}.conv")
    return g.relu6(g.bn(y, name=f"{name}.bn"))


def _inverted_residual(g: GraphBuilder, x: str, t: int, cout: int, stride: int, name: str) -> str:
    cin = g.channels(x)
    hidden = cin * t
    residual = stride == 1 and cin == cout
    y = x if t == 1 else _conv_bn(g, x, hidden, 1, name=f"{name}.expand")
    y = _conv_bn(g, y, hidden, 3, stride=stride, group=hidden, name=f"{name}.dw")
    y = g.conv(y, cout, 1, pad=0, bias=False, name=f"{name}.project")
    y = g.bn(y, init.RESIDUAL_GAMMA if residual else 1.0, name=f"{name}.project_bn")
    return g.add(x, y) if residual else y


def mobilenetv2(seed: int, slim: bool = False) -> onnx.ModelProto:
    g = GraphBuilder("mobilenetv2", seed, (1, 3, 224, 224))
    x = _conv_bn(g, g.input_name, 32, 3, stride=2, name="stem")
    index = 0
    for t, c, n, s in SETTINGS:
        for repeat in range(n):
            x = _inverted_residual(g, x, t, c, s if repeat == 0 else 1, f"block{index}")
            index += 1
    x = _conv_bn(g, x, 1280, 1, name="head")
    x = g.flatten(g.global_avgpool(x))
    x = g.rename_output(g.gemm(x, 1000, name="classifier"), "logits")
    return g.model([x], doc="MobileNetV2: inverted residuals, depthwise conv, ReLU6")
