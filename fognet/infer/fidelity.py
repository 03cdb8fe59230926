"""How far a run's outputs are from the whole model run here, on the same frames.

`--verify` counts the frames whose outputs match (numpy.allclose); a lossy encoding
(float16 activations) is reported with its error whether or not it was asked for: the
largest absolute difference over every output value, and the largest relative one, each
output's largest difference over its largest magnitude (element-wise ratios blow up at
the zeros a ReLU makes). An exact encoding reports 0 and 0.

API
    Fidelity(frames, matched, max_abs, max_rel)      frozen
    compare_outputs(graph, feeds, results) -> Fidelity   the successful frames of a run
    compare(graph, feeds, outputs) -> Fidelity           outputs given as dicts (the chain flow)
    describe(fidelity, encoding_name, lossy) -> str   the report line
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fognet.infer.requester import FrameResult
from fognet.model.graph import ModelGraph
from fognet.model.runtime import make_session, run
from fognet.peer.executor import frames_normalised

RTOL, ATOL = 1e-4, 1e-5  # what `--verify` calls a match


@dataclass(frozen=True)
class Fidelity:
    frames: int  # frames compared (those that succeeded)
    matched: int  # of them, outputs numpy.allclose to the whole model's
    max_abs: float
    max_rel: float


def compare_outputs(
    graph: ModelGraph, feeds: Sequence[Mapping[str, object]], results: Sequence[FrameResult]
) -> Fidelity:
    """Each successful frame's outputs against whole-model inference on its feeds."""
    done = [(frame, r.outputs) for frame, r in zip(feeds, results, strict=False) if r.ok]
    return compare(graph, [f for f, _ in done], [o for _, o in done])


def compare(
    graph: ModelGraph, feeds: Sequence[Mapping[str, object]], outputs: Sequence[Mapping[str, object]]
) -> Fidelity:
    """Each frame's `outputs` against whole-model inference on its feeds."""
    session = make_session(graph.model)
    frames = matched = 0
    max_abs = max_rel = 0.0
    for frame, got_all in zip(feeds, outputs, strict=True):
        expected = run(session, frames_normalised(frame))
        frames += 1
        ok = True
        for name, want in expected.items():
            got = np.asarray(got_all[name], dtype=np.float64)
            want = np.asarray(want, dtype=np.float64)
            diff = float(np.max(np.abs(got - want))) if want.size else 0.0
            scale = float(np.max(np.abs(want))) if want.size else 0.0
            max_abs = max(max_abs, diff)
            max_rel = max(max_rel, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")))
            ok = ok and bool(np.allclose(got, want, rtol=RTOL, atol=ATOL))
        matched += ok
    return Fidelity(frames, matched, max_abs, max_rel)


def describe(fidelity: Fidelity | None, encoding_name: str, lossy: bool) -> str:
    """One line for a run's report: the encoding, and its output error when measured."""
    kind = "lossy" if lossy else "exact"
    if fidelity is None:
        return f"encoding {encoding_name} ({kind})"
    return (f"encoding {encoding_name} ({kind}): output error vs the whole model over {fidelity.frames} frames: "
            f"max abs {fidelity.max_abs:.3g}, max relative {fidelity.max_rel:.3g}")
