"""The graph facts partitioning needs: compute nodes in order, and what crosses each cut.

Constant-only subgraphs (weights built by ConstantOfShape, Constant nodes, shape
arithmetic on initialisers) belong to no cut: every part that needs one of their tensors
recomputes it from its own copy. Only tensors that depend on a model input are ever sent
between peers, so only they count in a crossing set.

A cut at position p puts compute nodes [0, p) before it and [p, n) after it. A tensor
crosses it when it is produced before (a model input counts as produced before
everything) and read after it (a model output counts as read at the end).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from fognet.errors import ModelError


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int


@dataclass(frozen=True)
class Cut:
    """A cut position and what a plan must transfer there."""

    position: int
    crossing: tuple[str, ...]
    nbytes: int

    @property
    def articulation(self) -> bool:
        return len(self.crossing) == 1


def subgraph_inputs(node: onnx.NodeProto) -> list[str]:
    """Tensors a node reads: its inputs plus outer-scope names its subgraphs (If, Loop) use."""
    names = [name for name in node.input if name]
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for sub in graphs:
            defined = {i.name for i in sub.input} | {i.name for i in sub.initializer}
            for inner in sub.node:
                for name in subgraph_inputs(inner):
                    if name not in defined:
                        names.append(name)
                defined.update(inner.output)
    return names


def topological_order(nodes: list[onnx.NodeProto], available: set[str]) -> list[int]:
    """Kahn's algorithm that keeps the file's order wherever the graph allows it."""
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    deps: list[set[int]] = []
    for node in nodes:
        deps.append({producer[n] for n in subgraph_inputs(node) if n in producer})
    for node in nodes:
        missing = [n for n in subgraph_inputs(node) if n not in producer and n not in available]
        if missing:
            raise ModelError(f"node {node.name!r} reads {missing[0]!r}, which nothing produces")
    users: list[list[int]] = [[] for _ in nodes]
    remaining = [len(d) for d in deps]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    ready = [i for i, r in enumerate(remaining) if r == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            remaining[u] -= 1
            if remaining[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        raise ModelError("the graph has a cycle; it is not a valid ONNX model")
    return order


class ModelGraph:
    """Compute nodes in topological order, constant nodes, tensor sizes, and cut sets."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        graph = model.graph
        initialisers = {init.name for init in graph.initializer}
        input_names = [vi.name for vi in graph.input if vi.name not in initialisers]
        all_nodes = list(graph.node)
        order = topological_order(all_nodes, initialisers | set(input_names))

        constants = set(initialisers)
        compute: list[onnx.NodeProto] = []
        constant_nodes: list[onnx.NodeProto] = []
        for i in order:
            node = all_nodes[i]
            reads = subgraph_inputs(node)
            if all(name in constants for name in reads) and node.op_type not in _NONDETERMINISTIC:
                constants.update(o for o in node.output if o)
                constant_nodes.append(node)
            else:
                compute.append(node)
        if not compute:
            raise ModelError("the model has no node that depends on its inputs")
        self._constants = frozenset(constants)
        self.nodes: tuple[onnx.NodeProto, ...] = tuple(compute)
        self.constant_nodes: tuple[onnx.NodeProto, ...] = tuple(constant_nodes)
        self._index = {node.name: i for i, node in enumerate(compute)}

        infos = _value_infos(model)
        self.tensors: dict[str, TensorInfo] = {}
        for name in [*input_names, *(o for n in compute for o in n.output if o)]:
            self.tensors[name] = _tensor_info(name, infos.get(name))
        self.inputs = tuple(self.tensors[name] for name in input_names)
        self.outputs = tuple(self.tensors[o.name] for o in graph.output if o.name in self.tensors)
        if len(self.outputs) != len(graph.output):
            constant_outputs = [o.name for o in graph.output if o.name not in self.tensors]
            raise ModelError(f"model output {constant_outputs[0]!r} does not depend on any input")

        n = len(compute)
        self._producer: dict[str, int] = {name: -1 for name in input_names}
        self._last_use: dict[str, int] = {}
        self._first_use: dict[str, int] = {}
        for i, node in enumerate(compute):
            for out in node.output:
                if out:
                    self._producer[out] = i
            for name in subgraph_inputs(node):
                if name in self.tensors:
                    self._last_use[name] = i
                    self._first_use.setdefault(name, i)
        for out in self.outputs:
            self._last_use[out.name] = n  # read "at the end" by whoever asked for the output

    def __len__(self) -> int:
        return len(self.nodes)

    def is_constant(self, tensor: str) -> bool:
        return tensor in self._constants

    def index_of(self, node_name: str) -> int:
        try:
            return self._index[node_name]
        except KeyError:
            raise ModelError(f"no compute node named {node_name!r}") from None

    def producer(self, tensor: str) -> int:
        """Position of the node producing `tensor`; -1 for a model input."""
        return self._producer[tensor]

    def boundary(self, start: int, stop: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(inputs, outputs) of compute nodes [start, stop), as a part would need them."""
        self._check_range(start, stop)
        inputs: dict[str, None] = {}
        outputs: list[str] = []
        for node in self.nodes[start:stop]:
            for name in subgraph_inputs(node):
                if name in self.tensors and self._producer[name] < start:
                    inputs.setdefault(name)
            for out in node.output:
                if out and self._last_use.get(out, -1) >= stop:
                    outputs.append(out)
        return tuple(inputs), tuple(outputs)

    def cut(self, position: int) -> Cut:
        if not 0 < position < len(self.nodes):
            raise ModelError(
                f"cut position {position} is out of range; valid positions are 1..{len(self.nodes) - 1}"
            )
        crossing = tuple(
            name
            for name, made in self._producer.items()
            if made < position <= self._last_use.get(name, -1)
        )
        return Cut(position, crossing, sum(self.tensors[t].nbytes for t in crossing))

    def cuts(self) -> list[Cut]:
        """Every cut position with its crossing set, in one sweep over the graph."""
        n = len(self.nodes)
        starts: list[list[str]] = [[] for _ in range(n + 1)]
        for name, made in self._producer.items():
            last = self._last_use.get(name, -1)
            if last > made:
                starts[made + 1].append(name)
        live: dict[str, None] = dict.fromkeys(starts[0])
        result: list[Cut] = []
        for p in range(1, n):
            for name in starts[p]:
                live[name] = None
            for name in [t for t in live if self._last_use[t] < p]:
                del live[name]
            crossing = tuple(live)
            result.append(Cut(p, crossing, sum(self.tensors[t].nbytes for t in crossing)))
        return result

    def articulation_points(self) -> list[int]:
        return [c.position for c in self.cuts() if c.articulation]

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start < stop <= len(self.nodes):
            raise ModelError(f"node range [{start}, {stop}) is outside 0..{len(self.nodes)}")


_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}


def analyse(model: onnx.ModelProto) -> ModelGraph:
    """Analyse a model as returned by `fognet.model.load.load_model`."""
    graph = ModelGraph(model)
    unknown = [t.name for t in graph.tensors.values() if t.nbytes < 0]
    if unknown:
        _measure_missing_shapes(graph, unknown)
    return graph


def _value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    graph = model.graph
    return {vi.name: vi for vi in [*graph.input, *graph.value_info, *graph.output]}


def _tensor_info(name: str, vi: onnx.ValueInfoProto | None) -> TensorInfo:
    if vi is None or not vi.type.HasField("tensor_type"):
        return TensorInfo(name, (), "unknown", -1)
    tensor_type = vi.type.tensor_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
    except (KeyError, TypeError, ValueError):
        dtype = "unknown"
    if not tensor_type.HasField("shape"):
        return TensorInfo(name, (), dtype, -1)
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
    if dtype == "unknown" or any(d < 0 for d in dims):
        return TensorInfo(name, dims, dtype, -1)
    return TensorInfo(name, dims, dtype, int(np.prod(dims, dtype=np.int64)) * np.dtype(dtype).itemsize)


def _measure_missing_shapes(graph: ModelGraph, names: Iterable[str]) -> None:
    """Where static inference gives up (data-dependent shapes), run the model once and look.

    The sizes are then true for the given input shapes, which is what a plan transfers.
    """
    from fognet.model.runtime import random_feeds, run_model_with_outputs

    names = list(names)
    values = run_model_with_outputs(graph.model, names, random_feeds(graph.inputs, seed=0))
    for name, value in values.items():
        graph.tensors[name] = TensorInfo(name, tuple(value.shape), value.dtype.name, int(value.nbytes))
    graph.inputs = tuple(graph.tensors[t.name] for t in graph.inputs)
    graph.outputs = tuple(graph.tensors[t.name] for t in graph.outputs)
