"""Bytes in and out of every candidate stage [i, j), computed once for the whole model.

The planner prices O(n^2) stages; calling `ModelGraph.boundary` for each would cost
O(n^3). Each tensor instead adds its size to a few rectangles of an (n+1) x (n+1) table
(2-D difference arrays), so both tables take O(n^2 + edges).

A stage [i, j) must receive a tensor produced before i (or a model input) if some node
in [i, j) reads it, and must send back a tensor it produces if a node at j or later reads
it or it is a model output: the star data flow of DESIGN.md. Sizes are bytes on the
wire (`partition.encoding`: uint8 frames by default, activations as sent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fognet.model.graph import ModelGraph, subgraph_inputs
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding, wire_sizes


@dataclass(frozen=True)
class StageBytes:
    """`inputs[i, j]` and `outputs[i, j]`: bytes a stage of nodes [i, j) receives and returns."""

    inputs: np.ndarray
    outputs: np.ndarray


def _box(diff: np.ndarray, r0: int, r1: int, c0: int, c1: int, value: float) -> None:
    """Add `value` to rows r0..r1 and columns c0..c1 (inclusive) of the summed table."""
    if r0 > r1 or c0 > c1:
        return
    diff[r0, c0] += value
    diff[r0, c1 + 1] -= value
    diff[r1 + 1, c0] -= value
    diff[r1 + 1, c1 + 1] += value


def stage_bytes(graph: ModelGraph, encoding: Encoding = DEFAULT_ENCODING) -> StageBytes:
    """Both tables, each tensor priced at its bytes on the wire under `encoding`."""
    n = len(graph)
    sizes = wire_sizes(graph, encoding)
    consumers: dict[str, list[int]] = {}
    for pos, node in enumerate(graph.nodes):
        for name in dict.fromkeys(subgraph_inputs(node)):
            if name in graph.tensors:
                consumers.setdefault(name, []).append(pos)
    outputs = {t.name for t in graph.outputs}
    d_in = np.zeros((n + 2, n + 2))
    d_out = np.zeros((n + 2, n + 2))
    for name, size in sizes.items():
        made = graph.producer(name)
        uses = consumers.get(name, [])
        last = n if name in outputs else (uses[-1] if uses else made)
        # returned by [i, j) when i <= made < j <= last
        if made >= 0:
            _box(d_out, 0, made, made + 1, last, size)
        # received by [i, j) when made < i <= c and j > c, c the first use at or after i
        previous = made
        for use in uses:
            _box(d_in, previous + 1, use, use + 1, n, size)
            previous = use
    return StageBytes(
        inputs=d_in.cumsum(0).cumsum(1)[: n + 1, : n + 1],
        outputs=d_out.cumsum(0).cumsum(1)[: n + 1, : n + 1],
    )
