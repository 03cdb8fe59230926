"""Vertical splits of real zoo models: the parts, chained, reproduce the whole model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from fognet.errors import PartitionError
from fognet.model.flops import graph_node_flops
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run, run_model_with_outputs
from fognet.partition.extract import extract
from fognet.partition.vertical import balanced_positions, parts_at
from tests.graphs import residual_model

# Every zoo model that builds in seconds; VGG-sized ones in their slim variant (FC <= 256).
ZOO = [
    "pilotnet", "resnet18", "nin", "mobilenetv2", "yolov3-tiny", "alexnet:slim",
    "vgg16:slim", "squeezenet", "inception-v1", "inception-v2", "shufflenet",
    "resnet50", "densenet121", "zfnet512:slim", "bvlc-alexnet:slim",
]


def _check_chain(graph, parts, feeds, reference) -> None:
    """Run the parts in order, passing tensors by name; every part output must match."""
    tensors = dict(feeds)
    for part in parts:
        model = extract(graph, part.start, part.stop)
        assert [i.name for i in model.graph.input] == list(part.inputs)
        session = make_session(model)
        out = run(session, tensors)
        for name, value in out.items():
            np.testing.assert_allclose(value, reference[name], rtol=1e-4, atol=1e-5, err_msg=name)
        tensors.update(out)
    for out in graph.outputs:
        assert out.name in tensors


@pytest.mark.parametrize("name", ZOO)
def test_zoo_splits_reproduce_the_whole_model(name: str) -> None:
    loaded = load_model(name)
    graph = analyse(loaded.model)
    feeds = random_feeds(graph.inputs, seed=3)
    crossing = sorted({t for c in graph.cuts() for t in c.crossing} | {o.name for o in graph.outputs})
    reference = run_model_with_outputs(loaded.model, crossing, feeds)
    whole = run(make_session(loaded.model), feeds)
    for out in graph.outputs:
        np.testing.assert_array_equal(reference[out.name], whole[out.name])
    weights = graph_node_flops(graph)
    for k in (2, 3, 5):
        positions = balanced_positions(graph, k, weights)
        assert len(positions) == k - 1
        _check_chain(graph, parts_at(graph, positions), feeds, reference)
    _check_chain(graph, parts_at(graph, graph.articulation_points()), feeds, reference)


def test_every_part_passes_the_checker_and_dag_cuts_work() -> None:
    graph = analyse(load_model("resnet18").model)
    dag_cuts = [c.position for c in graph.cuts() if len(c.crossing) > 1]
    assert dag_cuts, "resnet18 has residual skips, so some cuts carry two tensors"
    parts = parts_at(graph, dag_cuts[:3])
    feeds = random_feeds(graph.inputs, seed=1)
    reference = run_model_with_outputs(
        graph.model, sorted({t for p in parts for t in p.outputs}), feeds
    )
    for part in parts:
        onnx.checker.check_model(extract(graph, part.start, part.stop), full_check=True)
    _check_chain(graph, parts, feeds, reference)


def test_balanced_positions_prefer_balance_and_small_cuts() -> None:
    graph = analyse(load_model("resnet18").model)
    weights = graph_node_flops(graph)
    positions = balanced_positions(graph, 4, weights)
    sums = [sum(weights[a:b]) for a, b in zip([0, *positions], [*positions, len(graph)], strict=True)]
    assert max(sums) < 0.5 * sum(weights)
    assert all(graph.cut(p).articulation for p in positions)


def test_bad_split_requests() -> None:
    graph = analyse(residual_model())
    with pytest.raises(PartitionError, match="cannot split into 9 parts: the model has 4 compute nodes"):
        balanced_positions(graph, 9)
    with pytest.raises(PartitionError, match="out of range"):
        parts_at(graph, [4])
    with pytest.raises(PartitionError, match="strictly increasing"):
        parts_at(graph, [2, 1])
