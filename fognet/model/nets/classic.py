"""Plain conv stacks: PilotNet, AlexNet and VGG-16 (torchvision layout), Network-in-Network.

`slim` shrinks the hidden fully connected widths (4096 -> 256) and keeps the conv body
intact, so tests can run the VGG-sized models without their 100M+ FC parameters while
cuts, halos and crossing sets stay those of the real architecture.
"""

from __future__ import annotations

import onnx

from fognet.model.nets.layers import GraphBuilder

SLIM_FC = 256
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _hidden(width: int, slim: bool) -> int:
    return min(width, SLIM_FC) if slim else width


def pilotnet(seed: int, slim: bool = False) -> onnx.ModelProto:
    """NVIDIA's end-to-end steering CNN (Bojarski et al. 2016): 66x200 frame in, one angle out."""
    g = GraphBuilder("pilotnet", seed, (1, 3, 66, 200))
    x = g.input_name
    for cout in (24, 36, 48):
        x = g.relu(g.conv(x, cout, 5, stride=2, pad=0))
    for cout in (64, 64):
        x = g.relu(g.conv(x, cout, 3, pad=0))
    x = g.flatten(x)
    for width in (100, 50, 10):
        x = g.relu(g.gemm(x, width))
    x = g.rename_output(g.gemm(x, 1), "steering")
    return g.model([x], doc="PilotNet: 5 conv + FC 100/50/10/1, one steering value")


def alexnet(seed: int, slim: bool = False) -> onnx.ModelProto:
    """torchvision's AlexNet (the one-GPU variant: 64/192/384/256/256 channels), no LRN."""
    g = GraphBuilder("alexnet", seed, (1, 3, 224, 224))
    x = g.relu(g.conv(g.input_name, 64, 11, stride=4, pad=2))
    x = g.maxpool(x, 3, 2)
    x = g.maxpool(g.relu(g.conv(x, 192, 5, pad=2)), 3, 2)
    x = g.relu(g.conv(x, 384, 3))
    x = g.relu(g.conv(x, 256, 3))
    x = g.maxpool(g.relu(g.conv(x, 256, 3)), 3, 2)
    x = _classifier(g, g.flatten(x), slim)
    return g.model([x], doc="AlexNet (torchvision layout)")


def vgg16(seed: int, slim: bool = False) -> onnx.ModelProto:
    """torchvision's VGG-16 (configuration D, no BatchNorm)."""
    g = GraphBuilder("vgg16", seed, (1, 3, 224, 224))
    x = g.input_name
    for item in VGG16:
        x = g.maxpool(x, 2, 2) if item == "M" else g.relu(g.conv(x, int(item), 3))
    x = _classifier(g, g.flatten(x), slim)
    return g.model([x], doc="VGG-16 (torchvision layout)")


def _classifier(g: GraphBuilder, x: str, slim: bool) -> str:
    """FC 4096 -> ReLU -> FC 4096 -> ReLU -> FC 1000 (dropout is identity at inference)."""
    for _ in range(2):
        x = g.relu(g.gemm(x, _hidden(4096, slim)))
    return g.rename_output(g.gemm(x, 1000), "logits")


def nin(seed: int, slim: bool = False) -> onnx.ModelProto:
    """Network in Network (Lin et al. 2014), ImageNet model: mlpconv blocks, global pooling."""
    g = GraphBuilder("nin", seed, (1, 3, 224, 224))
    x = g.input_name
    blocks = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1), (1024, 3, 1, 1))
    for index, (cout, k, stride, pad) in enumerate(blocks):
        x = g.relu(g.conv(x, cout, k, stride=stride, pad=pad))
        last = index == len(blocks) - 1
        x = g.relu(g.conv(x, cout, 1))
        x = g.relu(g.conv(x, 1000 if last else cout, 1))
        if not last:
            x = g.maxpool(x, 3, 2)
    x = g.rename_output(g.flatten(g.global_avgpool(x)), "logits")
    return g.model([x], doc="Network in Network: 1x1 mlpconv blocks, global average pooling")
