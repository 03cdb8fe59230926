"""The in-process twin follows the same rules as the ZeroMQ transport."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from fognet.errors import PeerUnreachable, Refused, RemoteError, WireError
from fognet.net import wire
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


async def test_a_refusal_carries_its_reason_over_the_wire_and_is_no_failure(caplog) -> None:
    """Refused and WireError keep their reason (a WireError without one is MALFORMED), a
    RemoteError a handler lets through keeps the remote's; only other exceptions are
    failures: HANDLER_FAILED, logged with their traceback."""
    raised = {
        "refused": Refused("round 3 is over", Reason.STALE_ROUND),
        "malformed": WireError("subtask: work_ref_s must be finite"),
        "version": WireError("v: protocol version 9", Reason.VERSION),
        "relayed": RemoteError("peer x answered ERROR NOT_FOUND", Reason.NOT_FOUND),
        "bug": KeyError("oops"),
    }

    async def handler(header: Header, tensors: dict):
        raise raised[header.body.subtask]

    net = MemoryNetwork()
    a, b = MemoryTransport(net), MemoryTransport(net)
    serving = asyncio.create_task(b.serve(handler))
    got = {}
    try:
        with caplog.at_level(logging.ERROR, logger="fognet.net.base"):
            for name in raised:
                with pytest.raises(RemoteError) as info:
                    await a.request(b.address, Header(wire.Accept(3, name)), timeout_s=1)
                got[name] = (info.value.reason, str(info.value))
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await a.aclose()
        await b.aclose()
    assert {k: r for k, (r, _) in got.items()} == {
        "refused": Reason.STALE_ROUND, "malformed": Reason.MALFORMED, "version": Reason.VERSION,
        "relayed": Reason.NOT_FOUND, "bug": Reason.HANDLER_FAILED,
    }
    assert "Refused: round 3 is over" in got["refused"][1]
    assert "internal KeyError" in got["bug"][1]
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1 and isinstance(failures[0].exc_info[1], KeyError)
