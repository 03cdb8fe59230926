"""Slice sub-models against real onnxruntime: sliced outputs must equal the unsplit run's."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fognet.model.graph import analyse
from fognet.model.runtime import random_feeds, run_model_with_outputs
from fognet.partition.spatial_rewrite import run_split, slice_model, slice_task
from fognet.partition.spatial_runs import find_runs, spatial_run
from fognet.partition.spatial_slices import (
    SliceSpec,
    crop_outputs,
    merge_outputs,
    plan_slices,
    slices_for_rows,
    split_inputs,
)
from tests.partition.spatial_models import (
    ZOO_RANGES,
    Builder,
    assert_split_matches,
    row_splits,
    runner,
    stacks,
    zoo_case,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_stacks_sliced_equal_unsliced(data) -> None:
    model, height = data.draw(stacks())
    assume(height >= 2)
    rows = data.draw(row_splits(height))
    assert_split_matches(model, lambda h: rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_sub_range_of_a_stack_splits(data) -> None:
    """Runs starting mid-stack read skips and leave with several outputs of other heights."""
    model, _ = data.draw(stacks())
    graph = analyse(model)
    start = data.draw(st.integers(0, len(graph) - 1))
    stop = data.draw(st.integers(start + 1, len(graph)))
    spatial = spatial_run(graph, start, stop)
    assume(spatial.height >= 2)
    names = sorted({*spatial.inputs, *spatial.outputs})
    full = run_model_with_outputs(model, names, random_feeds(graph.inputs, seed=4))
    rows = data.draw(row_splits(spatial.height))
    specs, results = [], []
    for r in rows:  # as workers do it: pre-cropped models from (start, stop, rows) alone
        spec, task = slice_task(graph, start, stop, r)
        specs.append(spec)
        results.append(runner(task, split_inputs(full, spec)))
    out = merge_outputs(results, specs, cropped=True)
    assert set(out) == set(spatial.outputs)
    for name in spatial.outputs:
        np.testing.assert_allclose(out[name], full[name], rtol=1e-4, atol=1e-5)


def test_symbolic_height_model_serves_every_slice() -> None:
    b = Builder(2, 37, seed=5)
    b.x = b.conv(b.x, 2, 3, 3, 2, 1, 1, 1)
    b.x = b.add("MaxPool", [b.x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    b.x = b.add("Resize", [b.x, "", b.const("sc", np.array([1, 1, 2, 2], np.float32))], mode="nearest")
    model = b.model()
    graph = analyse(model)
    (spatial,) = find_runs(graph)
    generic = slice_model(graph, spatial)
    onnx.checker.check_model(generic, full_check=True)
    feeds = random_feeds(graph.inputs, seed=1)
    specs = plan_slices(spatial, slices_for_rows([7, 0, 1, 3, spatial.height - 11]))
    assert len(specs) == 4
    results = []
    for spec in specs:
        wire = SliceSpec.from_dict(json.loads(json.dumps(spec.to_dict())))  # what a worker gets
        assert wire == spec
        results.append(crop_outputs(runner(generic, split_inputs(feeds, wire)), wire))
    merged = merge_outputs(results, specs, cropped=True)
    np.testing.assert_allclose(merged[b.x], runner(model, feeds)[b.x], atol=1e-5)


@pytest.mark.parametrize("name", sorted(ZOO_RANGES))
def test_zoo_model_runs_split_exactly(name: str) -> None:
    graph, spatial, full = zoo_case(name, ZOO_RANGES[name])
    h = spatial.height
    rows = slices_for_rows([h // 3, 1, 0, h - h // 3 - 1])
    out = run_split(graph, spatial, rows, {n: full[n] for n in spatial.inputs}, runner)
    for name_ in spatial.outputs:
        np.testing.assert_allclose(out[name_], full[name_], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["yolov3-tiny", "squeezenet"])
def test_worker_task_models_return_exactly_their_rows(name: str) -> None:
    """slice_task: what a peer builds from (start, stop, rows) alone; squeezenet is opset 9."""
    pick = ZOO_RANGES.get(name, lambda g: (find_runs(g)[0].start, find_runs(g)[0].stop))
    graph, spatial, full = zoo_case(name, pick)
    h = spatial.height
    cache: dict = {}
    ranges = slices_for_rows([h // 2, 1, h - h // 2 - 1])
    planned = plan_slices(spatial, ranges)
    results, specs = [], []
    for rows, expected in zip(ranges, planned, strict=True):
        spec, model = slice_task(graph, spatial.start, spatial.stop, rows, cache=cache)
        onnx.checker.check_model(model)
        assert spec == expected, "a worker derives the source's spec from the rows alone"
        out = runner(model, split_inputs(full, spec))
        for o in spec.outputs:
            assert out[o.name].shape[2] == o.crop_stop - o.crop_start
        results.append(out)
        specs.append(spec)
    assert len(cache) == 3
    merged = merge_outputs(results, specs, cropped=True)
    for out_name in spatial.outputs:
        np.testing.assert_allclose(merged[out_name], full[out_name], rtol=1e-4, atol=1e-4)

