"""The transport interface shared by the ZeroMQ transport and its in-process twin.

    class Transport(Protocol):
        node_id: str; address: str                       # address is "host:port"
        async def send(addr, header, tensors=None, timeout_s=...) -> None        # one-way
        async def request(addr, header, tensors=None, timeout_s=...) -> (Header, tensors)
        async def serve(handler) -> None                 # runs until cancelled
        def forget(addr) -> None                         # drop the connection to a dead peer
        def stats() -> TransportStats
        async def aclose() -> None

A handler is `async (header, tensors) -> Header | (Header, tensors) | None`: None means
no reply (STATE, BYE). The transport stamps `id` (the request's) and `sender` on replies.
A handler that raises gets an ERROR reply sent for it: a WireError, Refused, ModelRefused or RemoteError
keeps its reason (see `fognet.errors`), anything else is HANDLER_FAILED.

`request` raises `PeerUnreachable` when no reply comes within `timeout_s` (a reply that
comes later is dropped and counted as `late`) and `RemoteError` when the reply is ERROR.

What every transport does the same way lives here, once: `Pending` (request ids, pairing
replies, failing the requests of a forgotten peer), `Answers` (a task per incoming message,
back-pressure, the catch-all), `answer` / `encode_reply` (what a peer replies), and the
ERROR headers. A transport only says how bytes move.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol, TypeVar

import numpy as np

from fognet.errors import (
    FognetError,
    ModelRefused,
    PeerUnreachable,
    Refused,
    RemoteError,
    WireError,
)
from fognet.net import auth, codec
from fognet.net.ratelog import RateLimitedLog
from fognet.net.wire import Error, Header, Reason

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0

Tensors = Mapping[str, np.ndarray]
Reply = Header | tuple[Header, Tensors] | None
Handler = Callable[[Header, dict[str, np.ndarray]], Awaitable[Reply]]
Incoming = TypeVar("Incoming")


@dataclass(frozen=True)
class TransportStats:
    """Message counts since the transport opened, for STATE and metrics."""

    sent: int = 0  # messages handed to the network (requests, one-way sends, replies)
    received: int = 0  # messages read from the network, well-formed or not
    malformed: int = 0  # failed decoding (an ERROR reply was sent if it came to the ROUTER)
    dropped: int = 0  # received and discarded without a reply (unusable, or after close)
    late: int = 0  # replies that matched no waiting request (it had timed out)
    timeouts: int = 0  # requests and sends that gave up after their timeout
    errors_sent: int = 0  # ERROR replies sent by serve()
    refused: int = 0  # connections turned away (closed: a key not on the allow-list)
    cut: int = 0  # inbound connections cut past the transport's bound (a flood of connections)


class Counters:
    """Mutable counters behind `TransportStats`, and the transport's rate-limited log:
    what arrives decides how often its lines come, so each transport has a bounded budget."""

    def __init__(self) -> None:
        for f in fields(TransportStats):
            setattr(self, f.name, 0)
        self.log = RateLimitedLog(log)

    def snapshot(self) -> TransportStats:
        return TransportStats(**{f.name: getattr(self, f.name) for f in fields(TransportStats)})


class Transport(Protocol):
    node_id: str
    address: str

    async def send(self, addr: str, header: Header, tensors: Tensors | None = None,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> None: ...

    async def request(self, addr: str, header: Header, tensors: Tensors | None = None,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Header, dict[str, np.ndarray]]: ...

    async def serve(self, handler: Handler) -> None: ...

    def forget(self, addr: str) -> None: ...

    def stats(self) -> TransportStats: ...

    async def aclose(self) -> None: ...


def split_reply(reply: Reply) -> tuple[Header, Tensors] | None:
    if reply is None:
        return None
    if isinstance(reply, Header):
        return reply, {}
    header, tensors = reply
    return header, tensors


def reason_of(exc: BaseException) -> Reason | None:
    """The wire reason an exception names (None: it names none, it is a failure)."""
    if isinstance(exc, WireError):
        return exc.reason or Reason.MALFORMED
    if isinstance(exc, Refused | RemoteError | ModelRefused):
        return exc.reason
    return None


def error_header(exc: BaseException) -> Header:
    """The ERROR reply for a handler that raised `exc`."""
    reason = reason_of(exc) or Reason.HANDLER_FAILED
    kind = type(exc).__name__ if isinstance(exc, FognetError) else f"internal {type(exc).__name__}"
    return Header(Error(reason=reason, detail=f"{kind}: {exc}"[:2000]))


def wire_error_header(exc: WireError) -> Header:
    """The ERROR reply for a message that failed decoding (its reason: MALFORMED unless
    the codec gave one, e.g. VERSION or TOO_LARGE)."""
    return Header(Error(reason=reason_of(exc), detail=str(exc)[:2000]))


def raise_if_error(addr: str, header: Header) -> None:
    if isinstance(header.body, Error):
        raise RemoteError(
            f"peer {addr} answered ERROR {header.body.reason.value}: {header.body.detail}",
            header.body.reason,
        )


async def answer(
    handler: Handler, frames: Sequence, max_bytes: int, counts: Counters, where: str,
    max_header_bytes: int = codec.MAX_HEADER_BYTES,
) -> tuple[Header, Tensors, int, str] | None:
    """What a peer answers a request with, the same for every transport:
    (reply header, reply tensors, the request id it answers, the requester's node id),
    or None when the handler sends no reply. A message that fails to decode gets an
    ERROR naming the bad field; a handler that raises gets an ERROR with its reason."""
    try:
        header, tensors = codec.decode(frames, max_bytes, max_header_bytes)
    except WireError as exc:
        counts.malformed += 1
        counts.log.warning("malformed", "malformed message on %s: %s", where, exc)
        return wire_error_header(exc), {}, codec.peek_id(frames), ""
    try:
        reply = split_reply(await handler(header, tensors))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - every handler failure becomes an ERROR reply
        if reason_of(exc) is None:
            _handler_failed(counts.log, header, exc)
        reply = error_header(exc), {}
    if reply is None:
        return None
    return reply[0], reply[1], header.id, header.sender


def _handler_failed(warn: RateLimitedLog, header: Header, exc: Exception) -> None:
    """One line for a handler that raised without a wire reason: a fognet error says what
    went wrong by itself; anything else is a bug, shown with its traceback (rate-limited)."""
    if isinstance(exc, FognetError):
        warn.warning("handler-error", "%s from %s failed: %s: %s", header.type.value,
                     header.sender[:40], type(exc).__name__, exc)
    else:
        warn.error("handler-bug", "handler failed on %s", header.type.value, exc_info=True)


def encode_reply(header: Header, tensors: Tensors, msg_id: int, node_id: str, counts: Counters) -> list:
    """A reply's frames; a reply that breaks the schema becomes HANDLER_FAILED instead."""
    header = Header(header.body, msg_id, node_id)
    try:
        frames = codec.encode(header, tensors)
    except WireError as exc:
        counts.log.error("invalid-reply", "reply %s from handler is invalid: %s", header.type.value, exc)
        header = replace(header, body=Error(Reason.HANDLER_FAILED, f"invalid reply: {exc}"))
        frames = codec.encode(header)
    if isinstance(header.body, Error):
        counts.errors_sent += 1
    return frames


class Answers:
    """The answers in flight of one `serve()`, the same for every transport: each incoming
    message is answered by `respond` in a task of its own, so a slow handler does not hold
    up the others. A `respond` that raises is logged and counted as dropped: serving never
    dies of one message. With `max_concurrent`, `full` says when the transport should stop
    reading (its queue then fills: back-pressure) and `on_free` is called once a slot frees."""

    def __init__(
        self, respond: Callable[[Incoming], Awaitable[None]], counts: Counters, where: str,
        max_concurrent: int | None = None, on_free: Callable[[], None] | None = None,
    ) -> None:
        self._respond = respond
        self._counts = counts
        self._where = where
        self._max = max_concurrent
        self._tasks: set[asyncio.Task] = set()
        self.on_free = on_free

    @property
    def full(self) -> bool:
        return self._max is not None and len(self._tasks) >= self._max

    def start(self, item: Incoming) -> None:
        """Count one incoming message and start answering it (callable from a loop callback)."""
        self._counts.received += 1
        task = asyncio.get_running_loop().create_task(self._run(item))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def _run(self, item: Incoming) -> None:
        try:
            await self._respond(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug here must not vanish with its task
            self._counts.dropped += 1
            self._counts.log.error("answer-bug", "could not answer a message on %s", self._where, exc_info=True)

    def _finished(self, task: asyncio.Task) -> None:
        was_full = self.full
        self._tasks.discard(task)
        if was_full and self.on_free is not None:
            self.on_free()

    async def aclose(self) -> None:
        """Cancel the answers in flight and wait for them."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def serve_loop(
    receive: Callable[[], Awaitable[Incoming]], respond: Callable[[Incoming], Awaitable[None]],
    counts: Counters, where: str,
) -> None:
    """Serve by pulling: answer every message `receive` gives (see `Answers`) until
    cancelled; cancelling cancels the answers in flight."""
    answers = Answers(respond, counts, where)
    try:
        while True:
            answers.start(await receive())
    finally:
        await answers.aclose()


class Pending:
    """A transport's requests awaiting their reply, by id and by the peer asked: pairs each
    reply with its request (a reply nobody waits for any more is `late`), and fails the
    requests of a peer that is forgotten or of a transport that closes."""

    def __init__(self, counts: Counters, max_bytes: int) -> None:
        self._counts = counts
        self._max_bytes = max_bytes
        self._ids = itertools.count(1)
        self._futures: dict[int, asyncio.Future] = {}
        self._by_addr: dict[str, set[int]] = {}

    def next_id(self) -> int:
        return next(self._ids)

    def open(self, addr: str) -> tuple[int, asyncio.Future]:
        """A new request id to `addr`, and the future its reply will resolve."""
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._futures[msg_id] = future
        self._by_addr.setdefault(addr, set()).add(msg_id)
        return msg_id, future

    def close(self, msg_id: int, addr: str) -> None:
        self._futures.pop(msg_id, None)
        waiting = self._by_addr.get(addr)
        if waiting is not None:
            waiting.discard(msg_id)
            if not waiting:  # one entry per address ever asked would grow without bound
                del self._by_addr[addr]

    def waiting_on(self, addr: str) -> bool:
        """Whether a request to `addr` still waits for its reply."""
        return bool(self._by_addr.get(addr))

    def deliver(self, frames: Sequence, where: str, expect: str | None = None) -> None:
        """Hand a reply received from `where` to the request waiting for its id; with
        `expect` (a closed transport: the peer whose key the connection is pinned to), a
        reply naming another sender is dropped."""
        self._counts.received += 1
        try:
            header, tensors = codec.decode(frames, self._max_bytes)
        except WireError as exc:
            self._counts.malformed += 1
            self._counts.log.warning("malformed-reply", "malformed reply from %s: %s", where, exc)
            return
        if expect is not None and not auth.check_reply(header, expect):
            self._counts.dropped += 1
            return
        future = self._futures.get(header.id)
        if future is None or future.done():
            self._counts.late += 1
            log.debug("late or unmatched %s from %s (id %d)", header.type.value, where, header.id)
            return
        future.set_result((header, tensors))

    def fail_peer(self, addr: str) -> None:
        """Requests still waiting on `addr` fail with PeerUnreachable naming it."""
        for msg_id in self._by_addr.pop(addr, set()):
            self._fail(msg_id, f"peer {addr} was forgotten (declared gone) mid-request")

    def fail_all(self, why: str) -> None:
        for msg_id in list(self._futures):
            self._fail(msg_id, why)

    def _fail(self, msg_id: int, why: str) -> None:
        future = self._futures.get(msg_id)
        if future is not None and not future.done():
            future.set_exception(PeerUnreachable(why))
