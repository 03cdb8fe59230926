"""Property-based fuzzing of the codec: whatever the bytes, `decode` returns a message or
raises WireError (never a numpy, msgpack or Python error), what it returns re-encodes, and
it allocates nothing from a declared shape."""

from __future__ import annotations

import math
import tracemalloc

import msgpack
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fognet.errors import WireError
from fognet.net import codec, wire
from fognet.net.wire import ALLOWED_DTYPES, Header, MsgType

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=20),
    st.binary(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
dims = st.one_of(st.integers(0, 6), st.integers(-3, 2**64 - 1), st.floats(), st.text(max_size=3), st.none())
descs = st.lists(st.tuples(
    st.one_of(st.text(max_size=6), st.integers(-(2**63), 2**64 - 1)),
    st.one_of(st.sampled_from(sorted(ALLOWED_DTYPES)), st.sampled_from(["object", "complex64", "U8", ""])),
    st.one_of(st.lists(dims, max_size=10), dims),
).map(list), max_size=4)


def decodes_or_refuses(frames: list) -> tuple[Header, dict] | None:
    """The one property every input must have; returns the message when it decoded."""
    try:
        header, tensors = codec.decode(frames, max_bytes=1 << 16)
    except WireError:
        return None
    total = sum(len(bytes(f)) for f in frames)
    for array in tensors.values():
        assert array.base is not None and array.nbytes <= total  # views of frames, no allocation
    return header, tensors


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_random_bytes_are_refused_or_decoded(frames) -> None:
    decodes_or_refuses(frames)


@SETTINGS
@given(values, st.lists(st.binary(max_size=64), max_size=3))
def test_any_msgpack_value_as_header(head, tensors) -> None:
    decodes_or_refuses([msgpack.packb(head, use_bin_type=True), *tensors])


@SETTINGS
@given(
    st.sampled_from(sorted(MsgType, key=lambda t: t.value)),
    st.dictionaries(st.sampled_from(["v", "type", "id", "from", "round", "subtask", "address", "reason",
                                     "model_sha256", "node_start", "roster", "addresses", "speed"]),
                    values, max_size=4),
    descs, st.lists(st.binary(max_size=96), max_size=5),
)
def test_a_mutated_header_with_lying_tensors(msg_type, changes, tensors, frames) -> None:
    head = {"v": wire.PROTOCOL_VERSION, "type": msg_type.value, "id": 1, "from": "x", "tensors": tensors}
    head.update(changes)
    decoded = decodes_or_refuses([msgpack.packb(head, use_bin_type=True), *frames])
    if decoded is None:
        return
    header, arrays = decoded
    again, arrays_again = codec.decode(codec.encode(header, arrays))
    assert (again.type, again.id, again.sender) == (header.type, header.id, header.sender)
    assert all(np.array_equal(arrays[n], arrays_again[n], equal_nan=True) for n in arrays)


@SETTINGS
@given(st.sampled_from(sorted(ALLOWED_DTYPES)), st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8),
       st.integers(0, 64))
def test_a_shape_that_lies_about_its_bytes(dtype, shape, nbytes) -> None:
    head = {"v": wire.PROTOCOL_VERSION, "type": "PING", "id": 1, "from": "x", "tensors": [["t", dtype, shape]]}
    decoded = decodes_or_refuses([msgpack.packb(head), bytes(nbytes)])
    needed = np.dtype(dtype).itemsize * math.prod(shape)
    assert (decoded is not None) <= (needed == nbytes)


def test_a_header_over_the_cap_is_never_unpacked() -> None:
    """A frame 0 of a million empty maps would cost ~80 MB of Python objects: it is refused
    by its size alone, and peek_id does not read it either."""
    n = 1 << 20
    bomb = b"\xdd" + n.to_bytes(4, "big") + b"\x80" * n
    tracemalloc.start()
    try:
        for frames in ([bomb], [bomb[: codec.MAX_HEADER_BYTES + 1]]):
            try:
                codec.decode(frames)
            except WireError as exc:
                assert "exceeds" in str(exc)
            else:
                raise AssertionError("an oversized header decoded")
            assert codec.peek_id(frames) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"refusing a header bomb allocated {peak} bytes"


def test_encode_refuses_a_header_the_receiver_would_refuse() -> None:
    hello = wire.Hello("127.0.0.1:1", models=tuple(f"{i:064x}" for i in range(2000)))
    try:
        codec.encode(Header(hello))
    except WireError as exc:
        assert "exceeds" in str(exc)
    else:
        raise AssertionError("a header over MAX_HEADER_BYTES was encoded")
