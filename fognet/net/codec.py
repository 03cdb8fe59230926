"""Bytes <-> messages: the one place that converts and validates.

    encode(header, tensors) -> frames        frame 0 msgpack header, frames 1.. raw buffers
    decode(frames, max_bytes=..., max_header_bytes=...) -> (header, tensors)
    header_cap(max_members) -> int           the max_header_bytes of a peer with that many members

`encode` does not copy tensor data: each frame is a flat uint8 view of a C-contiguous array
(a non-contiguous array is made contiguous first, the only copy). Send the frames with
`copy=False`. `decode` wraps each frame buffer with `np.frombuffer`, so the arrays it
returns are read-only views of the received frames (copy them to write). A body field
equal to its default (and of its type) is not sent: `decode` gives a missing optional
field its default, so the receiver gets the same body from a smaller header.

`decode` raises `WireError` naming the bad field for: a frame count that does not match
the header, an unknown version or type, a missing/extra/mistyped body field, a dtype
outside `ALLOWED_DTYPES`, a tensor whose bytes do not equal dtype x shape, and a message
over `max_bytes` (total of all frames, and separately the tensors' declared sizes, checked
before an LZ4 block is decompressed). A tensor value to send may also be an encoded one
(`fognet.net.encodings`: a `Packed` float16 / LZ4 tensor, or a `data.source.Pixels`
frame); its descriptor says how, and `decode` checks the encoding (an unknown kind, a wrong
length, a block that decompresses to anything but the declared bytes) like every field.
Nothing else in fognet parses wire bytes.

Hostile input is bounded here: `decode` raises nothing but `WireError` whatever the bytes
(numpy's errors from a lying shape or dtype become WireError naming the tensor), and
allocates only what the caps allow. Tensors are views of the received frames, never
allocated from a declared shape (a frame must hold exactly dtype x shape bytes, each
dimension at most `MAX_DIM`). The header is at most `MAX_HEADER_BYTES`, checked before
msgpack reads it: its Python objects cost at most ~80x its bytes (1-byte empty maps are
the worst case), so a header costs at most ~5 MB and ~15 ms to reject, however it lies.
One message may be larger: a frozen ROUND_OPEN carries every player's figures (n players
linked to each other: ~26 bytes per pair; 100 peers: 268 KB). A receiver allows it up to
its `max_header_bytes` (`header_cap(max_members)`: a roster of its member table's cap),
read only once the header's first entries, as `encode` writes them, name that type (a
few bytes read, not the rest); that header costs at most ~80x that cap (128 members,
the default: a 1.2 MB cap, measured 86 MB and 70 ms for a header of empty maps, freed
once refused); every other type is still held to `MAX_HEADER_BYTES`.
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
from fognet.net import columns, encodings
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
MAX_HEADER_BYTES = 64 << 10  # frame 0 alone; the largest real ones (HELLO's model list) are a few KB
LARGE = MsgType.ROUND_OPEN  # the one type whose header may exceed it (a frozen roster)
MAX_TENSORS = 256
MAX_NDIM = 8
MAX_DIM = (1 << 31) - 1  # one dimension of a tensor
RESERVED = ("v", "type", "id", "from", "tensors")
_RESERVED = frozenset(RESERVED)
_DTYPES = {name: np.dtype(name) for name in ALLOWED_DTYPES}
_DTYPE_NAMES = {dtype: name for name, dtype in _DTYPES.items()}

Tensors = Mapping[str, np.ndarray]


def header_cap(max_members: int) -> int:
    """The `max_header_bytes` of a peer that keeps at most `max_members` members: a frozen
    ROUND_OPEN of that many players fits (`columns.roster_bytes`)."""
    return MAX_HEADER_BYTES + columns.roster_bytes(max_members)


def encode(header: Header, tensors: Tensors | None = None,
           max_header_bytes: int = MAX_HEADER_BYTES) -> list[bytes | memoryview]:
    """Frames for `header` and `tensors` (in mapping order); no copy of contiguous arrays.

    Checks the body's fields with the same rules as `decode` (WireError naming the field),
    so a bad value fails at the sender rather than as an ERROR from the receiver; and the
    header's size, as `decode` with the same `max_header_bytes` does.
    """
    descs, buffers = _outgoing(tensors or {})
    head: dict[str, typing.Any] = {
        "v": PROTOCOL_VERSION,
        "type": header.type.value,
        "id": header.id,
        "from": header.sender,
        "tensors": descs,
    }
    body = header.body
    for name, convert, default, exact in _sent(type(body)):
        value = getattr(body, name)
        if type(value) is type(default) and value == default:
            continue  # left out: `decode` gives a missing optional field its default
        if type(value) is not exact:  # (a scalar of exactly its field's type is valid)
            if isinstance(value, Enum):
                value = value.value
            convert(name, value)  # the sender learns of a bad field first
        head[name] = value
    try:
        frames: list[bytes | memoryview] = [msgpack.packb(head, use_bin_type=True)]
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"header of {header.type.value}: cannot be packed ({exc})") from exc
    cap = _cap(max_header_bytes) if header.type is LARGE else MAX_HEADER_BYTES
    if len(frames[0]) > cap:
        raise WireError(f"header of {header.type.value}: {len(frames[0])} bytes exceeds {cap}",
                        Reason.TOO_LARGE)
    frames += buffers
    return frames


def _outgoing(tensors: Tensors) -> tuple[list[list], list[memoryview]]:
    """Descriptors and frame buffers of the tensors to send (raw arrays without a copy)."""
    descs, buffers = [], []
    for name, value in tensors.items():
        array, dtype, shape, encoding, payload = encodings.describe(value)
        if array is not None:
            a = _contiguous(array)
            descs.append([name, _dtype_name(name, a), list(a.shape)])
            buffers.append(memoryview(a.reshape(-1).view(np.uint8)))
            continue
        if dtype not in ALLOWED_DTYPES:
            raise WireError(f"tensors[{name!r}].dtype: {dtype} cannot be sent")
        descs.append([name, dtype, list(shape), encodings.check_encoding(f"tensors[{name!r}]", dtype, encoding)])
        buffers.append(as_buffer(payload))
    return descs, buffers


def frames_nbytes(frames: Sequence) -> int:
    return sum(as_buffer(f).nbytes for f in frames)


def decode(frames: Sequence, max_bytes: int = DEFAULT_MAX_BYTES,
           max_header_bytes: int = MAX_HEADER_BYTES) -> tuple[Header, dict[str, np.ndarray]]:
    """Parse and validate a received multipart message (bytes, memoryviews or zmq.Frames).
    `max_header_bytes`: how large a ROUND_OPEN's header may be (any other type's: at most
    `MAX_HEADER_BYTES`)."""
    if not frames:
        raise WireError("empty message: no header frame")
    buffers = [as_buffer(f) for f in frames]
    total = sum(b.nbytes for b in buffers)
    if total > max_bytes:
        raise WireError(f"message: {total} bytes exceeds the cap of {max_bytes} bytes", Reason.TOO_LARGE)
    head = _unpack_head(buffers[0], max_header_bytes)
    version = head.get("v")
    if version != PROTOCOL_VERSION:
        raise WireError(f"v: protocol version {version!r} is not {PROTOCOL_VERSION}", Reason.VERSION)
    msg_type = _msg_type(head.get("type"))
    msg_id = _check("id", head.get("id"), int)
    sender = _check("from", head.get("from"), str)
    descs = _descs(head.get("tensors"))
    if len(descs) != len(buffers) - 1:
        raise WireError(f"tensors: header lists {len(descs)} tensors but {len(buffers) - 1} frames follow")
    declared = sum(d.nbytes for d in descs)
    if declared > max_bytes:
        raise WireError(f"tensors: they declare {declared} bytes, over the cap of {max_bytes} bytes", Reason.TOO_LARGE)
    body = _body(msg_type, head)
    tensors = {d.name: _array(d, buf) for d, buf in zip(descs, buffers[1:], strict=True)}
    return Header(body=body, id=msg_id, sender=sender), tensors


def peek_id(frames: Sequence) -> int:
    """The request id of a message that failed `decode`, if its header has one, else 0
    (a header over the cap is not read at all)."""
    try:
        msg_id = _unpack_head(as_buffer(frames[0])).get("id")
    except (WireError, IndexError):
        return 0
    return msg_id if isinstance(msg_id, int) and not isinstance(msg_id, bool) else 0


# --- helpers ---------------------------------------------------------------------------


def _contiguous(a) -> np.ndarray:
    """C-contiguous in native byte order, keeping 0-d arrays 0-d (np.ascontiguousarray
    would make them 1-d)."""
    a = np.asarray(a)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a if a.flags.c_contiguous else a.copy(order="C")


def _dtype_name(name: str, a: np.ndarray) -> str:
    dtype_name = _DTYPE_NAMES.get(a.dtype)
    if dtype_name is None:
        raise WireError(f"tensors[{name!r}].dtype: {a.dtype} cannot be sent")
    return dtype_name


def as_buffer(frame) -> memoryview:
    """A frame's bytes as a flat memoryview (bytes, memoryview or zmq.Frame), no copy."""
    buf = getattr(frame, "buffer", frame)  # zmq.Frame exposes .buffer
    try:
        return memoryview(buf).cast("B")
    except TypeError as exc:
        raise WireError(f"frame of type {type(frame).__name__} is not a byte buffer") from exc


def _cap(max_header_bytes: int) -> int:
    return max(max_header_bytes, MAX_HEADER_BYTES)


def _unpack_head(buf: memoryview, max_header_bytes: int = MAX_HEADER_BYTES) -> dict:
    cap = _cap(max_header_bytes)
    if buf.nbytes > cap:
        raise WireError(f"header: {buf.nbytes} bytes exceeds {cap}", Reason.TOO_LARGE)
    if buf.nbytes > MAX_HEADER_BYTES and _leading_type(buf) is not LARGE:
        raise WireError(f"header: {buf.nbytes} bytes exceeds {MAX_HEADER_BYTES} (only a "
                        f"{LARGE.value} may take up to {cap})", Reason.TOO_LARGE)
    try:
        head = msgpack.unpackb(buf, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise WireError(f"header: not a msgpack map ({type(exc).__name__}: {exc})") from exc
    if not isinstance(head, dict):
        raise WireError(f"header: expected a map, got {type(head).__name__}")
    return head


_MSG_TYPES = {t.value: t for t in MsgType}  # (a dict: the Enum's own lookup costs ~1 us)


def _leading_type(buf: memoryview) -> MsgType | None:
    """The type a header names in its first two entries ({"v": .., "type": .., ...}, as
    `encode` writes them), read from its first bytes alone; None if they do not."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64)
    unpacker.feed(buf[:64])  # a map header, "v", a version, "type", a type name: ~25 bytes
    try:
        if unpacker.read_map_header() < 2 or unpacker.unpack() != "v":
            return None
        unpacker.skip()
        if unpacker.unpack() != "type":
            return None
        return MsgType(unpacker.unpack())
    except Exception:  # noqa: BLE001 - msgpack raises several unrelated types on garbage
        return None


def _msg_type(value) -> MsgType:
    try:
        return _MSG_TYPES[value]
    except (KeyError, TypeError):  # (TypeError: an unhashable value, e.g. a list)
        raise WireError(f"type: unknown message type {value!r}", Reason.UNSUPPORTED) from None


def _check(name: str, value, kind: type):
    if type(value) is kind:
        return value
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
        if not (isinstance(item, list) and len(item) in (3, 4)):
            raise WireError(f"tensors[{i}]: expected [name, dtype, shape] or [name, dtype, shape, encoding]")
        name = _check(f"tensors[{i}].name", item[0], str)
        dtype = _check(f"tensors[{i}].dtype", item[1], str)
        if dtype not in ALLOWED_DTYPES:
            raise WireError(f"tensors[{i}].dtype: {dtype!r} is not an allowed dtype")
        shape = item[2]
        if not isinstance(shape, list) or len(shape) > MAX_NDIM:
            raise WireError(f"tensors[{i}].shape: expected a list of at most {MAX_NDIM} dims")
        for dim in shape:
            if not 0 <= _check(f"tensors[{i}].shape", dim, int) <= MAX_DIM:
                raise WireError(f"tensors[{i}].shape: dimension {dim} is not in [0, {MAX_DIM}]")
        if name in names:
            raise WireError(f"tensors[{i}].name: duplicate tensor name {name!r}")
        names.add(name)
        encoding = encodings.check_encoding(f"tensors[{i}]", dtype, item[3]) if len(item) == 4 else None
        descs.append(TensorDesc(name, dtype, tuple(shape), encoding))
    return descs


def _array(desc: TensorDesc, buf: memoryview):
    if desc.encoding is not None:
        return encodings.unpack(desc.name, _DTYPES[desc.dtype], desc.shape, desc.encoding, buf)
    if buf.nbytes != desc.nbytes:
        raise WireError(
            f"tensors[{desc.name!r}]: frame has {buf.nbytes} bytes but "
            f"{desc.dtype} x {list(desc.shape)} needs {desc.nbytes}"
        )
    try:
        return np.frombuffer(buf, dtype=_DTYPES[desc.dtype]).reshape(desc.shape)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. [0, 2**31, 2**31, 2**31]
        raise WireError(f"tensors[{desc.name!r}]: shape {list(desc.shape)} is not usable ({exc})") from exc


def _body(msg_type: MsgType, head: dict) -> Body:
    """The body from a header's fields (those not `RESERVED`), each checked."""
    cls = BODIES[msg_type]
    converters, required, exact = _fields(cls)
    kwargs = {}
    try:  # the fields sent, each checked (most bodies carry a few of their fields)
        for name, value in head.items():
            if type(value) is exact.get(name):  # a scalar of exactly its type: as it is
                kwargs[name] = value
            elif name not in _RESERVED:
                kwargs[name] = converters[name](name, value)
    except (KeyError, WireError):
        kwargs = None
    if kwargs is None or not required <= kwargs.keys():
        _refuse_body(msg_type, {k: v for k, v in head.items() if k not in _RESERVED})
    return cls(**kwargs)


def _refuse_body(msg_type: MsgType, values: dict) -> typing.NoReturn:
    """The WireError for a body that breaks its schema, naming the field as a check in
    schema order finds it: an unknown field first, then a bad or missing one."""
    schema = _schema(BODIES[msg_type])
    extra = sorted(set(values) - {name for name, _, _ in schema})
    if extra:
        raise WireError(f"{extra[0]}: unknown field for {msg_type.value}")
    for name, convert, required in schema:
        if name in values:
            convert(name, values[name])
        elif required:
            raise WireError(f"{name}: missing from {msg_type.value}")
    raise AssertionError("unreachable: the body was refused for no reason")  # pragma: no cover


@functools.cache
def _fields(cls: type) -> tuple[dict[str, Converter], frozenset[str], dict[str, type]]:
    """A body class's checks by field name, its required fields, and the fields whose
    value needs no check when it is exactly of their type (a plain int, float, str or
    bool field: `_check` would return it as it is)."""
    schema = _schema(cls)
    return ({name: convert for name, convert, _ in schema},
            frozenset(name for name, _, required in schema if required),
            {name: t for name, t in _exact_types(cls).items() if name not in _RESERVED})


def _exact_types(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)
            if hints[f.name] in (int, float, str, bool)}


Converter = typing.Callable[[str, typing.Any], typing.Any]
_NO_DEFAULT = object()  # of no type a field's value has


@functools.cache
def _sent(cls: type) -> tuple[tuple[str, Converter, typing.Any, type | None], ...]:
    """(field name, check, default, exact type) for each field of a body class, as
    `encode` sends them: a value equal to its field's default (and of its type) is not
    sent, so a message carries only what differs (most columns of most bodies are empty);
    a value exactly of a plain field's type needs no check."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    exact = _exact_types(cls)
    return tuple((name, convert, defaults.get(name, _NO_DEFAULT), exact.get(name))
                 for name, convert, _ in _schema(cls))


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, Converter, bool], ...]:
    """(field name, wire value -> checked value, required) for each field of a body class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, _converter(hints[f.name]),
         f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    )


def _converter(hint) -> Converter:
    """Compile the check for one annotation once, not per message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        convert = _converter(inner)
        return lambda name, value: None if value is None else convert(name, value)
    if origin is tuple:
        item, exact = args[0], {args[0]}

        def items(name: str, value):  # a list from the wire, a tuple from `encode`
            if not isinstance(value, list | tuple):
                raise WireError(f"{name}: expected a list, got {type(value).__name__}")
            if set(map(type, value)) <= exact:  # every item exactly its type: nothing to
                return tuple(value)             # convert (a ROUND_OPEN has ~100 of them)
            return tuple(_check(f"{name}[{i}]", v, item) for i, v in enumerate(value))

        return items
    if isinstance(hint, type) and issubclass(hint, Enum):

        def member(name: str, value):
            try:
                return hint(value)
            except ValueError:
                raise WireError(f"{name}: {value!r} is not a {hint.__name__}") from None

        return member
    return lambda name, value: _check(name, value, hint)
