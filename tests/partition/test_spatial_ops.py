"""The per-op rules: which nodes end a run, the node rewrites, and less common ops sliced exactly."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from fognet.errors import PartitionError
from fognet.model.graph import analyse
from fognet.partition.spatial_ops import node_geometries, rewrite_nodes
from fognet.partition.spatial_runs import find_runs, spatial_run
from fognet.partition.spatial_slices import slices_for_rows
from tests.partition.spatial_models import Builder, assert_split_matches, op_case


def test_non_spatial_nodes_end_runs_and_are_named() -> None:
    b = Builder(2, 16, seed=1)
    b.x = b.conv(b.x, 2, 2, 3, 1, 1, 1, 1)
    b.x = b.add("GlobalAveragePool", [b.x])
    graph = analyse(b.model())
    assert node_geometries(graph)[1] is None
    with pytest.raises(PartitionError, match="GlobalAveragePool"):
        spatial_run(graph, 0, 2)
    assert [(r.start, r.stop) for r in find_runs(graph)] == [(0, 1)]


def test_rewrites_fix_same_pads_and_resize_sizes_to_the_full_image() -> None:
    b = Builder(2, 15, seed=3)
    w = np.ones((2, 2, 4, 4), np.float32)
    b.x = b.add("Conv", [b.x, b.const("w", w)], kernel_shape=[4, 4], strides=[2, 1], auto_pad="SAME_LOWER")
    sizes = b.const("sizes", np.array([1, 2, 16, 18], np.int64))
    b.x = b.add("Resize", [b.x, "", "", sizes], mode="nearest")
    graph = analyse(b.model())
    (conv, resize), inits = rewrite_nodes(graph, [0, 1])
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    # H 15, stride 2, kernel 4 (W 9, stride 1): 3 rows of padding each way, SAME_LOWER puts 2 first
    assert "auto_pad" not in attrs and attrs["pads"] == [2, 2, 1, 1]
    assert list(resize.input)[:2] == [graph.nodes[1].input[0], ""] and resize.input[2] == inits[0].name
    np.testing.assert_array_equal(numpy_helper.to_array(inits[0]), [1, 1, 2, 2])
    assert len(resize.input) == 3


@pytest.mark.parametrize("op", ["Upsample9", "DepthToSpace", "SpaceToDepth", "LpPool", "DilatedMaxPool",
                                "Softmax", "PReluClipLRN", "ResizeTf", "LinearTf", "EdgePad"])
def test_less_common_local_ops_split_exactly(op: str) -> None:
    model = op_case(op)
    assert_split_matches(model, lambda h: slices_for_rows([h // 4, 1, h // 3, h - h // 4 - 1 - h // 3]))
