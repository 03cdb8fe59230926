"""The ZeroMQ transport on 127.0.0.1: replies, ERRORs for bad input, timeouts, counters."""

from __future__ import annotations

import asyncio
import contextlib

import msgpack
import numpy as np
import pytest
import zmq
import zmq.asyncio

from fognet.errors import PeerUnreachable, Refused, RemoteError
from fognet.net import codec, wire
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason

CAP = 1 << 20


async def _handler(header: Header, tensors: dict):
    body = header.body
    if isinstance(body, wire.Ping):
        return Header(wire.Pong()), {k: v * 2 for k, v in tensors.items()}
    if isinstance(body, wire.ModelGet):
        raise Refused(f"no model {body.model_sha256}", Reason.NOT_FOUND)
    if isinstance(body, wire.RoundDone):
        await asyncio.sleep(body.round / 1000)
        return Header(wire.Pong())
    if isinstance(body, wire.State):
        return None
    if isinstance(body, wire.Propose):
        return Header(wire.Accept(np.int64(body.round), body.subtask))  # not a wire int
    raise RuntimeError("boom")


@contextlib.asynccontextmanager
async def _pair(**server_options):
    client, server = ZmqTransport(), ZmqTransport(max_bytes=CAP, **server_options)
    serving = asyncio.create_task(server.serve(_handler))
    try:
        yield client, server
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await client.aclose()
        await server.aclose()


async def test_request_reply_with_tensors() -> None:
    async with _pair() as (client, server):
        x = np.random.default_rng(0).random((3, 5)).astype(np.float32)
        reply, out = await client.request(server.address, Header(wire.Ping()), {"x": x}, timeout_s=2)
        assert isinstance(reply.body, wire.Pong) and reply.sender == server.node_id
        assert np.allclose(out["x"], 2 * x)
        assert server.stats().received == 1 and server.stats().sent == 1


async def test_handler_failures_become_error_replies() -> None:
    async with _pair() as (client, server):
        with pytest.raises(RemoteError, match="no model abc") as info:
            await client.request(server.address, Header(wire.ModelGet("abc")), timeout_s=2)
        assert info.value.reason is Reason.NOT_FOUND
        with pytest.raises(RemoteError, match="boom") as info:
            await client.request(server.address, Header(wire.Accept(1, "t")), timeout_s=2)
        assert info.value.reason is Reason.HANDLER_FAILED
        with pytest.raises(RemoteError, match="invalid reply: round") as info:
            await client.request(server.address, Header(wire.Propose(1, "t", "s", 0.1, 1, 1)), timeout_s=2)
        assert server.stats().errors_sent == 3


async def test_one_way_send_gets_no_reply() -> None:
    async with _pair() as (client, server):
        await client.send(server.address, Header(wire.State("127.0.0.1:1")), timeout_s=2)
        for _ in range(100):
            if server.stats().received:
                break
            await asyncio.sleep(0.01)
        assert server.stats().received == 1 and server.stats().sent == 0


async def test_timeout_then_late_reply_is_dropped_and_counted() -> None:
    async with _pair() as (client, server):
        with pytest.raises(PeerUnreachable, match="did not answer"):
            await client.request(server.address, Header(wire.RoundDone(300)), timeout_s=0.05)
        for _ in range(100):
            if client.stats().late:
                break
            await asyncio.sleep(0.01)
        assert client.stats().late == 1 and client.stats().timeouts == 1


async def test_timeout_against_a_peer_that_never_answers() -> None:
    ctx = zmq.asyncio.Context()
    silent = ctx.socket(zmq.ROUTER)
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    async with ZmqTransport() as client:
        with pytest.raises(PeerUnreachable):
            await client.request(f"127.0.0.1:{port}", Header(wire.Ping()), timeout_s=0.1)
        with pytest.raises(PeerUnreachable):  # nobody listens at all
            await client.request("127.0.0.1:9", Header(wire.Ping()), timeout_s=0.1)
    silent.close(0)
    ctx.term()


def _valid_head(**changes) -> bytes:
    head = msgpack.unpackb(codec.encode(Header(wire.Ping(), id=42), {"x": np.zeros(4, np.float32)})[0])
    head.update(changes)
    return msgpack.packb(head)


BAD_MESSAGES = {
    "garbage": [b"\xc1\xff not msgpack"],
    "wrong version": [_valid_head(v=2), bytes(16)],
    "truncated multipart": [_valid_head()],
    "lying header": [_valid_head(tensors=[["x", "float32", [1000]]]), bytes(16)],
    "over the total cap": [_valid_head(tensors=[["x", "uint8", [CAP - 10]], ["y", "uint8", [CAP - 10]]]),
                           bytes(CAP - 10), bytes(CAP - 10)],
}


async def test_malformed_messages_get_errors_and_the_peer_keeps_serving() -> None:
    async with _pair() as (client, server):
        ctx = zmq.asyncio.Context()
        raw = ctx.socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(f"tcp://{server.address}")
        try:
            for name, frames in BAD_MESSAGES.items():
                await raw.send_multipart(frames)
                reply, _ = codec.decode(await asyncio.wait_for(raw.recv_multipart(), 2))
                assert isinstance(reply.body, wire.Error), name
                assert reply.id == (0 if name == "garbage" else 42), name
                # the same peer still answers a correct request right after
                ok, out = await client.request(server.address, Header(wire.Ping()), {"x": np.ones(2)}, timeout_s=2)
                assert isinstance(ok.body, wire.Pong) and np.allclose(out["x"], 2), name
        finally:
            raw.close(0)
            ctx.term()
        assert server.stats().malformed == len(BAD_MESSAGES)


async def test_a_100mb_frame_is_refused_and_the_peer_keeps_serving() -> None:
    async with _pair() as (client, server):
        big = np.zeros(100_000_000, dtype=np.uint8)
        with pytest.raises((PeerUnreachable, RemoteError)):
            await client.request(server.address, Header(wire.Ping()), {"big": big}, timeout_s=1)
        del big
        ok, _ = await client.request(server.address, Header(wire.Ping()), timeout_s=2)
        assert isinstance(ok.body, wire.Pong)


async def test_forgetting_a_peer_fails_its_pending_request_with_peer_unreachable() -> None:
    async with _pair() as (client, server):
        asking = asyncio.create_task(
            client.request(server.address, Header(wire.RoundDone(2000)), timeout_s=5)
        )
        await asyncio.sleep(0.2)  # the request is out, its reply 2 s away
        client.forget(server.address)
        with pytest.raises(PeerUnreachable, match=server.address):
            await asyncio.wait_for(asking, 2)
        reply, _ = await client.request(server.address, Header(wire.Ping()), timeout_s=2)
        assert isinstance(reply.body, wire.Pong)  # a new connection serves later requests


async def test_forgetting_a_peer_mid_send_fails_with_peer_unreachable() -> None:
    from fognet.net.emulation import Link, Pacer

    server = ZmqTransport(max_bytes=CAP)
    client = ZmqTransport(pacer=Pacer(default=Link(bandwidth_Bps=20_000)))
    serving = asyncio.create_task(server.serve(_handler))
    try:
        x = np.zeros(10_000, dtype=np.float32)  # 40 kB at 20 kB/s: held 2 s by the pacer
        asking = asyncio.create_task(client.request(server.address, Header(wire.Ping()), {"x": x}, timeout_s=5))
        await asyncio.sleep(0.2)
        client.forget(server.address)
        with pytest.raises(PeerUnreachable, match=server.address):
            await asyncio.wait_for(asking, 4)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await client.aclose()
        await server.aclose()


async def test_at_max_concurrent_the_server_stops_reading_until_a_handler_ends() -> None:
    running, peak, release = set(), [0], asyncio.Event()

    async def held(header: Header, tensors: dict):
        running.add(header.id)
        peak[0] = max(peak[0], len(running))
        await release.wait()
        running.discard(header.id)
        return Header(wire.Pong())

    server, client = ZmqTransport(max_concurrent=2), ZmqTransport()
    serving = asyncio.create_task(server.serve(held))
    try:
        asking = [asyncio.create_task(client.request(server.address, Header(wire.Ping()), timeout_s=5))
                  for _ in range(6)]
        for _ in range(200):  # until the first two handlers run
            if len(running) == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the other four are queued, not read
        assert len(running) == 2 and server.stats().received == 2
        release.set()
        replies = await asyncio.gather(*asking)
        assert all(isinstance(r.body, wire.Pong) for r, _ in replies)
        assert peak[0] == 2 and server.stats().received == 6
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await client.aclose()
        await server.aclose()


async def test_a_request_to_a_peer_not_yet_up_waits_and_goes_once_it_binds() -> None:
    probe = ZmqTransport()
    port = int(probe.address.rsplit(":", 1)[1])
    await probe.aclose()
    async with ZmqTransport() as client:
        asking = asyncio.create_task(client.request(f"127.0.0.1:{port}", Header(wire.Ping()),
                                                    {"x": np.ones(3)}, timeout_s=10))
        await asyncio.sleep(0.2)  # the DEALER has no connection: the send waits for room
        assert not asking.done() and client.stats().sent == 0
        server = ZmqTransport(port=port)
        serving = asyncio.create_task(server.serve(_handler))
        try:
            reply, out = await asking
            assert isinstance(reply.body, wire.Pong) and np.allclose(out["x"], 2)
            assert client.stats().sent == 1
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await server.aclose()
