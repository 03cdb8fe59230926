"""Partition memory by hand on small graphs: weights counted once, live activations walked."""

from __future__ import annotations

import pytest

from fognet.errors import ModelError
from fognet.model.graph import analyse
from fognet.partition.memory import MemoryTable, partition_memory
from tests.graphs import branches_model, constant_weights_model, residual_model

F = 4  # float32 bytes


def test_residual_model_by_hand():
    # x 3x16x16, a b s y 8x16x16; c1 weights 8*3*3*3 + 8, c2 8*8*3*3 + 8 (float32)
    g = analyse(residual_model())
    x, t = 3 * 256 * F, 8 * 256 * F
    w1, w2 = (8 * 3 * 9 + 8) * F, (8 * 8 * 9 + 8) * F
    assert partition_memory(g, 0, 1).weights == w1
    assert partition_memory(g, 0, 1).activations == x + t  # c1 reads x, writes a
    assert partition_memory(g, 1, 2).activations == 2 * t  # a is held for the add, b made
    assert partition_memory(g, 0, 2).activations == 2 * t  # x dies after c1
    assert partition_memory(g, 0, 3).activations == 3 * t  # the add: a, b, s live together
    assert partition_memory(g, 2, 4).activations == 3 * t
    assert partition_memory(g, 3, 4).activations == 2 * t
    whole = partition_memory(g, 0, 4)
    assert (whole.weights, whole.total) == (w1 + w2, w1 + w2 + 3 * t)
    assert partition_memory(g, 2, 4).weights == 0


def test_branches_hold_the_skip_tensor():
    # t (4x8x8) is read by c1, c2 and r: it stays live while u, v and y are made
    g = analyse(branches_model())
    t = 4 * 64 * F
    assert [n.name for n in g.nodes] == ["c0", "c1", "c2", "cat", "r"]
    assert partition_memory(g, 1, 4).activations == t + t + t + 2 * t  # step cat: t, u, v, y
    # [1, 3): t enters at step 0 and is read again after the range: live at both steps
    assert partition_memory(g, 1, 3).activations == 3 * t
    assert partition_memory(g, 4, 5).activations == 2 * t  # r: t in, y2 out


def test_constant_subgraph_weights_are_sized_once():
    # w made by ConstantOfShape + Mul (4x3x3x3 float) and the scalar k: read by conv and muly
    g = analyse(constant_weights_model())
    assert partition_memory(g, 0, 1).weights == 4 * 27 * F
    assert partition_memory(g, 1, 2).weights == F
    assert partition_memory(g, 0, 2).weights == 4 * 27 * F + F


def test_table_column_and_largest_node():
    g = analyse(residual_model())
    table = MemoryTable.of(g)
    assert list(table.column(4)) == [table.need(i, 4) for i in range(4)]
    name, need = table.largest_node()
    assert name == "add" and need == 3 * 8 * 256 * F  # a, b, s: more than c2 (2 * t + weights)
    with pytest.raises(ModelError):
        table.need(2, 2)
