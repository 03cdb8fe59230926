"""Runnable sub-models for a range of compute nodes.

We build the sub-graph directly from the analysed graph instead of using
`onnx.utils.Extractor`: the crossing set is already known, constant-only subgraphs must
travel with every part that reads them, and the Extractor's reachability walk is slow on
large graphs. The sub-model keeps the original opsets, names and attributes, so its
kernels are the ones that were profiled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper

from fognet.model.graph import ModelGraph, TensorInfo, subgraph_inputs


def value_info(info: TensorInfo, shape: Sequence[int | str] | None = None) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
    return helper.make_tensor_value_info(info.name, elem, list(shape if shape is not None else info.shape))


def constant_closure(graph: ModelGraph, reads: set[str]) -> tuple[list[onnx.NodeProto], set[str]]:
    """The constant nodes and initialiser names needed to make the constant tensors in `reads`."""
    producers = {out: node for node in graph.constant_nodes for out in node.output}
    needed_nodes: dict[str, onnx.NodeProto] = {}
    initialisers: set[str] = set()
    stack = [name for name in reads if graph.is_constant(name)]
    while stack:
        name = stack.pop()
        node = producers.get(name)
        if node is None:
            initialisers.add(name)
        elif node.name not in needed_nodes:
            needed_nodes[node.name] = node
            stack.extend(subgraph_inputs(node))
    ordered = [node for node in graph.constant_nodes if node.name in needed_nodes]
    return ordered, initialisers


def build_submodel(
    graph: ModelGraph,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    name: str,
    value_infos: Sequence[onnx.ValueInfoProto] = (),
) -> onnx.ModelProto:
    """Assemble a model from compute nodes plus the constants they read."""
    reads = {n for node in nodes for n in subgraph_inputs(node)}
    const_nodes, init_names = constant_closure(graph, reads)
    source = graph.model
    initialisers = [init for init in source.graph.initializer if init.name in init_names]
    sub_graph = helper.make_graph(
        [*const_nodes, *nodes], name, list(inputs), list(outputs), initializer=initialisers,
        value_info=list(value_infos),
    )
    model = helper.make_model(
        sub_graph, opset_imports=list(source.opset_import), producer_name="fognet"
    )
    model.ir_version = source.ir_version
    model.functions.extend(source.functions)
    return model


def extract(graph: ModelGraph, start: int, stop: int) -> onnx.ModelProto:
    """Compute nodes [start, stop) as a model whose inputs/outputs are `graph.boundary`."""
    in_names, out_names = graph.boundary(start, stop)
    produced = {o for node in graph.nodes[start:stop] for o in node.output if o}
    internal = [
        value_info(graph.tensors[t])
        for t in produced
        if t not in out_names and t in graph.tensors and graph.tensors[t].nbytes >= 0
    ]
    return build_submodel(
        graph,
        graph.nodes[start:stop],
        [value_info(graph.tensors[t]) for t in in_names],
        [value_info(graph.tensors[t]) for t in out_names],
        name=f"{graph.model.graph.name or 'model'}_{start}_{stop}",
        value_infos=internal,
    )
