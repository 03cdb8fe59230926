from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from fognet.errors import DynamicShapeError, ModelError
from fognet.model.graph import analyse
from fognet.model.load import load_model
from tests.graphs import residual_model


def _dynamic(tmp_path):
    model = residual_model()
    x = model.graph.input[0]
    x.type.tensor_type.shape.dim[2].ClearField("dim_value")
    x.type.tensor_type.shape.dim[2].dim_param = "H"
    x.type.tensor_type.shape.dim[3].dim_param = "W"
    del model.graph.value_info[:]
    path = tmp_path / "dyn.onnx"
    onnx.save(model, path)
    return path


def test_missing_file_and_non_onnx(tmp_path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf at all \xff\xfe" * 10)
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_model(junk)
    with pytest.raises(ModelError, match="directory"):
        load_model(tmp_path)


def test_dynamic_input_needs_a_shape(tmp_path) -> None:
    path = _dynamic(tmp_path)
    with pytest.raises(DynamicShapeError, match="'x' has dynamic shape .*H,W"):
        load_model(path)
    loaded = load_model(path, {"x": (1, 3, 24, 20)})
    assert analyse(loaded.model).tensors["y"].shape == (1, 8, 24, 20)
    assert load_model(path, [(1, 3, 8, 8)]).input_shapes == {"x": (1, 3, 8, 8)}
    with pytest.raises(ModelError, match="unknown input 'nope'"):
        load_model(path, {"nope": (1, 3, 8, 8)})
    with pytest.raises(ModelError, match="rank 4"):
        load_model(path, [(1, 3, 8)])


def test_ir3_initialisers_listed_as_inputs_are_dropped(tmp_path) -> None:
    model = residual_model()
    for init in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(init.name, TensorProto.FLOAT, list(init.dims)))
    model.ir_version = 3
    path = tmp_path / "ir3.onnx"
    onnx.save(model, path)
    loaded = load_model(path)
    assert [i.name for i in loaded.model.graph.input] == ["x"]
    assert loaded.model.ir_version >= 7
    assert len(loaded.sha256) == 64


def test_unnamed_nodes_get_stable_unique_names(tmp_path) -> None:
    model = residual_model()
    for node in model.graph.node:
        node.name = ""
    path = tmp_path / "anon.onnx"
    onnx.save(model, path)
    names = [n.name for n in load_model(path).model.graph.node]
    assert len(set(names)) == len(names) and names == [n.name for n in load_model(path).model.graph.node]
