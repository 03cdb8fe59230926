"""YOLOv3-tiny (Redmon & Farhadi 2018, darknet cfg): 416x416 in, detection heads at 13 and 26.

Darknet convolutions are conv (no bias) + BatchNorm + LeakyReLU(0.1); the heads end in a
1x1 conv with bias and no activation, 255 = 3 anchors x (80 classes + 5). The second head
takes layer 13 through a 1x1 conv and a nearest x2 Resize and concatenates it with layer 8
(the route), so the graph has a long skip that crosses many cut positions. The size-2
stride-1 max pool pads one row and column at the end, as darknet does, to stay 13x13.
"""

from __future__ import annotations

import onnx

from fognet.model.nets.layers import GraphBuilder

HEAD = 255


def _dark(g: GraphBuilder, x: str, cout: int, k: int, name: str) -> str:
    y = g.conv(x, cout, k, pad=k // 2, bias=False, name=f"{name}.conv")
    return g.leaky(g.bn(y, name=f"{name}.bn"))


def yolov3_tiny(seed: int, slim: bool = False) -> onnx.ModelProto:
    g = GraphBuilder("yolov3-tiny", seed, (1, 3, 416, 416))
    x = g.input_name
    for layer, cout in enumerate((16, 32, 64, 128, 256)):
        x = _dark(g, x, cout, 3, f"layer{2 * layer}")
        if cout == 256:
            route = x  # layer 8, 26x26
        x = g.maxpool(x, 2, 2)
    x = _dark(g, x, 512, 3, "layer10")
    x = g.maxpool(x, 2, 1, pads=(0, 0, 1, 1))
    x = _dark(g, x, 1024, 3, "layer12")
    x13 = _dark(g, x, 256, 1, "layer13")
    y = _dark(g, x13, 512, 3, "layer14")
    head1 = g.rename_output(g.conv(y, HEAD, 1, name="layer15.conv"), "yolo_13")
    y = g.upsample2x(_dark(g, x13, 128, 1, "layer18"))
    y = _dark(g, g.concat([y, route]), 256, 3, "layer21")
    head2 = g.rename_output(g.conv(y, HEAD, 1, name="layer22.conv"), "yolo_26")
    return g.model([head1, head2], doc="YOLOv3-tiny: two detection heads (13x13, 26x26)")
