"""Bytes <-> messages: the one place that converts and validates.

    encode(header, tensors) -> frames        frame 0 msgpack header, frames 1.. raw buffers
    decode(frames, max_bytes=...) -> (header, tensors)

`encode` does not copy tensor data: each frame is a flat uint8 view of a C-contiguous array
(a non-contiguous array is made contiguous first, the only copy). Send the frames with
`copy=False`. `decode` wraps each frame buffer with `np.frombuffer`, so the arrays it
returns are read-only views of the received frames (copy them to write).

`decode` raises `WireError` naming the bad field for: a frame count that does not match
the header, an unknown version or type, a missing/extra/mistyped body field, a dtype
outside `ALLOWED_DTYPES`, a tensor whose bytes do not equal dtype x shape, and a message
over `max_bytes` (total of all frames). Nothing else in fognet parses wire bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum

import msgpack
import numpy as np

from fognet.errors import WireError
from fognet.net.wire import (
    ALLOWED_DTYPES,
    BODIES,
    PROTOCOL_VERSION,
    Body,
    Header,
    MsgType,
    Reason,
    TensorDesc,
)

DEFAULT_MAX_BYTES = 256 << 20  # 256 MiB for a whole message
MAX_HEADER_BYTES = 1 << 20  # frame 0 alone
MAX_TENSORS = 256
MAX_NDIM = 8
RESERVED = ("v", "type", "id", "from", "tensors")

Tensors = Mapping[str, np.ndarray]


def encode(header: Header, tensors: Tensors | None = None) -> list[bytes | memoryview]:
    """Frames for `header` and `tensors` (in mapping order); no copy of contiguous arrays.

    Checks the body's fields with the same rules as `decode` (WireError naming the field),
    so a bad value fails at the sender rather than as an ERROR from the receiver.
    """
    arrays = {name: _contiguous(a) for name, a in (tensors or {}).items()}
    head: dict[str, typing.Any] = {
        "v": PROTOCOL_VERSION,
        "type": header.type.value,
        "id": header.id,
        "from": header.sender,
        "tensors": [[n, a.dtype.name, list(a.shape)] for n, a in arrays.items()],
    }
    hints = _hints(type(header.body))
    for field in dataclasses.fields(header.body):
        value = _to_wire(getattr(header.body, field.name))
        _from_wire(field.name, value, hints[field.name])  # the sender learns of a bad field first
        head[field.name] = value
    for name, a in arrays.items():
        if a.dtype.name not in ALLOWED_DTYPES:
            raise WireError(f"tensors[{name!r}].dtype: {a.dtype.name} cannot be sent")
    try:
        frames: list[bytes | memoryview] = [msgpack.packb(head, use_bin_type=True)]
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"header of {header.type.value}: cannot be packed ({exc})") from exc
    frames += [memoryview(a.reshape(-1).view(np.uint8)) for a in arrays.values()]
    return frames


def frames_nbytes(frames: Sequence) -> int:
    return sum(as_buffer(f).nbytes for f in frames)


def decode(frames: Sequence, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Header, dict[str, np.ndarray]]:
    """Parse and validate a received multipart message (bytes, memoryviews or zmq.Frames)."""
    if not frames:
        raise WireError("empty message: no header frame")
    buffers = [as_buffer(f) for f in frames]
    total = sum(b.nbytes for b in buffers)
    if total > max_bytes:
        raise refused(f"message: {total} bytes exceeds the cap of {max_bytes} bytes", Reason.TOO_LARGE)
    head = _unpack_head(buffers[0])
    version = head.get("v")
    if version != PROTOCOL_VERSION:
        raise refused(f"v: protocol version {version!r} is not {PROTOCOL_VERSION}", Reason.VERSION)
    msg_type = _msg_type(head.get("type"))
    msg_id = _check("id", head.get("id"), int)
    sender = _check("from", head.get("from"), str)
    descs = _descs(head.get("tensors"))
    if len(descs) != len(buffers) - 1:
        raise WireError(f"tensors: header lists {len(descs)} tensors but {len(buffers) - 1} frames follow")
    body = _body(msg_type, {k: v for k, v in head.items() if k not in RESERVED})
    tensors = {d.name: _array(d, buf) for d, buf in zip(descs, buffers[1:], strict=True)}
    return Header(body=body, id=msg_id, sender=sender), tensors


def peek_id(frames: Sequence) -> int:
    """The request id of a message that failed `decode`, if its header has one, else 0."""
    try:
        head = msgpack.unpackb(as_buffer(frames[0]), raw=False)
        msg_id = head.get("id") if isinstance(head, dict) else None
    except Exception:  # noqa: BLE001 - best effort on bytes already known to be bad
        return 0
    return msg_id if isinstance(msg_id, int) and not isinstance(msg_id, bool) else 0


def refused(message: str, reason: Reason = Reason.MALFORMED) -> WireError:
    """A WireError carrying the Reason an ERROR reply for it should give."""
    exc = WireError(message)
    exc.reason = reason
    return exc


# --- helpers ---------------------------------------------------------------------------


def _contiguous(a) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def as_buffer(frame) -> memoryview:
    """A frame's bytes as a flat memoryview (bytes, memoryview or zmq.Frame), no copy."""
    buf = getattr(frame, "buffer", frame)  # zmq.Frame exposes .buffer
    try:
        return memoryview(buf).cast("B")
    except TypeError as exc:
        raise WireError(f"frame of type {type(frame).__name__} is not a byte buffer") from exc


def _unpack_head(buf: memoryview) -> dict:
    if buf.nbytes > MAX_HEADER_BYTES:
        raise WireError(f"header: {buf.nbytes} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        head = msgpack.unpackb(buf, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise WireError(f"header: not a msgpack map ({type(exc).__name__}: {exc})") from exc
    if not isinstance(head, dict):
        raise WireError(f"header: expected a map, got {type(head).__name__}")
    return head


def _msg_type(value) -> MsgType:
    try:
        return MsgType(value)
    except ValueError:
        raise refused(f"type: unknown message type {value!r}", Reason.UNSUPPORTED) from None


def _check(name: str, value, kind: type):
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise WireError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _descs(value) -> list[TensorDesc]:
    if not isinstance(value, list) or len(value) > MAX_TENSORS:
        raise WireError(f"tensors: expected a list of at most {MAX_TENSORS} descriptors")
    descs, names = [], set()
    for i, item in enumerate(value):
        if not (isinstance(item, list) and len(item) == 3):
            raise WireError(f"tensors[{i}]: expected [name, dtype, shape]")
        name = _check(f"tensors[{i}].name", item[0], str)
        dtype = _check(f"tensors[{i}].dtype", item[1], str)
        if dtype not in ALLOWED_DTYPES:
            raise WireError(f"tensors[{i}].dtype: {dtype!r} is not an allowed dtype")
        shape = item[2]
        if not isinstance(shape, list) or len(shape) > MAX_NDIM:
            raise WireError(f"tensors[{i}].shape: expected a list of at most {MAX_NDIM} dims")
        for dim in shape:
            if _check(f"tensors[{i}].shape", dim, int) < 0:
                raise WireError(f"tensors[{i}].shape: negative dimension {dim}")
        if name in names:
            raise WireError(f"tensors[{i}].name: duplicate tensor name {name!r}")
        names.add(name)
        descs.append(TensorDesc(name, dtype, tuple(shape)))
    return descs


def _array(desc: TensorDesc, buf: memoryview) -> np.ndarray:
    if buf.nbytes != desc.nbytes:
        raise WireError(
            f"tensors[{desc.name!r}]: frame has {buf.nbytes} bytes but "
            f"{desc.dtype} x {list(desc.shape)} needs {desc.nbytes}"
        )
    return np.frombuffer(buf, dtype=desc.dtype).reshape(desc.shape)


def _body(msg_type: MsgType, values: dict) -> Body:
    cls = BODIES[msg_type]
    hints = _hints(cls)
    extra = set(values) - set(hints)
    if extra:
        raise WireError(f"{sorted(extra)[0]}: unknown field for {msg_type.value}")
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise WireError(f"{field.name}: missing from {msg_type.value}")
            continue
        kwargs[field.name] = _from_wire(field.name, values[field.name], hints[field.name])
    return cls(**kwargs)


@functools.cache
def _hints(cls: type) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def _from_wire(name: str, value, hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _from_wire(name, value, inner)
    if origin is tuple:
        if not isinstance(value, list):
            raise WireError(f"{name}: expected a list, got {type(value).__name__}")
        return tuple(_check(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise WireError(f"{name}: {value!r} is not a {hint.__name__}") from None
    return _check(name, value, hint)


def _to_wire(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value
