"""Bytes on the wire per encoding, by hand, and the pricing tables that use them."""

from __future__ import annotations

import pytest

from fognet.errors import ConfigError
from fognet.model.graph import analyse
from fognet.partition.encoding import Encoding, parse_encoding, wire_sizes
from fognet.partition.stagebytes import stage_bytes
from fognet.placement.pricing import HaloPricing
from tests.graphs import conv_chain_model, residual_model

FRAME = 1 * 3 * 224 * 224 * 4  # a float32 224x224 RGB input: 602112 bytes


@pytest.mark.parametrize("encoding,frame,activation", [
    (Encoding("float32", "raw"), 602112, 1000),
    (Encoding("uint8", "raw"), 150528, 1000),  # the camera's bytes: a quarter
    (Encoding("uint8", "fp16"), 150528, 500),  # float16 halves activations, not the frame
    (Encoding("uint8", "lz4"), 150528, 1000),  # LZ4 before anything was measured: as raw
    (Encoding("uint8", "lz4", lz4_ratio=0.35), 150528, 350),
    (Encoding("float32", "lz4", lz4_ratio=0.5), 602112, 500),  # frames are never compressed
])
def test_bytes_on_wire_by_hand(encoding: Encoding, frame: int, activation: int) -> None:
    assert encoding.bytes_on_wire(FRAME, is_frame=True) == frame
    assert encoding.bytes_on_wire(1000, is_frame=False) == activation


def test_fp16_leaves_integer_tensors_raw() -> None:
    assert Encoding("uint8", "fp16").bytes_on_wire(64, is_frame=False, dtype="int64") == 64
    assert Encoding("uint8", "fp16").bytes_on_wire(800, is_frame=False, dtype="float64") == 200


def test_only_fp16_is_lossy_and_the_names_round_trip() -> None:
    for text, lossy in [("uint8", False), ("float32", False), ("fp16", True), ("lz4", False), ("float32+lz4", False)]:
        enc = parse_encoding(text)
        assert enc.lossy is lossy
        assert parse_encoding(enc.name) == enc
    assert parse_encoding("fp16") == Encoding("uint8", "fp16")
    assert parse_encoding("float32") == Encoding("float32", "raw")


@pytest.mark.parametrize("bad", ["", "int4", "uint8+zstd", "uint8+lz4+fp16"])
def test_a_bad_encoding_is_a_config_error_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="encoding"):
        parse_encoding(bad)


def test_a_measured_ratio_prices_lz4() -> None:
    enc = parse_encoding("lz4").measured(0.4)
    assert enc.lz4_ratio == 0.4 and enc.bytes_on_wire(1000, False) == pytest.approx(400)


def test_stage_tables_price_the_frame_as_uint8_and_activations_as_sent() -> None:
    graph = analyse(residual_model())  # x [1,3,16,16] -> c1 -> a -> c2 -> b; add(a, b) -> relu -> y
    x, a, y = (graph.tensors[n].nbytes for n in ("x", "a", "y"))
    assert wire_sizes(graph, Encoding("uint8"))["x"] == x / 4
    half = stage_bytes(graph, Encoding("uint8", "fp16"))
    whole = stage_bytes(graph, Encoding("float32"))
    n = len(graph)
    assert half.inputs[0, n] == x / 4 and whole.inputs[0, n] == x  # the first stage gets the frame
    assert half.outputs[0, n] == y / 2 and whole.outputs[0, n] == y
    assert half.inputs[1, n] == a / 2  # stage [1, n) gets the activation a


def test_slice_bytes_are_priced_on_the_same_sizes() -> None:
    graph = analyse(conv_chain_model())  # x [1,3,32,32], all spatial
    raw, u8 = HaloPricing(graph, Encoding("float32")), HaloPricing(graph, Encoding("uint8", "fp16"))
    rows = (0, 4)
    (raw_in, raw_out), (u8_in, u8_out) = raw.slice_bytes(0, 6, rows), u8.slice_bytes(0, 6, rows)
    assert u8_in * 4 == raw_in and u8_out * 2 == raw_out
