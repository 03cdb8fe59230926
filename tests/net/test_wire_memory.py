"""A peer's memory crosses the wire in STATE and lands in the membership table."""

from __future__ import annotations

from fognet.net import codec, wire
from fognet.net.wire import Header
from fognet.peer.membership import _member


def test_state_carries_memory_and_old_senders_mean_no_limit() -> None:
    header = Header(wire.State("127.0.0.1:5000", name="rpi", memory_bytes=256e6), id=3, sender="n1")
    got, _ = codec.decode(codec.encode(header))
    assert got.body.memory_bytes == 256e6
    assert _member(got, 0.0).memory_bytes == 256e6
    plain, _ = codec.decode(codec.encode(Header(wire.State("127.0.0.1:5001"), id=4, sender="n2")))
    assert plain.body.memory_bytes == 0.0
