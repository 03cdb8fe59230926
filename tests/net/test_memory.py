"""The in-process twin follows the same rules as the ZeroMQ transport."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from fognet.errors import PeerUnreachable
from fognet.net import wire
from fognet.net.base import RemoteError
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.wire import Header, Reason


async def _handler(header: Header, tensors: dict):
    if isinstance(header.body, wire.Ping):
        return Header(wire.Pong()), {k: v + 1 for k, v in tensors.items()}
    if isinstance(header.body, wire.RoundDone):
        await asyncio.sleep(0.2)
        return Header(wire.Pong())
    raise RuntimeError("boom")


async def test_memory_transport_behaves_like_the_zmq_one() -> None:
    net = MemoryNetwork()
    a, b = MemoryTransport(net), MemoryTransport(net)
    serving = asyncio.create_task(b.serve(_handler))
    try:
        x = np.arange(6, dtype=np.int32).reshape(2, 3)
        reply, out = await a.request(b.address, Header(wire.Ping()), {"x": x}, timeout_s=1)
        assert isinstance(reply.body, wire.Pong) and np.array_equal(out["x"], x + 1)
        assert not np.shares_memory(out["x"], x)
        with pytest.raises(RemoteError) as info:
            await a.request(b.address, Header(wire.Accept(1, "t")), timeout_s=1)
        assert info.value.reason is Reason.HANDLER_FAILED
        await a.send_frames(b.address, [b"\xc1 garbage"])
        with pytest.raises(PeerUnreachable):
            await a.request(b.address, Header(wire.RoundDone(1)), timeout_s=0.05)
        await asyncio.sleep(0.3)
        # late: the ERROR for the garbage (no id to pair it with) and the slow PONG
        assert a.stats().late == 2 and b.stats().malformed == 1 and b.stats().errors_sent == 2
        with pytest.raises(PeerUnreachable):
            await a.request("memory:999", Header(wire.Ping()), timeout_s=1)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await a.aclose()
        await b.aclose()


async def test_forgetting_a_peer_fails_its_pending_request() -> None:
    net = MemoryNetwork()
    a, b = MemoryTransport(net), MemoryTransport(net)
    serving = asyncio.create_task(b.serve(_handler))
    try:
        asking = asyncio.create_task(a.request(b.address, Header(wire.RoundDone(1)), timeout_s=2))
        await asyncio.sleep(0.05)
        a.forget(b.address)
        with pytest.raises(PeerUnreachable, match=b.address):
            await asyncio.wait_for(asking, 1)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await a.aclose()
        await b.aclose()
