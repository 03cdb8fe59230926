"""onnxruntime sessions built one way everywhere, so profiles and peers measure the same thing.

Graph optimisation is off by default: node names then map 1:1 to the profile, and a
partition runs the same kernels it was profiled with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort

from fognet.errors import ModelError


def session_options(threads: int = 1, optimize: bool = False) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    opts.log_severity_level = 3
    return opts


def make_session(
    model: onnx.ModelProto | bytes | str,
    threads: int = 1,
    optimize: bool = False,
    options: ort.SessionOptions | None = None,
) -> ort.InferenceSession:
    """A CPU session for a model proto, serialised bytes, or a path."""
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    try:
        return ort.InferenceSession(
            source, options or session_options(threads, optimize), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"onnxruntime cannot load the model: {str(exc).splitlines()[0]}") from exc


def random_feeds(inputs: Iterable, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for TensorInfo-like objects (name, shape, dtype)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in inputs:
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            feeds[info.name] = rng.standard_normal(info.shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[info.name] = rng.integers(0, 10, size=info.shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[info.name] = rng.integers(0, 2, size=info.shape).astype(bool)
        else:
            raise ModelError(f"cannot make a random input of dtype {dtype} for {info.name!r}")
    return feeds


def run(session: ort.InferenceSession, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    names = list(outputs) if outputs is not None else [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    values = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip(names, values, strict=True))


def run_model_with_outputs(
    model: onnx.ModelProto, names: Sequence[str], feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Run a model and return intermediate tensors `names` (made graph outputs for the run)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    return run(make_session(probe), feeds, names)


def run_chain(
    models: Sequence[onnx.ModelProto | bytes | str],
    feeds: Mapping[str, np.ndarray],
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """Run models in order, passing tensors by name; returns every tensor seen."""
    tensors = dict(feeds)
    for model in models:
        session = make_session(model, threads)
        missing = [i.name for i in session.get_inputs() if i.name not in tensors]
        if missing:
            raise ModelError(f"a part needs {missing[0]!r}, which no earlier part produced")
        tensors.update(run(session, tensors))
    return tensors
