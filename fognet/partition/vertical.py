"""Vertical splits: K consecutive parts of the compute-node order, and the manifest on disk.

Without explicit positions the cuts balance compute (profiled time, or FLOPs) while
preferring cuts that move few bytes: a dynamic program over positions minimises the sum of
each part's squared relative imbalance plus a penalty per cut proportional to its crossing
bytes (relative to the largest cut in the model).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from fognet.errors import PartitionError
from fognet.model.graph import ModelGraph
from fognet.partition.extract import extract

TRANSFER_PENALTY = 0.5


@dataclass(frozen=True)
class Part:
    index: int
    start: int
    stop: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def parts_at(graph: ModelGraph, positions: Sequence[int]) -> list[Part]:
    """The parts between cut positions (validated: increasing, inside 1..n-1)."""
    n = len(graph)
    cuts = list(positions)
    for p in cuts:
        if not 0 < p < n:
            raise PartitionError(f"cut position {p} is out of range; valid positions are 1..{n - 1}")
    if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise PartitionError(f"cut positions must be strictly increasing, got {cuts}")
    bounds = [0, *cuts, n]
    parts = []
    for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        inputs, outputs = graph.boundary(start, stop)
        parts.append(Part(i, start, stop, inputs, outputs))
    return parts


def balanced_positions(
    graph: ModelGraph,
    k: int,
    weights: Sequence[float] | None = None,
    transfer_penalty: float = TRANSFER_PENALTY,
) -> list[int]:
    """K-1 cut positions balancing `weights` per compute node (FLOPs or seconds)."""
    n = len(graph)
    if k < 1:
        raise PartitionError(f"--parts must be at least 1, got {k}")
    if k > n:
        raise PartitionError(
            f"cannot split into {k} parts: the model has {n} compute nodes ({n - 1} cut positions)"
        )
    if k == 1:
        return []
    w = np.asarray(weights if weights is not None else np.ones(n), dtype=float)
    if w.shape != (n,):
        raise PartitionError(f"{len(w)} node weights for {n} compute nodes")
    if w.sum() <= 0:
        w = np.ones(n)
    prefix = np.concatenate([[0.0], np.cumsum(w)])
    ideal = prefix[-1] / k
    cut_bytes = np.zeros(n + 1)
    for cut in graph.cuts():
        cut_bytes[cut.position] = cut.nbytes
    penalty = transfer_penalty * cut_bytes / max(cut_bytes.max(), 1.0)

    inf = float("inf")
    best = np.full((k + 1, n + 1), inf)
    choice = np.zeros((k + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for parts in range(1, k + 1):
        for p in range(parts, n - (k - parts) + 1):
            q = np.arange(parts - 1, p)
            imbalance = ((prefix[p] - prefix[q]) / ideal - 1.0) ** 2
            cost = best[parts - 1, q] + imbalance + np.where(q > 0, penalty[q], 0.0)
            j = int(np.argmin(cost))
            best[parts, p] = cost[j]
            choice[parts, p] = q[j]
    positions = []
    p = n
    for parts in range(k, 0, -1):
        p = int(choice[parts, p])
        positions.append(p)
    return sorted(positions[:-1])


def write_split(
    graph: ModelGraph, parts: Sequence[Part], out_dir: Path, model_path: Path, model_sha256: str
) -> dict:
    """Write part_i.onnx files and manifest.json; return the manifest."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PartitionError(f"cannot create output directory {out_dir}: {exc.strerror}") from exc
    entries = []
    for part in parts:
        filename = f"part_{part.index}.onnx"
        onnx.save(extract(graph, part.start, part.stop), str(out_dir / filename))
        entries.append(
            {
                "file": filename,
                "inputs": list(part.inputs),
                "outputs": list(part.outputs),
                "nodes": [part.start, part.stop - 1],
            }
        )
    manifest = {
        "model": str(Path(model_path).resolve()),
        "model_sha256": model_sha256,
        "inputs": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in graph.inputs
        ],
        "outputs": [t.name for t in graph.outputs],
        "parts": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
