"""ResNet-18 and ResNet-34 (He et al. 2016, torchvision layout): BasicBlocks with BatchNorm.

The last BatchNorm of each residual branch starts at scale `init.RESIDUAL_GAMMA` rather
than 1: with untrained running statistics BatchNorm does not renormalise, and summing two
branches of equal size doubles the variance at every block, 2**16 over 16 blocks. Where a
projection shortcut is summed with the branch, both BatchNorms start at 1/sqrt(2).
"""

from __future__ import annotations

import math

import onnx

from fognet.model.nets import init
from fognet.model.nets.layers import GraphBuilder

WIDTHS = (64, 128, 256, 512)


def _basic_block(g: GraphBuilder, x: str, cout: int, stride: int, name: str) -> str:
    y = g.relu(g.bn(g.conv(x, cout, 3, stride=stride, bias=False, name=f"{name}.conv1"), name=f"{name}.bn1"))
    project = stride != 1 or g.channels(x) != cout
    gamma = math.sqrt(0.5) if project else init.RESIDUAL_GAMMA
    y = g.bn(g.conv(y, cout, 3, bias=False, name=f"{name}.conv2"), gamma, name=f"{name}.bn2")
    if project:
        shortcut = g.conv(x, cout, 1, stride=stride, pad=0, bias=False, name=f"{name}.downsample")
        x = g.bn(shortcut, gamma, name=f"{name}.downsample_bn")
    return g.relu(g.add(y, x))


def _resnet(name: str, blocks: tuple[int, ...], seed: int) -> onnx.ModelProto:
    g = GraphBuilder(name, seed, (1, 3, 224, 224))
    x = g.relu(g.bn(g.conv(g.input_name, 64, 7, stride=2, pad=3, bias=False, name="conv1"), name="bn1"))
    x = g.maxpool(x, 3, 2, pads=(1, 1, 1, 1))
    for stage, (width, count) in enumerate(zip(WIDTHS, blocks, strict=True), start=1):
        for index in range(count):
            stride = 2 if stage > 1 and index == 0 else 1
            x = _basic_block(g, x, width, stride, f"layer{stage}.{index}")
    x = g.flatten(g.global_avgpool(x))
    x = g.rename_output(g.gemm(x, 1000, name="fc"), "logits")
    return g.model([x], doc=f"{name}: BasicBlocks {blocks}, BatchNorm, residual Add")


def resnet18(seed: int, slim: bool = False) -> onnx.ModelProto:
    return _resnet("resnet18", (2, 2, 2, 2), seed)


def resnet34(seed: int, slim: bool = False) -> onnx.ModelProto:
    return _resnet("resnet34", (3, 4, 6, 3), seed)
