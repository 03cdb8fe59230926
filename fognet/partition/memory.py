"""How much memory a partition needs: its weights plus its peak live activations.

Parthasarathy & Krishnamachari (ITNAC 2022) place partitions under node memory limits;
this module gives the number a limit is compared with, from the graph alone (no run):

- **weights** of compute nodes [i, j): the bytes of every constant tensor (initialiser,
  Constant node, constant-only subgraph output) read by some node in the range, each
  counted once however many nodes read it;
- **activations**: walking the range in topological order, a non-constant tensor is live
  from the step it is produced (a tensor entering the range: from the range's first step,
  as the stage receives it before it starts) to the step of its last reader; a tensor
  read after the range (or a model output) stays live to the range's last step, since
  the stage hands it on. A tensor that only passes by (produced before, read after, never
  read inside) is not the stage's to hold. The peak is the largest sum over the steps;
- a partition's memory = weights + peak activations.

A spatial slice is charged its whole stage's memory (its weights are all of them; its
activations are smaller): a bound that never lets a placement exceed a peer's memory.

`MemoryTable` holds the figure of every range [i, j) at once (numpy, O(n^2) entries), so
the planners can mask whole columns of options; pure, nothing is run or read.

API
    MemoryTable.of(graph) -> MemoryTable; table.need(i, j) -> bytes; table.column(j) -> array over i
    partition_memory(graph, start, stop) -> PartitionMemory(weights, activations)
    constant_bytes(graph) -> {tensor: bytes}
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from fognet.errors import ModelError
from fognet.model.graph import ModelGraph, subgraph_inputs


@dataclass(frozen=True)
class PartitionMemory:
    """Bytes a partition holds: `weights` (constants it reads) and peak live `activations`."""

    weights: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.activations


def constant_bytes(graph: ModelGraph) -> dict[str, int]:
    """Bytes of every constant tensor the compute nodes can read.

    Initialisers and Constant nodes carry their values; other constant-only outputs (e.g.
    ConstantOfShape + Mul weight generators) are sized from the model's value_info.
    """
    model = graph.model
    sizes: dict[str, int] = {init.name: _tensor_proto_bytes(init) for init in model.graph.initializer}
    infos = {vi.name: vi for vi in [*model.graph.value_info, *model.graph.output, *model.graph.input]}
    for node in graph.constant_nodes:
        for out in node.output:
            if not out or out in sizes:
                continue
            value = next((a for a in node.attribute if a.name == "value"), None)
            if node.op_type == "Constant" and value is not None and value.HasField("t"):
                sizes[out] = _tensor_proto_bytes(value.t)
            else:
                sizes[out] = _value_info_bytes(infos.get(out))
    return sizes


def _tensor_proto_bytes(t: onnx.TensorProto) -> int:
    return int(numpy_helper.to_array(t).nbytes) if not t.external_data else 0


def _value_info_bytes(vi: onnx.ValueInfoProto | None) -> int:
    """Bytes of a statically shaped tensor; 0 when its shape is unknown (it cannot be sized)."""
    if vi is None or not vi.type.HasField("tensor_type"):
        return 0
    tt = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
    if any(d < 0 for d in dims):
        return 0
    itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).itemsize
    return int(np.prod(dims, dtype=np.int64)) * itemsize


class MemoryTable:
    """`need[i, j]` = bytes compute nodes [i, j) hold (module doc), for 0 <= i < j <= n."""

    def __init__(self, weights: np.ndarray, activations: np.ndarray, names: tuple[str, ...]) -> None:
        self.weights = weights
        self.activations = activations
        self.total = weights + activations
        self.names = names

    @classmethod
    def of(cls, graph: ModelGraph) -> MemoryTable:
        """The graph's table, built once per graph (planners are made every round)."""
        table = _TABLES.get(graph)
        if table is None:
            n = len(graph)
            table = cls(_weights_table(graph, n), _activations_table(graph, n), tuple(node.name for node in graph.nodes))
            _TABLES[graph] = table
        return table

    def __len__(self) -> int:
        return len(self.names)

    def need(self, i: int, j: int) -> int:
        if not 0 <= i < j <= len(self):
            raise ModelError(f"node range [{i}, {j}) is outside 0..{len(self)}")
        return int(self.total[i, j])

    def column(self, j: int) -> np.ndarray:
        """Bytes of [i, j) for every i in 0..j-1 (the planner's vector of stage starts)."""
        return self.total[:j, j]

    def largest_node(self) -> tuple[str, int]:
        """The node whose one-node partition needs the most: no plan can hold less than it."""
        singles = [int(self.total[k, k + 1]) for k in range(len(self))]
        k = int(np.argmax(singles))
        return self.names[k], singles[k]


_TABLES: weakref.WeakKeyDictionary[ModelGraph, MemoryTable] = weakref.WeakKeyDictionary()


def partition_memory(graph: ModelGraph, start: int, stop: int) -> PartitionMemory:
    """Weights and peak activations of compute nodes [start, stop) (module doc)."""
    table = MemoryTable.of(graph)
    table.need(start, stop)  # checks the range
    return PartitionMemory(int(table.weights[start, stop]), int(table.activations[start, stop]))


def _weights_table(graph: ModelGraph, n: int) -> np.ndarray:
    """W[i, j] = bytes of the constants read in [i, j): a constant read at sorted positions
    r_1 < r_2 < ... counts for [i, j) when its first reader at or after i is before j."""
    sizes = constant_bytes(graph)
    readers: dict[str, list[int]] = {}
    for k, node in enumerate(graph.nodes):
        for name in subgraph_inputs(node):
            if name in sizes and (not readers.get(name) or readers[name][-1] != k):
                readers.setdefault(name, []).append(k)
    table = np.zeros((n + 1, n + 1), dtype=np.int64)
    for name, where in readers.items():
        nbytes = sizes[name]
        if nbytes == 0:
            continue
        prev = -1
        for r in where:
            # starts i in (prev, r] have r as their first reader: ranges [i, j) with j > r
            table[prev + 1 : r + 1, r + 1 :] += nbytes
            prev = r
    return table


def _activations_table(graph: ModelGraph, n: int) -> np.ndarray:
    """A[i, j] = peak live activation bytes over the steps of [i, j) (module doc)."""
    made: dict[str, int] = {}
    reads: dict[str, list[int]] = {}
    for k, node in enumerate(graph.nodes):
        for name in subgraph_inputs(node):
            if name in graph.tensors and (not reads.get(name) or reads[name][-1] != k):
                reads.setdefault(name, []).append(k)
        for out in node.output:
            if out:
                made[out] = k
    for t in graph.inputs:
        made[t.name] = -1
    outputs = {t.name for t in graph.outputs}
    size = {name: max(info.nbytes, 0) for name, info in graph.tensors.items()}
    last = {name: n if name in outputs else max([made[name], *reads.get(name, [])]) for name in made}

    # produced[k, i]: bytes produced at or after i, live at step k (made <= k <= last)
    table = np.zeros((n + 1, n + 1), dtype=np.int64)
    live_made = np.zeros((n, n + 1), dtype=np.int64)  # [k, p+1]: bytes made at p, live at k
    for name, p in made.items():
        if p >= 0 and size[name]:
            live_made[p : min(last[name], n - 1) + 1, p + 1] += size[name]
    for i in range(n):
        steps = np.arange(i, n)
        produced = live_made[i:, i + 1 :].sum(axis=1)  # made in [i, k], live at k
        # live[k - i, j]: bytes live at step k of range [i, j)
        live = np.repeat(produced[:, None], n + 1, axis=1)
        for name, p in made.items():
            if p >= i or last[name] < i or not size[name]:
                continue
            first_in = next((r for r in reads.get(name, []) if r >= i), None)
            if first_in is None:
                continue  # passes by: never read in or after i
            stop_k = min(last[name], n - 1)
            live[: stop_k - i + 1, first_in + 1 :] += size[name]
        valid = steps[:, None] < np.arange(n + 1)[None, :]  # step k belongs to [i, j) iff k < j
        table[i, i + 1 :] = np.where(valid, live, 0).max(axis=0)[i + 1 :]
    return table


def fits(table: MemoryTable, memory: float | None, j: int) -> np.ndarray:
    """For every start i < j: does range [i, j) fit in `memory` bytes (None: no limit)?"""
    column = table.column(j)
    if memory is None:
        return np.ones(len(column), dtype=bool)
    return column <= memory


def no_fit_message(table: MemoryTable, memories: dict[str, float | None]) -> str:
    """One line for a model no plan can hold: its smallest possible partition against the
    largest memory any peer lends (every partition contains some node's one-node range)."""
    name, need = table.largest_node()
    limited = {p: m for p, m in memories.items() if m is not None}
    peer = max(limited, key=lambda p: (limited[p], p))
    return (
        f"the model fits on no peer: its smallest partition holding node {name!r} needs "
        f"{need / 1e6:.3g} MB and the largest peer memory is {limited[peer] / 1e6:.3g} MB ({peer}); "
        "give a peer more memory or use a smaller model"
    )


def peer_usage(table: MemoryTable, placed: list[tuple[int, int, str]]) -> dict[str, int]:
    """Bytes each peer holds for the stages (start, stop, peer) placed on it: the weights of
    all of them (their sessions stay loaded) plus the largest of their activations (a peer
    runs one piece at a time per model)."""
    weights: dict[str, int] = {}
    acts: dict[str, int] = {}
    for start, stop, peer in placed:
        weights[peer] = weights.get(peer, 0) + int(table.weights[start, stop])
        acts[peer] = max(acts.get(peer, 0), int(table.activations[start, stop]))
    return {p: weights[p] + acts[p] for p in weights}
