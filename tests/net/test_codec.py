from __future__ import annotations

import msgpack
import numpy as np
import pytest

from fognet.errors import WireError
from fognet.net import codec, wire
from fognet.net.wire import Header, Reason

ARRAYS = {
    "f32": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    "f16": np.linspace(-1, 1, 7).astype(np.float16),
    "f64_0d": np.array(3.25),
    "i64": np.array([[-(2**40), 5]], dtype=np.int64),
    "u8_empty": np.zeros((0, 5), dtype=np.uint8),
    "bool": np.array([True, False, True]),
    "strided": np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2],
}


def test_round_trip_keeps_header_dtypes_shapes_and_values() -> None:
    header = Header(wire.Hello("127.0.0.1:5000", name="car1", speed=2.5, models=("ab" * 32,)), id=7, sender="n1")
    got, tensors = codec.decode(codec.encode(header, ARRAYS))
    assert got == header
    assert list(tensors) == list(ARRAYS)
    for name, a in ARRAYS.items():
        assert tensors[name].dtype == a.dtype and tensors[name].shape == a.shape, name
        assert np.array_equal(tensors[name], a), name


@pytest.mark.parametrize("body", [
    wire.Propose(3, "t1", "car1", 0.03, 602112, 4000),
    wire.Reject(3, "t1", Reason.QUOTA_FULL),
    wire.StepAsk(3, 9, "swap", "w1#w", ("t1", "t2"), ("car1", "car2"), (0.1, 0.2), (10, 20),
                 (1, 2), ("w1#w", "w2#w"), ("w2#w", "w1#w"), (0, 1)),
    wire.StepVote(3, 9, False, reason=Reason.BUSY),
    wire.StepAbort(3, 9),
    wire.Exec("task", "t1", "ab" * 32, 0, 10, 4, 12),
    wire.Error(Reason.NOT_FOUND, "no model"),
    wire.Bye(),
])
def test_every_kind_of_body_round_trips(body) -> None:
    got, _ = codec.decode(codec.encode(Header(body, id=1, sender="x")))
    assert got.body == body and got.type is body.TYPE


def test_every_message_type_has_a_body() -> None:
    assert set(wire.BODIES) == set(wire.MsgType)


def test_tensor_frames_are_not_copied() -> None:
    a = np.ones((256, 256), dtype=np.float32)
    frames = codec.encode(Header(wire.Ping()), {"a": a})
    assert np.shares_memory(np.frombuffer(frames[1], dtype=np.uint8), a)


def _head(**changes) -> list:
    head = msgpack.unpackb(codec.encode(Header(wire.Ping(), id=4), {"x": np.zeros(4, np.float32)})[0])
    head.update(changes)
    return [msgpack.packb(head), bytes(16)]


@pytest.mark.parametrize("frames, field", [
    ([b"\xc1garbage"], "header"),
    ([msgpack.packb([1, 2])], "header"),
    (_head(v=99), "v"),
    (_head(type="TELEPORT"), "type"),
    (_head(id="4"), "id"),
    (_head(tensors=[["x", "float32", [5]]]), "tensors['x']"),  # lies: 20 bytes, frame has 16
    (_head(tensors=[["x", "object", [2]]]), "dtype"),
    (_head(tensors=[["x", "float32", [-4]]]), "shape"),
    (_head(tensors=[]), "tensors"),  # one frame too many
    (_head(address="x"), "address"),  # not a PING field
    (_head(type="ACCEPT"), "round"),  # missing required field
    (_head(type="REJECT", round=1, subtask="t", reason="BORED"), "reason"),
])
def test_decode_names_the_bad_field(frames, field) -> None:
    with pytest.raises(WireError, match=field.replace("[", r"\[")):
        codec.decode(frames)


def test_truncated_multipart_is_refused() -> None:
    frames = codec.encode(Header(wire.Ping()), {"a": np.zeros(3), "b": np.zeros(2)})
    with pytest.raises(WireError, match="tensors"):
        codec.decode(frames[:2])
    with pytest.raises(WireError, match="empty"):
        codec.decode([])


def test_size_cap_and_its_reason() -> None:
    frames = codec.encode(Header(wire.Ping()), {"a": np.zeros(1000, np.uint8)})
    codec.decode(frames, max_bytes=2000)
    with pytest.raises(WireError, match="exceeds the cap") as info:
        codec.decode(frames, max_bytes=500)
    assert info.value.reason is Reason.TOO_LARGE


def test_peek_id_recovers_the_id_of_a_bad_message() -> None:
    assert codec.peek_id(_head(v=99)) == 4
    assert codec.peek_id([b"\xc1"]) == 0


def test_encode_refuses_bad_values_naming_the_field() -> None:
    with pytest.raises(WireError, match="round"):
        codec.encode(Header(wire.Accept(np.int64(3), "t")))
    with pytest.raises(WireError, match="dtype"):
        codec.encode(Header(wire.Ping()), {"c": np.zeros(2, dtype=np.complex64)})


def test_big_endian_arrays_arrive_with_their_values() -> None:
    a = np.arange(5, dtype=">f4")
    _, tensors = codec.decode(codec.encode(Header(wire.Ping()), {"a": a}))
    assert tensors["a"].dtype == np.float32 and np.array_equal(tensors["a"], a)


def test_a_field_at_its_default_is_left_out_and_decodes_to_it() -> None:
    """Most columns of most bodies are empty: only what differs from a field's default is
    sent, and the receiver gets the same body; a value of another type is still checked."""
    frames = codec.encode(Header(wire.RoundDone(round=3, commits=0, worker_commits=5)))
    head = msgpack.unpackb(frames[0])
    assert "commits" not in head and head["worker_commits"] == 5 and head["round"] == 3
    assert codec.decode(frames)[0].body == wire.RoundDone(3, 0, 5)
    with pytest.raises(WireError, match="commits"):
        codec.encode(Header(wire.RoundDone(round=3, commits=0.0)))  # 0.0 == 0, not an int
