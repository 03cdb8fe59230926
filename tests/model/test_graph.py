from __future__ import annotations

import onnx
import pytest
from onnx import helper

from fognet.errors import ModelError
from fognet.model.graph import analyse
from tests.graphs import branches_model, constant_weights_model, residual_model


def test_residual_skip_crosses_the_middle_cut() -> None:
    g = analyse(residual_model())
    assert [n.name for n in g.nodes] == ["c1", "c2", "add", "relu"]
    crossing = {c.position: c.crossing for c in g.cuts()}
    assert crossing == {1: ("a",), 2: ("a", "b"), 3: ("s",)}
    assert g.articulation_points() == [1, 3]
    assert g.cut(2).nbytes == 2 * 8 * 16 * 16 * 4


def test_branches_and_an_early_model_output() -> None:
    g = analyse(branches_model())
    crossing = {c.position: set(c.crossing) for c in g.cuts()}
    assert crossing == {1: {"t"}, 2: {"t", "u"}, 3: {"t", "u", "v"}, 4: {"t", "y"}}
    assert g.boundary(3, 5) == (("u", "v", "t"), ("y", "y2"))
    assert g.boundary(0, 3) == (("x",), ("t", "u", "v"))


def test_cuts_agrees_with_cut_at_every_position() -> None:
    for model in (residual_model(), branches_model()):
        g = analyse(model)
        assert g.cuts() == [g.cut(p) for p in range(1, len(g))]


def test_constant_subgraphs_belong_to_no_cut() -> None:
    g = analyse(constant_weights_model())
    assert [n.name for n in g.nodes] == ["conv", "muly"]
    assert {n.name for n in g.constant_nodes} == {"gen", "mulw", "k"}
    assert g.is_constant("w") and g.is_constant("k") and not g.is_constant("a")
    assert g.cut(1).crossing == ("a",)


def test_topological_order_is_recovered_from_a_shuffled_file() -> None:
    model = residual_model()
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    g = analyse(model)
    assert [n.name for n in g.nodes] == ["c1", "c2", "add", "relu"]


def test_cut_out_of_range_is_a_model_error() -> None:
    g = analyse(residual_model())
    with pytest.raises(ModelError, match="out of range"):
        g.cut(4)
    with pytest.raises(ModelError, match="out of range"):
        g.cut(0)


def test_a_node_reading_nothing_known_is_reported() -> None:
    model = residual_model()
    model.graph.node.append(helper.make_node("Relu", ["ghost"], ["z"], name="bad"))
    with pytest.raises(ModelError, match="ghost"):
        analyse(model)


def test_unknown_intermediate_shapes_are_measured() -> None:
    model = residual_model()
    del model.graph.value_info[:]
    model.graph.output[0].type.tensor_type.ClearField("shape")
    g = analyse(onnx.ModelProto.FromString(model.SerializeToString()))
    assert g.tensors["b"].shape == (1, 8, 16, 16)
    assert g.tensors["y"].nbytes == 8 * 16 * 16 * 4
