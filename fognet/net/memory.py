"""The in-process twin of the ZeroMQ transport, over asyncio queues.

    net = MemoryNetwork()
    a, b = MemoryTransport(net), MemoryTransport(net)       # addresses "memory:1", "memory:2"
    server = asyncio.create_task(b.serve(handler))
    reply, tensors = await a.request(b.address, Header(Ping()))

Same interface and the same rules as `fognet.net.transport.ZmqTransport` (see
`fognet.net.base`): every message is encoded and decoded by the codec (frames copied to
bytes, so sender and receiver share no memory, as over a socket), malformed messages get
ERROR replies, handler failures become ERROR replies, timeouts raise `PeerUnreachable`,
late replies are dropped and counted. Differences: a message to an address nobody holds
(or a closed transport) fails at once with `PeerUnreachable` instead of after the timeout,
and there is no link emulation. For unit tests and the simulator.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import numpy as np

from fognet.errors import PeerError, PeerUnreachable
from fognet.net import codec
from fognet.net.base import (
    DEFAULT_TIMEOUT_S,
    Counters,
    Handler,
    Pending,
    Tensors,
    TransportStats,
    answer,
    encode_reply,
    raise_if_error,
    serve_loop,
)
from fognet.net.wire import Header, new_node_id


class MemoryNetwork:
    """Who is listening at which in-process address."""

    def __init__(self) -> None:
        self.inboxes: dict[str, asyncio.Queue] = {}
        self._numbers = itertools.count(1)

    def new_address(self) -> str:
        return f"memory:{next(self._numbers)}"


class MemoryTransport:
    def __init__(
        self, network: MemoryNetwork, node_id: str | None = None, *,
        max_bytes: int = codec.DEFAULT_MAX_BYTES, hwm: int = 1000,
        max_header_bytes: int = codec.MAX_HEADER_BYTES,
    ) -> None:
        self.node_id = node_id or new_node_id()
        self.address = network.new_address()
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes  # a frozen ROUND_OPEN's (codec.header_cap)
        self._network = network
        self._inbox: asyncio.Queue = asyncio.Queue(hwm)
        network.inboxes[self.address] = self._inbox
        self._count = Counters()
        self._pending = Pending(self._count, max_bytes)
        self._closed = False

    async def request(
        self, addr: str, header: Header, tensors: Tensors | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> tuple[Header, dict[str, np.ndarray]]:
        msg_id, future = self._pending.open(addr)
        header = replace(header, id=msg_id, sender=self.node_id)
        try:
            await asyncio.wait_for(self._push(addr, header, tensors), timeout_s)
            reply, reply_tensors = await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            self._count.timeouts += 1
            raise PeerUnreachable(
                f"peer {addr} did not answer {header.type.value} within {timeout_s:.3g} s"
            ) from None
        finally:
            self._pending.close(msg_id, addr)
        raise_if_error(addr, reply)
        return reply, reply_tensors

    async def send(
        self, addr: str, header: Header, tensors: Tensors | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        header = replace(header, id=self._pending.next_id(), sender=self.node_id)
        try:
            await asyncio.wait_for(self._push(addr, header, tensors), timeout_s)
        except asyncio.TimeoutError:
            self._count.timeouts += 1
            raise PeerUnreachable(f"peer {addr} did not take {header.type.value}") from None

    async def send_frames(self, addr: str, frames: list, reply_to: MemoryTransport | None = None) -> None:
        """Deliver raw frames, bypassing `encode` (tests use it to send malformed bytes)."""
        inbox = self._network.inboxes.get(addr)
        if inbox is None:
            raise PeerUnreachable(f"no peer listens at {addr}")
        await inbox.put(([bytes(codec.as_buffer(f)) for f in frames], reply_to or self))
        self._count.sent += 1

    async def _push(self, addr, header, tensors) -> None:
        if self._closed:
            raise PeerError(f"transport {self.address} is closed")
        await self.send_frames(addr, codec.encode(header, tensors, self.max_header_bytes), self)

    def forget(self, addr: str) -> None:
        """No connection to close; requests still waiting on `addr` fail with PeerUnreachable."""
        self._pending.fail_peer(addr)

    async def serve(self, handler: Handler) -> None:
        """Answer incoming messages with `handler` until cancelled (`base.serve_loop`)."""
        await serve_loop(self._inbox.get, lambda item: self._answer(handler, *item),
                         self._count, self.address)

    async def _answer(self, handler: Handler, frames: list, requester: MemoryTransport) -> None:
        answered = await answer(handler, frames, self.max_bytes, self._count, self.address,
                                self.max_header_bytes)
        if answered is None:
            return
        header, tensors, msg_id, _ = answered
        if requester._closed:
            self._count.dropped += 1
            return
        frames = encode_reply(header, tensors, msg_id, self.node_id, self._count)
        self._count.sent += 1
        requester._pending.deliver([bytes(f) for f in frames], self.address)

    def stats(self) -> TransportStats:
        return self._count.snapshot()

    async def aclose(self) -> None:
        self._closed = True
        self._network.inboxes.pop(self.address, None)
        self._pending.fail_all(f"transport {self.address} closed")

    async def __aenter__(self) -> MemoryTransport:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()
