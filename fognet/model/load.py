"""Resolve a model argument (zoo name or .onnx path) into one checked, normalised model.

Every command and every peer goes through here, so that all of them see the same graph:
initialisers are not graph inputs (IR 3 exports list them as both), every node has a
unique name (profiles and plans refer to nodes by name), symbolic input dimensions are
made concrete, and shapes are inferred. Normalisation is deterministic, so two peers that
load the same file bytes get the same node names and positions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from fognet.errors import DynamicShapeError, ModelError

MIN_IR_VERSION = 7

InputShapes = Mapping[str, Sequence[int]] | Sequence[Sequence[int]] | None


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for analysis: where it came from, its content hash, the normalised graph."""

    name: str
    path: Path
    sha256: str
    model: onnx.ModelProto
    file_static: bool = True  # every input of the file itself has static dims (it can be shared as is)

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {vi.name: _static_dims(vi) or () for vi in self.model.graph.input}


def load_model(spec: str | Path, input_shapes: InputShapes = None, *, seed: int = 0) -> LoadedModel:
    """Load a zoo model by name or an .onnx file by path, normalised (see module docstring)."""
    path, name = _resolve(spec, seed)
    data = _read(path)
    model = parse_model(data, path)
    static = all(_static_dims(vi) is not None for vi in model.graph.input)
    normalise(model, input_shapes)
    return LoadedModel(name=name, path=path, sha256=hashlib.sha256(data).hexdigest(), model=model,
                       file_static=static)


def _resolve(spec: str | Path, seed: int) -> tuple[Path, str]:
    text = str(spec)
    path = Path(text).expanduser()
    looks_like_path = path.suffix == ".onnx" or "/" in text or "\\" in text
    if path.is_file():
        return path, path.stem
    if path.is_dir():
        raise ModelError(f"{text} is a directory, not an .onnx file")
    if looks_like_path:
        raise ModelError(f"no such model file: {text}")
    from fognet.model import zoo

    return zoo.build(text, seed), text


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from exc


def parse_model(data: bytes, origin: Path | str = "<bytes>") -> onnx.ModelProto:
    """Parse ONNX bytes; protobuf happily parses some garbage, so also require a graph."""
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{origin} is not an ONNX model ({exc.__class__.__name__})") from exc
    if not model.graph.node or not model.graph.output:
        raise ModelError(f"{origin} is not an ONNX model (no graph nodes or outputs)")
    if not model.opset_import:
        raise ModelError(f"{origin} has no opset_import; cannot tell which operator set it uses")
    return model


def normalise(model: onnx.ModelProto, input_shapes: InputShapes = None) -> None:
    """Normalise in place: see the module docstring for what and why."""
    graph = model.graph
    initialisers = {init.name for init in graph.initializer}
    real_inputs = [vi for vi in graph.input if vi.name not in initialisers]
    if len(real_inputs) != len(graph.input):
        del graph.input[:]
        graph.input.extend(real_inputs)
    model.ir_version = max(model.ir_version, MIN_IR_VERSION)
    _name_nodes(graph)
    if _apply_input_shapes(graph, input_shapes):
        # Declared output shapes were for the old input shapes; let inference redo them.
        for out in graph.output:
            if out.type.HasField("tensor_type"):
                out.type.tensor_type.ClearField("shape")
    _infer_shapes(model)


def _name_nodes(graph: onnx.GraphProto) -> None:
    seen: set[str] = set()
    for index, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{index}"
        while name in seen:
            name = f"{name}_{index}"
        node.name = name
        seen.add(name)


def _static_dims(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    dims = vi.type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _describe_dims(vi: onnx.ValueInfoProto) -> str:
    if not vi.type.tensor_type.HasField("shape"):
        return "unknown rank"
    parts = [
        str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
        for d in vi.type.tensor_type.shape.dim
    ]
    return "[" + ",".join(parts) + "]"


def _apply_input_shapes(graph: onnx.GraphProto, input_shapes: InputShapes) -> bool:
    """Make every input's shape concrete; True when a given shape replaced a symbolic one."""
    changed = False
    inputs = list(graph.input)
    given: dict[str, Sequence[int]] = {}
    if isinstance(input_shapes, Mapping):
        unknown = set(input_shapes) - {vi.name for vi in inputs}
        if unknown:
            names = ", ".join(vi.name for vi in inputs)
            raise ModelError(f"--input-shape names unknown input {sorted(unknown)[0]!r}; inputs: {names}")
        given = dict(input_shapes)
    elif input_shapes:
        if len(input_shapes) > len(inputs):
            raise ModelError(f"{len(input_shapes)} --input-shape values for {len(inputs)} model inputs")
        given = {vi.name: shape for vi, shape in zip(inputs, input_shapes, strict=False)}
    for vi in inputs:
        current = _static_dims(vi)
        shape = given.get(vi.name)
        if shape is None:
            if current is None:
                raise DynamicShapeError(
                    f"input {vi.name!r} has dynamic shape {_describe_dims(vi)}; "
                    f"give --input-shape {vi.name}=1,3,224,224 (with its real dimensions)"
                )
            continue
        shape = tuple(int(d) for d in shape)
        rank = len(vi.type.tensor_type.shape.dim) if vi.type.tensor_type.HasField("shape") else None
        if rank is not None and rank != len(shape):
            raise ModelError(f"input {vi.name!r} has rank {rank}, --input-shape gives {len(shape)} dims")
        if current is not None and current != shape:
            raise ModelError(f"input {vi.name!r} has fixed shape {list(current)}, not {list(shape)}")
        if current is None:
            changed = True
        tensor_type = vi.type.tensor_type
        tensor_type.ClearField("shape")
        for d in shape:
            tensor_type.shape.dim.add().dim_value = d
    return changed


def _infer_shapes(model: onnx.ModelProto) -> None:
    # Stale value_info from exporters can contradict the concrete shapes just applied.
    del model.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # onnx raises several unrelated types here
        raise ModelError(f"shape inference failed: {exc}".splitlines()[0]) from exc
    model.CopyFrom(inferred)
