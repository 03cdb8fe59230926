"""The ZeroMQ transport: one ROUTER to serve, one DEALER per remote peer to ask.

    t = ZmqTransport(node_id, host="127.0.0.1", port=0)     # binds now; t.address = "host:port"
    # on a LAN: ZmqTransport(host="0.0.0.0", advertise_host="192.168.1.20") so that HELLOs
    # carry an address other peers can reach (the beacon fills a 0.0.0.0 host by itself)
    server = asyncio.create_task(t.serve(handler))           # owner: the peer's TaskGroup
    reply, tensors = await t.request("127.0.0.1:5001", Header(Ping()), timeout_s=1.0)
    await t.send(addr, Header(State(...)))                  # one-way, no reply expected
    t.stats(); t.forget(addr); await t.aclose()

The interface is `fognet.net.base.Transport`; `fognet.net.memory.MemoryTransport` is its
in-process twin. All bytes go through `fognet.net.codec`: tensors are sent without copy
(do not write to an array until the `send`/`request` that carries it has returned) and
arrive as read-only arrays over the received frames. The sockets are plain ZeroMQ ones
that the event loop watches (`fognet.net.zmqio.LoopSocket`), not zmq.asyncio's: a reply
resolves its request, and a request starts its handler, in the turn it arrives.

Serving: each decoded message runs its handler in its own task (at most `max_concurrent`
at once; beyond that the loop stops reading, so the ROUTER's queue fills); the reply is
sent back to the requester's DEALER. A message that fails decoding gets an ERROR reply
(MALFORMED, VERSION or TOO_LARGE, paired by its id when the header is readable) and is
counted; a handler that raises gets an ERROR reply; the loop itself never dies of a
message.

Back-pressure (SNDHWM/RCVHWM = `hwm` messages per connection): at its HWM the ROUTER
*drops* replies (ZeroMQ's ROUTER never blocks), and a DEALER *blocks* sends; both are
covered by timeouts: a request that gets no reply in `timeout_s` raises
`PeerUnreachable`, and so does a send that cannot be queued in time. DEALERs use
ZMQ_IMMEDIATE, so nothing is queued for a peer that is not connected (no stale requests
reach a peer that comes back). LINGER is 0: closing discards unsent messages, so shutdown
never hangs on a dead peer. MAXMSGSIZE caps each frame at the message cap: ZeroMQ cuts a
connection that sends a larger frame before buffering it (that sender then times out).

Closed (`keys=ClusterKeys(...)`, see `fognet.net.keys` and `fognet.net.auth`): the ROUTER
is a CURVE server whose ZAP handler lets in only keys on the allow-list, and a message
whose header's `from` is not the name its key is listed under gets ERROR NOT_ALLOWED.
A DEALER connects as a CURVE client pinned to the allow-listed key of the peer at that
address, so the transport must be told who is where (`learn(addr, name)`; a request to
an address it cannot name raises PeerUnreachable), and a reply whose `from` is not that
peer is dropped. Everything on the wire is then encrypted. Open (no keys): no checks.

Connections are bounded both ways, so strangers cost bounded file descriptors: at most
`max_connections` DEALERs (`fognet.net.bounded.ConnectionTable`, the least recently used
idle one closed past it) and, while serving, `max_inbound` TCP connections to the ROUTER
(`fognet.net.inbound.InboundGuard`: the newest cut past it, `stats().cut`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import numpy as np
import zmq

from fognet.errors import ConfigError, PeerError, PeerUnreachable
from fognet.net import auth, codec
from fognet.net.base import (
    DEFAULT_TIMEOUT_S,
    Answers,
    Counters,
    Handler,
    Pending,
    Tensors,
    TransportStats,
    answer,
    encode_reply,
    raise_if_error,
)
from fognet.net.bounded import ConnectionTable
from fognet.net.emulation import Pacer
from fognet.net.inbound import HANDSHAKE_S, InboundGuard
from fognet.net.keys import ClusterKeys
from fognet.net.wire import Header, new_node_id
from fognet.net.zmqio import LoopSocket

log = logging.getLogger(__name__)

DEFAULT_HWM = 1000
DEFAULT_MAX_CONNECTIONS = 192  # DEALERs; above the membership cap, well under ZeroMQ's 1023 sockets
DEFAULT_MAX_INBOUND = 192  # TCP connections to the ROUTER: members' DEALERs, requesters, a few spare


class ZmqTransport:
    """One peer's sockets. Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        node_id: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_bytes: int = codec.DEFAULT_MAX_BYTES,
        hwm: int = DEFAULT_HWM,
        max_concurrent: int = 64,
        pacer: Pacer | None = None,
        advertise_host: str | None = None,
        keys: ClusterKeys | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_inbound: int = DEFAULT_MAX_INBOUND,
        max_header_bytes: int = codec.MAX_HEADER_BYTES,
    ) -> None:
        self.node_id = node_id or new_node_id()
        self.max_inbound = max_inbound
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes  # a frozen ROUND_OPEN's (codec.header_cap)
        self.pacer = pacer
        self._hwm = hwm
        self._max_concurrent = max_concurrent
        self._ctx = zmq.Context(io_threads=1)
        self.keys = keys
        self._names: dict[str, str] = {}  # closed: address -> the allowed peer there
        # closed: the ZAP handler is bound before the ROUTER can accept anyone
        self._zap = auth.ZapHandler(self._ctx, keys.allow, self.node_id) if keys else None
        self._router = self._socket(zmq.ROUTER)
        self._router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        if keys is not None:
            auth.curve_server(self._router, keys.pair)
        try:
            if port:
                self._router.bind(f"tcp://{host}:{port}")
            else:
                port = self._router.bind_to_random_port(f"tcp://{host}")
        except zmq.ZMQError as exc:
            self._router.close(0)
            if self._zap is not None:
                self._zap.close()
            self._ctx.term()
            raise ConfigError(f"cannot bind tcp://{host}:{port or '*'}: {exc}") from exc
        self.address = f"{advertise_host or host}:{port}"  # what other peers connect to
        self._port = port
        self._count = Counters()
        self._pending = Pending(self._count, max_bytes)
        self._dealers: ConnectionTable[str, LoopSocket] = ConnectionTable(
            max_connections, lambda addr, watched: watched.sending or self._pending.waiting_on(addr),
            LoopSocket.close)
        self._served: LoopSocket | None = None  # the ROUTER, while serve() runs
        self._stop_serving: asyncio.Future | None = None
        self._closed = False

    # --- asking ----------------------------------------------------------------------

    async def request(
        self, addr: str, header: Header, tensors: Tensors | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> tuple[Header, dict[str, np.ndarray]]:
        """Send `header` to the peer at `addr` and wait for its reply."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        msg_id, future = self._pending.open(addr)
        header = Header(header.body, msg_id, self.node_id)  # (replace() costs ~4x this)
        # a timer rather than wait_for: awaiting the future itself saves an event-loop turn
        timer = loop.call_at(deadline, _expire, future)
        try:
            await self._push(addr, header, tensors, deadline)
            reply, reply_tensors = await future
        except asyncio.TimeoutError:
            self._count.timeouts += 1
            raise PeerUnreachable(
                f"peer {addr} did not answer {header.type.value} within {timeout_s:.3g} s"
            ) from None
        except (asyncio.CancelledError, PeerError):
            # forget() closed the socket under a send in progress: the send is cancelled
            # or fails on a closed socket; what the caller must see is the peer's loss.
            gone = _forgotten(future)
            task = asyncio.current_task()
            if gone is None or (task is not None and task.cancelling()):
                raise
            raise gone from None
        finally:
            timer.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # expired while the send itself timed out: seen, not lost
            self._pending.close(msg_id, addr)
        raise_if_error(addr, reply)
        return reply, reply_tensors

    async def send(
        self, addr: str, header: Header, tensors: Tensors | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Send a one-way message (no reply is expected)."""
        header = Header(header.body, self._pending.next_id(), self.node_id)
        try:
            await self._push(addr, header, tensors, asyncio.get_running_loop().time() + timeout_s)
        except asyncio.TimeoutError:
            self._count.timeouts += 1
            raise PeerUnreachable(
                f"peer {addr} did not take {header.type.value} within {timeout_s:.3g} s"
            ) from None

    async def _push(self, addr: str, header: Header, tensors: Tensors | None, deadline: float) -> None:
        """Queue the message on the DEALER; wait (until `deadline`) only if it is at its HWM
        or not connected. No wrapper task: most sends complete at once."""
        frames = codec.encode(header, tensors, self.max_header_bytes)
        sock = self._dealer(addr)
        loop = asyncio.get_running_loop()
        if self.pacer is not None:
            delay = self.pacer.reserve(addr, codec.frames_nbytes(frames), self.pacer.clock())
            if loop.time() + delay > deadline:
                await asyncio.sleep(max(deadline - loop.time(), 0))
                raise asyncio.TimeoutError
            await asyncio.sleep(delay)
        try:
            await sock.send(frames, deadline)
        except zmq.ZMQError as exc:
            raise PeerError(f"cannot send {header.type.value} to {addr}: {exc}") from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # forget() or the connection table closed the socket under this send: the
            # caller must see a lost peer, not a cancellation it did not ask for
            raise PeerUnreachable(f"the connection to {addr} was closed while sending {header.type.value}") from None
        self._count.sent += 1

    def _dealer(self, addr: str) -> LoopSocket:
        if self._closed:
            raise PeerError(f"transport {self.address} is closed")
        watched = self._dealers.get(addr)
        if watched is None:
            expect = self._server_name(addr)
            sock = self._socket(zmq.DEALER)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            if self.keys is not None:
                auth.curve_client(sock, self.keys.pair, self.keys.allow.key_of(expect))
            try:
                sock.connect(f"tcp://{addr.removeprefix('tcp://')}")
            except zmq.ZMQError as exc:
                sock.close(0)
                raise ConfigError(f"bad peer address {addr!r} (expected host:port): {exc}") from exc
            # each reply goes straight to the request waiting for its id
            watched = LoopSocket(sock, lambda frames: self._pending.deliver(frames, addr, expect),
                                 lambda exc: self._lost(addr, exc))
            self._dealers[addr] = watched
        return watched

    def _server_name(self, addr: str) -> str | None:
        """Closed: the allowed peer at `addr` (PeerUnreachable if none is known there)."""
        if self.keys is None:
            return None
        name = self._names.get(addr)
        if name is None or self.keys.allow.key_of(name) is None:
            raise PeerUnreachable(
                f"closed cluster: no allowed peer is known at {addr}; name it (NAME@{addr}) "
                "or let discovery find it"
            )
        return name

    def learn(self, addr: str, name: str, *, trusted: bool = False) -> bool:
        """Closed: `name` (an allow-listed peer) listens at `addr`. Untrusted news (a beacon,
        gossip, a bootstrap entry) never replaces what is known of an address; trusted news
        (the peer itself, authenticated) does. A wrong guess costs a failed handshake, never
        a connection to a key that is not on the list. Returns whether it was taken."""
        if self.keys is None or self.keys.allow.key_of(name) is None:
            return False
        known = self._names.get(addr)
        if known == name or (known is not None and not trusted):
            return known == name
        self._names[addr] = name
        if known is not None:
            self.forget(addr)  # its DEALER was pinned to the other key
        return True

    def _lost(self, addr: str, exc: zmq.ZMQError) -> None:
        self._count.log.warning("lost", "connection to %s failed, will reconnect on next use: %s", addr, exc)
        watched = self._dealers.pop(addr, None)
        if watched is not None:
            watched.close()

    def forget(self, addr: str) -> None:
        """Close the connection to `addr` (e.g. once membership marks it dead).

        Requests still waiting on `addr` fail with `PeerUnreachable` naming it.
        """
        self._pending.fail_peer(addr)
        watched = self._dealers.pop(addr, None)
        if watched is not None:
            watched.close()

    # --- serving ---------------------------------------------------------------------

    async def serve(self, handler: Handler) -> None:
        """Answer incoming messages with `handler` until cancelled or closed."""
        if self._closed:
            return
        stop = self._stop_serving = asyncio.get_running_loop().create_future()

        def failed(exc: zmq.ZMQError) -> None:
            if not stop.done():
                stop.set_exception(PeerError(f"ROUTER {self.address} failed: {exc}"))

        def take(frames: list) -> None:
            answers.start(frames)
            if answers.full:
                watched.pause()

        answers = Answers(lambda frames: self._answer(handler, frames), self._count,
                          self.address, self._max_concurrent)
        watched = self._served = LoopSocket(self._router, take, failed)
        answers.on_free = watched.resume
        zap = asyncio.create_task(self._zap.serve()) if self._zap is not None else None
        guard = InboundGuard(self._router, self.max_inbound, self._port, self._cut).start()
        try:
            await stop
        finally:
            guard.stop()
            if zap is not None:
                zap.cancel()
                await asyncio.gather(zap, return_exceptions=True)
            watched.stop()
            self._served = self._stop_serving = None
            await answers.aclose()

    def _cut(self, peer: str) -> None:
        self._count.cut += 1
        self._count.log.warning("inbound-full", "%s: %d inbound connections, its bound; cut %s", self.address,
                                self.max_inbound, peer)

    async def _answer(self, handler: Handler, frames: list) -> None:
        if len(frames) < 2:  # no routing id and header: nothing to answer
            self._count.dropped += 1
            return
        if self.keys is not None:  # the name ZAP gave the connection, not the header's claim
            handler = auth.as_sender(handler, frames[1])
        answered = await answer(handler, frames[1:], self.max_bytes, self._count, self.address,
                                self.max_header_bytes)
        if answered is not None:
            await self._reply(frames[0].bytes, *answered)

    async def _reply(self, route: bytes, header: Header, tensors, msg_id: int, to: str) -> None:
        frames = encode_reply(header, tensors, msg_id, self.node_id, self._count)
        if self.pacer is not None and to:
            await self.pacer.pace(to, codec.frames_nbytes(frames))
        try:
            if self._served is None:  # serve() ended while this answer was on its way
                raise zmq.ZMQError(zmq.ENOTSOCK, "not serving any more")
            await self._served.send([route, *frames], asyncio.get_running_loop().time() + DEFAULT_TIMEOUT_S)
        except (zmq.ZMQError, asyncio.TimeoutError) as exc:
            self._count.dropped += 1
            self._count.log.warning("no-reply", "could not reply to %s: %s", to or route.hex(), exc)
            return
        self._count.sent += 1

    # --- lifecycle -------------------------------------------------------------------

    def stats(self) -> TransportStats:
        stats = self._count.snapshot()
        return replace(stats, refused=self._zap.refused) if self._zap is not None else stats

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for addr in list(self._dealers):
            self.forget(addr)
        self._pending.fail_all(f"transport {self.address} closed")
        if self._served is not None:
            self._served.stop()
        if self._stop_serving is not None and not self._stop_serving.done():
            self._stop_serving.set_result(None)
        self._router.close(0)
        if self._zap is not None:
            self._zap.close()
        self._ctx.destroy(linger=0)  # closes any socket left over, so this never hangs

    async def __aenter__(self) -> ZmqTransport:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    def _socket(self, kind: int) -> zmq.Socket:
        sock = self._ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, self._hwm)
        sock.setsockopt(zmq.RCVHWM, self._hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        sock.setsockopt(zmq.HANDSHAKE_IVL, int(HANDSHAKE_S * 1000))
        return sock


def _forgotten(future: asyncio.Future) -> PeerUnreachable | None:
    """The PeerUnreachable that forget() put on a request's future, if it did."""
    if not future.done() or future.cancelled():
        return None
    exc = future.exception()
    return exc if isinstance(exc, PeerUnreachable) else None


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
