"""The built-in models, by name: built once per (name, seed, variant), then read from a cache.

Two sources: the nine architectures onnx ships without weights under
`onnx/backend/test/data/light/` (source "onnx", see `nets.light`), and models written here
with onnx.helper (source "built", see `nets`). Weights are seeded and fan-in scaled, so a
model's outputs are finite and depend on its input, and the same name and seed always give
the same file bytes: two peers that build "resnet18" with seed 0 hold the same model and
the same content hash without sending it.

Files live under `$FOGNET_CACHE/zoo` (default `~/.cache/fognet/zoo`), named by model,
variant, seed and BUILDER_VERSION (plus a hash of the onnx source file for onnx models),
so changing a builder or upgrading onnx invalidates old files instead of reusing them.
They are written to a temporary file and renamed, so a reader never sees half a model.

`slim=True` (or a name like "vgg16:slim") caps the hidden fully connected widths of the
VGG-sized models at 256; for the other models it changes nothing and is ignored.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from fognet.errors import ModelError
from fognet.model.nets import classic, light, mobilenet, resnet, yolo

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # bump when any builder or weight rule changes
CACHE_ENV = "FOGNET_CACHE"
DEFAULT_CACHE = "~/.cache/fognet"
SLIM_SUFFIX = ":slim"
IMAGENET = (1, 3, 224, 224)

Builder = Callable[[int, bool], onnx.ModelProto]


@dataclass(frozen=True)
class ZooEntry:
    """What the zoo knows about a model before building it."""

    name: str
    source: str  # "onnx" (onnx's light_* graphs, seeded weights) or "built" (made in code)
    input_shape: tuple[int, ...]
    description: str
    slimmable: bool = False  # slim=True shrinks its hidden FC layers
    origin: str = ""  # onnx source file stem, e.g. "light_resnet50"; empty for built models


@dataclass(frozen=True)
class ZooSummary:
    """Size figures of one built model, as `fognet models` shows them."""

    entry: ZooEntry
    slim: bool
    path: Path
    params: int  # sum of initialiser element counts
    nodes: int  # graph nodes
    flops: int | None  # multiply-add = 2; None when fognet.model.flops is unavailable


def _light(name: str, stem: str, description: str, slimmable: bool = False) -> tuple[ZooEntry, Builder]:
    entry = ZooEntry(name, "onnx", IMAGENET, description, slimmable, stem)
    return entry, functools.partial(light.convert, stem)


def _built(name: str, shape: tuple[int, ...], description: str, builder: Builder, slimmable: bool = False):
    return ZooEntry(name, "built", shape, description, slimmable), builder


_REGISTRY: dict[str, tuple[ZooEntry, Builder]] = {
    entry.name: (entry, builder)
    for entry, builder in (
        _built("pilotnet", (1, 3, 66, 200), "NVIDIA PilotNet steering CNN: 5 conv + 4 FC, one angle out", classic.pilotnet),
        _built("alexnet", IMAGENET, "AlexNet, torchvision layout (for the BVLC one see bvlc-alexnet)", classic.alexnet, True),
        _built("vgg16", IMAGENET, "VGG-16, torchvision layout", classic.vgg16, True),
        _built("resnet18", IMAGENET, "ResNet-18: BasicBlocks, BatchNorm, residual Add", resnet.resnet18),
        _built("resnet34", IMAGENET, "ResNet-34: BasicBlocks, BatchNorm, residual Add", resnet.resnet34),
        _built("nin", IMAGENET, "Network in Network: 1x1 mlpconv blocks, global average pooling", classic.nin),
        _built("mobilenetv2", IMAGENET, "MobileNetV2: inverted residuals, depthwise conv, ReLU6", mobilenet.mobilenetv2),
        _built("yolov3-tiny", (1, 3, 416, 416), "YOLOv3-tiny: two detection heads (13x13, 26x26)", yolo.yolov3_tiny),
        _light("bvlc-alexnet", "light_bvlc_alexnet", "BVLC AlexNet (Caffe, LRN, grouped convs); torchvision's is alexnet", True),
        _light("densenet121", "light_densenet121", "DenseNet-121: dense blocks joined by Concat"),
        _light("inception-v1", "light_inception_v1", "Inception v1 (GoogLeNet): four-branch modules, LRN"),
        _light("inception-v2", "light_inception_v2", "Inception v2: BatchNorm inception modules"),
        _light("resnet50", "light_resnet50", "ResNet-50: bottleneck blocks, BatchNorm, residual Sum"),
        _light("shufflenet", "light_shufflenet", "ShuffleNet: grouped 1x1 convs, channel shuffle"),
        _light("squeezenet", "light_squeezenet", "SqueezeNet 1.0: fire modules, no FC layer"),
        _light("vgg19", "light_vgg19", "VGG-19 (Caffe)", True),
        _light("zfnet512", "light_zfnet512", "ZFNet-512: AlexNet-like with 7x7 first conv, LRN", True),
    )
}


def names() -> list[str]:
    """Every zoo name, built models first, in a fixed order."""
    return list(_REGISTRY)


def entry(name: str) -> ZooEntry:
    """The entry for `name` ("vgg16:slim" names the same entry as "vgg16")."""
    base, _ = _split_variant(name)
    return _REGISTRY[base][0]


def cache_dir() -> Path:
    """Root of fognet's cache: $FOGNET_CACHE, else ~/.cache/fognet."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def build(name: str, seed: int = 0, *, slim: bool = False, cache_dir: Path | None = None) -> Path:
    """Path of the cached .onnx for (name, seed, variant), building it on first use."""
    base, named_slim = _split_variant(name)
    zoo_entry, builder = _REGISTRY[base]
    slim = (slim or named_slim) and zoo_entry.slimmable
    if not isinstance(seed, int) or seed < 0:
        raise ModelError(f"seed must be a non-negative integer, not {seed!r}")
    path = _zoo_dir(cache_dir) / _file_name(zoo_entry, seed, slim)
    if path.is_file():
        return path
    log.info("building zoo model %s (seed %d%s) into %s", base, seed, ", slim" if slim else "", path)
    data = builder(seed, slim).SerializeToString()
    try:
        onnx.checker.check_model(data, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"zoo model {base!r} failed onnx.checker: {exc}".splitlines()[0]) from exc
    _write_atomic(path, data)
    return path


def summary(name: str, *, slim: bool = False, cache_dir: Path | None = None) -> ZooSummary:
    """Parameters, nodes and FLOPs of a zoo model; kept beside the model so the next ask is instant."""
    base, named_slim = _split_variant(name)
    zoo_entry = _REGISTRY[base][0]
    slim = (slim or named_slim) and zoo_entry.slimmable
    path = build(base, 0, slim=slim, cache_dir=cache_dir)
    stats_path = path.with_suffix(".stats.json")
    stats = _read_stats(stats_path)
    if stats is None:
        stats = _measure(path)
        if stats["flops"] is not None:
            _write_atomic(stats_path, json.dumps(stats, sort_keys=True).encode())
    return ZooSummary(zoo_entry, slim, path, stats["params"], stats["nodes"], stats["flops"])


def _split_variant(name: str) -> tuple[str, bool]:
    base, slim = (name[: -len(SLIM_SUFFIX)], True) if name.endswith(SLIM_SUFFIX) else (name, False)
    if base not in _REGISTRY:
        raise ModelError(_unknown_message(name))
    return base, slim


def _unknown_message(name: str) -> str:
    message = f"unknown model {name!r}; known: {', '.join(_REGISTRY)}"
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message


def _zoo_dir(root: Path | None) -> Path:
    return (cache_dir() if root is None else Path(root)) / "zoo"


def _file_name(zoo_entry: ZooEntry, seed: int, slim: bool) -> str:
    variant = "-slim" if slim else ""
    tag = f"-{_source_hash(zoo_entry.origin)}" if zoo_entry.origin else ""
    return f"{zoo_entry.name}{variant}-seed{seed}-v{BUILDER_VERSION}{tag}.onnx"


@functools.cache
def _source_hash(stem: str) -> str:
    return hashlib.sha256(light.source_path(stem).read_bytes()).hexdigest()[:10]


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache {path.parent}: {exc.strerror or exc}; "
            f"set {CACHE_ENV} to a writable directory"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_stats(path: Path) -> dict | None:
    try:
        stats = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stats, dict) or not {"params", "nodes", "flops"} <= stats.keys():
        return None
    return stats


def _measure(path: Path) -> dict:
    model = onnx.load(path)
    params = sum(math.prod(init.dims) for init in model.graph.initializer)
    _add_value_info(model)
    try:
        from fognet.model.flops import model_flops
    except ImportError:
        log.warning("fognet.model.flops is not available; GFLOPs not computed")
        flops = None
    else:
        flops = int(model_flops(model))
    return {"params": params, "nodes": len(model.graph.node), "flops": flops}


def _add_value_info(model: onnx.ModelProto) -> None:
    """Fill value_info by inferring shapes on a copy without weight values.

    Shape inference serialises the whole model; for VGG that is half a gigabyte per call.
    Weights only contribute their shapes, so a skeleton that declares them as typed inputs
    infers the same shapes in a fraction of the time and memory.
    """
    graph = model.graph
    weights = [t for t in graph.initializer if t.data_type == TensorProto.FLOAT]
    names = {t.name for t in weights}
    skeleton_graph = helper.make_graph(
        graph.node, graph.name,
        [*graph.input, *(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in weights)],
        graph.output, initializer=[t for t in graph.initializer if t.name not in names],
    )
    skeleton = helper.make_model(skeleton_graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=False, data_prop=True)
    del graph.value_info[:]
    graph.value_info.extend(inferred.graph.value_info)
