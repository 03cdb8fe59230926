"""How one tensor travels: raw, a uint8 frame with its normalisation, float16, or LZ4.

A tensor's descriptor in the header is `[name, dtype, shape]` (raw: the frame holds
dtype x shape bytes) or `[name, dtype, shape, encoding]`, where dtype and shape are always
what the receiver gets and `encoding` is a map:

    {"kind": "frame", "normalize": "imagenet" | "unit", "layout": "nchw" | "nhwc"}
        uint8 x shape bytes of camera pixels; the receiver gets `data.source.Pixels`
        and normalises where the first stage runs (exact: the source's own function)
    {"kind": "fp16"}   float16 x shape bytes of a float32/float64 tensor (lossy)
    {"kind": "lz4"}    an LZ4 block of the dtype x shape raw bytes (lossless)

`ACTIVATIONS` names what a sender may ask for its activations: "raw", "fp16", "lz4".
Decoding never trusts a size: an LZ4 block is decompressed into exactly the declared
dtype x shape bytes (a bomb or a lie fails, it never allocates more), and the codec caps
the declared sizes of a message by its byte cap before anything is decompressed.

API
    ACTIVATIONS, KINDS
    Packed(dtype, shape, encoding, payload)      frozen; a tensor already encoded (.wire_bytes)
    pack(array, activations) -> Packed | ndarray    how a sender encodes one activation (LZ4 only
                                                    when it is smaller: the ratio never exceeds 1)
    pack_tensors(tensors, activations) -> (dict, Sent(raw, wire, frame))
    WireRatio()  .add(raw_bytes, wire_bytes), .value   measured wire / raw bytes of activations
    describe(value) -> (dtype, shape, encoding | None, payload)   for the codec's encode
    unpack(desc, encoding, buf) -> ndarray | Pixels               for the codec's decode
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import lz4.block
import numpy as np

from fognet.data.source import NORMALIZATIONS, Pixels
from fognet.errors import WireError
from fognet.net.wire import ACTIVATIONS

KINDS = ("frame", "fp16", "lz4")
_LAYOUTS = ("nchw", "nhwc")
_FLOATS = ("float32", "float64")


@dataclass(frozen=True, eq=False)
class Packed:
    """A tensor as it goes on the wire: what the receiver gets (dtype, shape), how the
    payload encodes it, and the payload bytes."""

    dtype: str
    shape: tuple[int, ...]
    encoding: dict
    payload: bytes | memoryview

    @property
    def wire_bytes(self) -> int:
        return memoryview(self.payload).nbytes


def pack(array: np.ndarray, activations: str) -> Packed | np.ndarray:
    """One activation encoded as asked; a tensor fp16 cannot carry (ints) stays raw."""
    if activations not in ACTIVATIONS:
        raise WireError(f"activations: {activations!r} is not one of {ACTIVATIONS}")
    a = np.ascontiguousarray(array)
    if activations == "fp16" and a.dtype.name in _FLOATS:
        return Packed(a.dtype.name, a.shape, {"kind": "fp16"}, memoryview(a.astype(np.float16)).cast("B"))
    if activations == "lz4" and a.nbytes:
        block = lz4.block.compress(memoryview(a.reshape(-1)).cast("B"), store_size=False)
        if len(block) < a.nbytes:  # incompressible (logits, noise): raw is fewer bytes
            return Packed(a.dtype.name, a.shape, {"kind": "lz4"}, block)
    return a


@dataclass(frozen=True)
class Sent:
    """What a message's tensors took: activations' raw and wire bytes, and frame bytes."""

    raw: int = 0
    wire: int = 0
    frame: int = 0

    @property
    def total(self) -> int:
        return self.wire + self.frame


def pack_tensors(tensors: Mapping[str, object], activations: str) -> tuple[dict[str, object], Sent]:
    """Every tensor packed as `activations` asks (a `Pixels` frame stays a frame), and
    the bytes it stands for and takes: what calibrates LZ4's ratio and the link's speed."""
    packed: dict[str, object] = {}
    raw = wire = frame = 0
    for name, value in tensors.items():
        if isinstance(value, Pixels):
            packed[name] = value
            frame += value.nbytes
            continue
        array = np.asarray(value)
        item = pack(array, activations)
        packed[name] = item
        raw += int(array.nbytes)
        wire += item.wire_bytes if isinstance(item, Packed) else int(array.nbytes)
    return packed, Sent(raw, wire, frame)


@dataclass
class WireRatio:
    """Wire bytes per raw byte of the activations a peer exchanged (1.0 before any): the
    measured ratio that prices LZ4 (`partition.encoding.Encoding.lz4_ratio`)."""

    raw: int = 0
    wire: int = 0

    def add(self, raw_bytes: int, wire_bytes: int) -> None:
        if raw_bytes > 0 and wire_bytes >= 0:
            self.raw += int(raw_bytes)
            self.wire += int(wire_bytes)

    @property
    def value(self) -> float:
        return self.wire / self.raw if self.raw else 1.0


def describe(value) -> tuple[np.ndarray | None, str | None, tuple[int, ...], dict | None, object]:
    """(array or None, dtype, shape, encoding or None, payload) of a value to send."""
    if isinstance(value, Packed):
        return None, value.dtype, tuple(value.shape), value.encoding, value.payload
    if isinstance(value, Pixels):
        encoding = {"kind": "frame", "normalize": value.normalize, "layout": value.layout}
        data = np.ascontiguousarray(value.data, dtype=np.uint8)
        return None, value.dtype, tuple(data.shape), encoding, memoryview(data.reshape(-1))
    return np.asarray(value), None, (), None, None


def check_encoding(where: str, dtype: str, encoding) -> dict:
    """The encoding map of a descriptor, validated; WireError naming the bad part."""
    if not isinstance(encoding, dict):
        raise WireError(f"{where}.encoding: expected a map, got {type(encoding).__name__}")
    kind = encoding.get("kind")
    if kind not in KINDS:
        raise WireError(f"{where}.encoding.kind: {kind!r} is not one of {KINDS}")
    allowed = {"kind", "normalize", "layout"} if kind == "frame" else {"kind"}
    extra = sorted(str(k) for k in set(encoding) - allowed)
    if extra:
        raise WireError(f"{where}.encoding: unknown field {extra[0]!r} for {kind}")
    if kind in ("frame", "fp16") and dtype not in _FLOATS:
        raise WireError(f"{where}.encoding: a {kind} tensor decodes to a float dtype, not {dtype}")
    if kind == "frame":
        if encoding.get("normalize") not in NORMALIZATIONS:
            raise WireError(f"{where}.encoding.normalize: {encoding.get('normalize')!r} is not one of {NORMALIZATIONS}")
        if encoding.get("layout") not in _LAYOUTS:
            raise WireError(f"{where}.encoding.layout: {encoding.get('layout')!r} is not one of {_LAYOUTS}")
    return encoding


def unpack(name: str, dtype: np.dtype, shape: tuple[int, ...], encoding: dict, buf: memoryview):
    """The value a checked descriptor's frame holds; WireError for a wrong length or a
    corrupt block. Nothing is allocated beyond the declared dtype x shape."""
    kind = encoding["kind"]
    count = math.prod(shape)
    if kind == "lz4":
        expected = dtype.itemsize * count
        try:
            raw = lz4.block.decompress(buf, uncompressed_size=expected)
        except (lz4.block.LZ4BlockError, ValueError) as exc:
            raise WireError(f"tensors[{name!r}]: not an LZ4 block of {expected} bytes ({exc})") from None
        if len(raw) != expected:
            raise WireError(f"tensors[{name!r}]: LZ4 block holds {len(raw)} bytes, {dtype.name} x {list(shape)} needs {expected}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    item = 1 if kind == "frame" else 2
    if buf.nbytes != item * count:
        stored = "uint8" if kind == "frame" else "float16"
        raise WireError(
            f"tensors[{name!r}]: frame has {buf.nbytes} bytes but {stored} x {list(shape)} needs {item * count}"
        )
    if kind == "fp16":
        return np.frombuffer(buf, dtype=np.float16).reshape(shape).astype(dtype)
    if len(shape) != 4 or shape[1 if encoding["layout"] == "nchw" else 3] != 3:
        raise WireError(f"tensors[{name!r}]: a frame is 1x3xHxW or 1xHxWx3 pixels, not {list(shape)}")
    pixels = np.frombuffer(buf, dtype=np.uint8).reshape(shape)
    return Pixels(pixels, encoding["normalize"], encoding["layout"], dtype.name)
