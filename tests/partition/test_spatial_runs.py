"""Runs of spatially local ops: their bounds, halos and outputs."""

from __future__ import annotations

import numpy as np

from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run, run_model_with_outputs
from fognet.partition.spatial_rewrite import run_split
from fognet.partition.spatial_runs import find_runs, spatial_run
from tests.partition.spatial_models import Builder, runner


def test_halo_is_what_the_kernels_reach() -> None:
    b = Builder(1, 32, seed=0)
    b.x = b.conv(b.x, 1, 1, 3, 1, 1, 1, 1)
    b.x = b.conv(b.x, 1, 1, 5, 1, 1, 2, 2)
    spatial = spatial_run(analyse(b.model()), 0, 2)
    assert spatial.input_rows(10, 20) == {"x": (7, 23)}
    assert spatial.input_rows(0, 4) == {"x": (0, 7)}
    assert spatial.input_rows(30, 32) == {"x": (27, 32)}


def test_skip_entering_mid_run_is_sliced_with_its_own_halo() -> None:
    b = Builder(2, 24, seed=2)
    a = b.conv(b.x, 2, 2, 3, 1, 1, 1, 1)
    c = b.conv(a, 2, 2, 3, 1, 1, 1, 1)
    b.x = b.add("Add", [a, b.add("Relu", [b.conv(c, 2, 2, 3, 1, 1, 1, 1)])])
    model = b.model()
    graph = analyse(model)
    spatial = spatial_run(graph, 2, len(graph))  # starts after c: reads c and the skip a
    assert set(spatial.inputs) == {a, c}
    # c needs one halo row each side for the conv; the skip a is read over the same rows so
    # that both operands of the Add have the same height in the slice.
    assert spatial.input_rows(8, 12) == {c: (7, 13), a: (7, 13)}
    feeds = {**random_feeds(graph.inputs, seed=0)}
    inner = run(make_session(model), feeds, None)
    full = run_model_with_outputs(model, [a, c, b.x], feeds)
    out = run_split(graph, spatial, [(0, 5), (5, 6), (6, 24)], {a: full[a], c: full[c]}, runner)
    np.testing.assert_allclose(out[b.x], inner[b.x], atol=1e-5)


def test_yolo_tiny_is_one_run_with_two_heads() -> None:
    graph = analyse(load_model("yolov3-tiny").model)
    (spatial,) = find_runs(graph)
    assert (spatial.start, spatial.stop) == (0, len(graph))
    heights = sorted(spatial.heights[o] for o in spatial.outputs)
    assert heights == [13, 26]
    assert spatial.output_rows((13, 26)) == {spatial.primary: (13, 26), **{
        o: (6, 13) for o in spatial.outputs if o != spatial.primary}}
