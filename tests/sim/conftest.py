"""Small models and scenarios for the simulator's tests: fast to plan, with sliceable runs."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import helper

from tests.graphs import conv, fin, make


def conv_chain(channels=(8, 8, 16), size: int = 32) -> onnx.ModelProto:
    """x -> (conv, relu) * len(channels) -> global average pool -> flatten -> y."""
    nodes, inits, c, x = [], [], 3, "x"
    for k, cout in enumerate(channels):
        node, weights = conv(f"c{k}", x, f"a{k}", c, cout, seed=k)
        nodes.append(node)
        inits += weights
        nodes.append(helper.make_node("Relu", [f"a{k}"], [f"r{k}"], name=f"relu{k}"))
        x, c = f"r{k}", cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["g"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["g"], ["y"], name="flat"))
    return make(nodes, inits, [fin("x", [1, 3, size, size])], [fin("y", [1, c])])


@pytest.fixture(scope="session")
def chain_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "chain.onnx"
    onnx.save(conv_chain(), path)
    return path


def write_scenario(path: Path, body: str) -> Path:
    path.write_text(body)
    return path
