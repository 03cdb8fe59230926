from __future__ import annotations

import pytest

from fognet.model.graph import analyse
from fognet.partition.encoding import Encoding
from fognet.partition.stagebytes import stage_bytes
from tests.graphs import branches_model, constant_weights_model, residual_model


@pytest.mark.parametrize("factory", [residual_model, branches_model, constant_weights_model])
def test_tables_equal_boundary_bytes_for_every_stage(factory) -> None:
    graph = analyse(factory())
    table = stage_bytes(graph, Encoding("float32", "raw"))  # every tensor as the model holds it
    n = len(graph)
    for i in range(n):
        for j in range(i + 1, n + 1):
            inputs, outputs = graph.boundary(i, j)
            assert table.inputs[i, j] == sum(graph.tensors[t].nbytes for t in inputs), (i, j)
            assert table.outputs[i, j] == sum(graph.tensors[t].nbytes for t in outputs), (i, j)
