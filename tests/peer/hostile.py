"""Models an attacker would upload, built from the shared test graphs: the store must refuse each."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from tests import graphs


def external(tensor: onnx.TensorProto, location: str) -> None:
    """Turn `tensor` into a reference to external data at `location` (its bytes dropped)."""
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        tensor.external_data.add(key=key, value=value)


def external_initializer(location: str) -> onnx.ModelProto:
    """The residual model whose first conv weight is 'stored' in a file of the peer's disk."""
    model = graphs.residual_model()
    external(next(t for t in model.graph.initializer if t.name == "c1_w"), location)
    return model


def external_constant(location: str) -> onnx.ModelProto:
    """A Constant node's value attribute pointing at external data."""
    model = graphs.constant_weights_model()
    node = next(n for n in model.graph.node if n.op_type == "Constant")
    external(node.attribute[0].t, location)
    return model


def external_in_subgraph(location: str) -> onnx.ModelProto:
    """The external tensor hides in an If branch (a subgraph attribute)."""
    def branch(name: str, outside: bool) -> onnx.GraphProto:
        value = helper.make_tensor(f"{name}_v", TensorProto.FLOAT, [1], [1.0])
        if outside:
            external(value, location)
        const = helper.make_node("Constant", [], [f"{name}_k"], name=f"{name}_const", value=value)
        add = helper.make_node("Add", ["x", f"{name}_k"], [f"{name}_y"], name=f"{name}_add")
        return helper.make_graph([const, add], name, [], [graphs.fin(f"{name}_y", [1, 3, 4, 4])])

    cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
    node = helper.make_node(
        "If", ["cond"], ["y"], name="if", then_branch=branch("then", True), else_branch=branch("else", False)
    )
    graph = helper.make_graph([node], "g", [graphs.fin("x", [1, 3, 4, 4])], [graphs.fin("y", [1, 3, 4, 4])], [cond])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", graphs.OPSET)])
    model.ir_version = 8
    return model


def unknown_op() -> onnx.ModelProto:
    """Parses as ONNX, but onnx.checker rejects it: the op exists in no opset."""
    model = graphs.residual_model()
    model.graph.node[-1].op_type = "NoSuchOp"
    return model
