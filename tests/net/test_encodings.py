"""Encoded tensors on the wire: uint8 frames, float16, LZ4; and what the codec refuses."""

from __future__ import annotations

import lz4.block
import msgpack
import numpy as np
import pytest

from fognet.data.source import Pixels, model_pixels, to_model_input
from fognet.errors import WireError
from fognet.net import codec, wire
from fognet.net.encodings import Packed, pack, pack_tensors
from fognet.net.wire import Header, Reason

HEADER = Header(wire.Result("task", "t1"), id=3, sender="w1")


def _image(seed: int = 0, shape=(90, 120, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _activation(seed: int = 1) -> np.ndarray:
    # ReLU-like: many exact zeros, as real activations have, so LZ4 has something to find
    x = np.random.default_rng(seed).standard_normal((1, 16, 28, 28)).astype(np.float32)
    return np.maximum(x, 0)


def _round_trip(tensors, max_bytes=codec.DEFAULT_MAX_BYTES):
    return codec.decode(codec.encode(HEADER, tensors), max_bytes)[1]


@pytest.mark.parametrize("shape", [(1, 3, 64, 80), (1, 66, 200, 3)])
def test_a_uint8_frame_normalised_on_arrival_is_the_float32_input_bit_for_bit(shape) -> None:
    image = _image()
    pixels = model_pixels(image, shape)
    frames = codec.encode(HEADER, {"x": pixels})
    assert codec.as_buffer(frames[1]).nbytes == np.prod(shape)  # one byte per value on the wire
    got = codec.decode(frames)[1]["x"]
    assert isinstance(got, Pixels) and got.shape == shape
    expected = to_model_input(image, shape)
    assert np.array_equal(got.to_input().view(np.uint32), expected.view(np.uint32))


def test_a_frame_slice_normalises_to_the_rows_of_the_whole() -> None:
    pixels = model_pixels(_image(2), (1, 3, 64, 64))
    got = _round_trip({"x": pixels.rows(10, 30)})["x"]
    assert np.array_equal(got.to_input(), pixels.to_input()[:, :, 10:30])


def test_lz4_is_lossless_and_smaller_on_sparse_activations() -> None:
    a = _activation()
    packed = pack(a, "lz4")
    assert isinstance(packed, Packed) and packed.wire_bytes < a.nbytes
    got = _round_trip({"a": packed})["a"]
    assert got.dtype == a.dtype and got.shape == a.shape
    assert np.array_equal(got.view(np.uint32), a.view(np.uint32))


def test_fp16_halves_the_bytes_within_float16_precision() -> None:
    a = np.random.default_rng(3).standard_normal((1, 8, 10, 10)).astype(np.float32) * 10
    packed = pack(a, "fp16")
    assert packed.wire_bytes == a.nbytes // 2
    got = _round_trip({"a": packed})["a"]
    assert got.dtype == np.float32
    # float16 keeps 11 significant bits: relative error at most 2**-11 in the normal range
    assert np.max(np.abs(got - a) / np.abs(a)) <= 2.0**-11
    assert not np.array_equal(got, a)  # it is lossy, and said to be


def test_integer_tensors_stay_raw_under_fp16() -> None:
    shape = np.array([1, 64, 7, 7], dtype=np.int64)
    assert isinstance(pack(shape, "fp16"), np.ndarray)
    packed, sent = pack_tensors({"s": shape, "a": _activation()}, "fp16")
    assert sent.raw == shape.nbytes + _activation().nbytes
    assert sent.wire == shape.nbytes + _activation().nbytes // 2 and sent.frame == 0
    assert np.array_equal(_round_trip(packed)["s"], shape)


def _forged(descs: list, payloads: list[bytes]) -> list[bytes]:
    head = {"v": wire.PROTOCOL_VERSION, "type": "RESULT", "id": 1, "from": "x",
            "tensors": descs, "task": "t", "subtask": "s"}
    return [msgpack.packb(head, use_bin_type=True), *payloads]


def _refused(frames, max_bytes=codec.DEFAULT_MAX_BYTES) -> WireError:
    with pytest.raises(WireError) as info:
        codec.decode(frames, max_bytes)
    return info.value


def test_an_unknown_encoding_is_refused_naming_it() -> None:
    err = _refused(_forged([["a", "float32", [4], {"kind": "zstd"}]], [b"\0" * 16]))
    assert "encoding.kind" in str(err) and "zstd" in str(err)


def test_an_encoding_with_a_stray_field_is_refused() -> None:
    err = _refused(_forged([["a", "float32", [4], {"kind": "lz4", "size": 9}]], [b"\0" * 16]))
    assert "unknown field 'size'" in str(err)


@pytest.mark.parametrize("kind,length", [("fp16", 7), ("frame", 11)])
def test_a_frame_of_the_wrong_length_is_refused(kind, length) -> None:
    enc = {"kind": kind} if kind == "fp16" else {"kind": "frame", "normalize": "unit", "layout": "nchw"}
    shape = [1, 3, 2, 2] if kind == "frame" else [4]
    err = _refused(_forged([["a", "float32", shape, enc]], [b"\1" * length]))
    assert f"frame has {length} bytes" in str(err)


def test_a_frame_needs_a_known_normalisation_and_a_float_dtype() -> None:
    bad_norm = {"kind": "frame", "normalize": "zscore", "layout": "nchw"}
    assert "normalize" in str(_refused(_forged([["a", "float32", [1, 3, 1, 1], bad_norm]], [b"\1" * 3])))
    ok_norm = {"kind": "frame", "normalize": "unit", "layout": "nchw"}
    assert "float dtype" in str(_refused(_forged([["a", "int64", [1, 3, 1, 1], ok_norm]], [b"\1" * 3])))


def test_an_lz4_block_that_lies_about_its_size_is_refused() -> None:
    block = lz4.block.compress(np.zeros(1000, np.float32).tobytes(), store_size=False)
    short = _refused(_forged([["a", "float32", [500], {"kind": "lz4"}]], [block]))
    assert "not an LZ4 block of 2000 bytes" in str(short)
    long = _refused(_forged([["a", "float32", [2000], {"kind": "lz4"}]], [block]))
    assert "holds 4000 bytes" in str(long)
    garbage = _refused(_forged([["a", "float32", [10], {"kind": "lz4"}]], [b"\xff" * 12]))
    assert "not an LZ4 block" in str(garbage)


def test_an_lz4_bomb_is_refused_by_its_declared_size_before_decompressing() -> None:
    # 1 GB of zeros declared, a few KB on the wire: refused for the declaration, no allocation
    block = lz4.block.compress(np.zeros(1 << 20, np.uint8).tobytes(), store_size=False)
    err = _refused(_forged([["a", "float32", [1 << 28], {"kind": "lz4"}]], [block]), max_bytes=64 << 20)
    assert err.reason is Reason.TOO_LARGE and "declare" in str(err)


def test_the_sender_is_told_first_about_a_bad_encoding() -> None:
    bad = Packed("float32", (4,), {"kind": "gzip"}, b"\0" * 16)
    with pytest.raises(WireError, match="gzip"):
        codec.encode(HEADER, {"a": bad})


def test_incompressible_activations_stay_raw_under_lz4() -> None:
    noise = np.random.default_rng(4).standard_normal(1000).astype(np.float32)  # like logits
    assert isinstance(pack(noise, "lz4"), np.ndarray)
    _, sent = pack_tensors({"logits": noise, "a": _activation()}, "lz4")
    assert sent.wire < sent.raw  # the sparse one compressed, the noise went as it is


def test_an_exec_asking_for_an_unknown_activation_encoding_is_refused_before_it_runs() -> None:
    good = codec.encode(Header(wire.Exec("t", "s", "ab" * 32, 0, 3, activations="lz4")))
    assert codec.decode(good)[0].body.activations == "lz4"
    head = msgpack.unpackb(good[0], raw=False)
    head["activations"] = "zstd"
    err = _refused([msgpack.packb(head, use_bin_type=True)])
    assert "activations" in str(err) and "zstd" in str(err)


def test_the_wire_and_the_cost_model_know_the_same_activation_encodings() -> None:
    from fognet.partition.encoding import ACTIVATIONS as PRICED

    assert wire.ACTIVATIONS == PRICED  # net and partition may not import each other: kept equal here
