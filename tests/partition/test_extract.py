from __future__ import annotations

import numpy as np
import onnx
import pytest

from fognet.model.graph import analyse
from fognet.model.runtime import make_session, random_feeds, run, run_chain
from fognet.partition.extract import extract
from tests.graphs import branches_model, constant_weights_model, residual_model


@pytest.mark.parametrize("factory", [residual_model, branches_model, constant_weights_model])
def test_every_two_way_split_reproduces_the_model(factory) -> None:
    model = factory()
    graph = analyse(model)
    feeds = random_feeds(graph.inputs, seed=1)
    whole = run(make_session(model), feeds)
    for p in range(1, len(graph)):
        first, second = extract(graph, 0, p), extract(graph, p, len(graph))
        for part in (first, second):
            onnx.checker.check_model(part, full_check=True)
        crossing = set(graph.cut(p).crossing)
        assert {o.name for o in first.graph.output} == crossing
        assert {i.name for i in second.graph.input} <= crossing
        out = run_chain([first, second], feeds)
        for name, value in whole.items():
            np.testing.assert_allclose(out[name], value, rtol=1e-5, atol=1e-6)


def test_a_part_carries_the_constant_subgraph_it_reads() -> None:
    graph = analyse(constant_weights_model())
    first = extract(graph, 0, 1)
    second = extract(graph, 1, 2)
    assert {n.name for n in first.graph.node} == {"gen", "mulw", "conv"}
    assert {n.name for n in second.graph.node} == {"k", "muly"}
    assert {i.name for i in first.graph.initializer} == {"wshape", "scale"}
