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
A handler that raises gets an ERROR reply sent for it: a WireError, Refused or RemoteError
keeps its reason (see `fognet.errors`), anything else is HANDLER_FAILED.

`request` raises `PeerUnreachable` when no reply comes within `timeout_s` (a reply that
comes later is dropped and counted as `late`) and `RemoteError` when the reply is ERROR.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol, TypeVar

import numpy as np

from fognet.errors import FognetError, Refused, RemoteError, WireError
from fognet.net import codec
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


class Counters:
    """Mutable counters behind `TransportStats`."""

    def __init__(self) -> None:
        for f in fields(TransportStats):
            setattr(self, f.name, 0)

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
    if isinstance(exc, Refused | RemoteError):
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
    handler: Handler, frames: Sequence, max_bytes: int, counts: Counters, where: str
) -> tuple[Header, Tensors, int, str] | None:
    """What a peer answers a request with, the same for every transport:
    (reply header, reply tensors, the request id it answers, the requester's node id),
    or None when the handler sends no reply. A message that fails to decode gets an
    ERROR naming the bad field; a handler that raises gets an ERROR with its reason."""
    try:
        header, tensors = codec.decode(frames, max_bytes)
    except WireError as exc:
        counts.malformed += 1
        log.warning("malformed message on %s: %s", where, exc)
        return wire_error_header(exc), {}, codec.peek_id(frames), ""
    try:
        reply = split_reply(await handler(header, tensors))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - every handler failure becomes an ERROR reply
        if reason_of(exc) is None:
            log.exception("handler failed on %s", header.type.value)
        reply = error_header(exc), {}
    if reply is None:
        return None
    return reply[0], reply[1], header.id, header.sender


def encode_reply(header: Header, tensors: Tensors, msg_id: int, node_id: str, counts: Counters) -> list:
    """A reply's frames; a reply that breaks the schema becomes HANDLER_FAILED instead."""
    header = replace(header, id=msg_id, sender=node_id)
    try:
        frames = codec.encode(header, tensors)
    except WireError as exc:
        log.error("reply %s from handler is invalid: %s", header.type.value, exc)
        header = replace(header, body=Error(Reason.HANDLER_FAILED, f"invalid reply: {exc}"))
        frames = codec.encode(header)
    if isinstance(header.body, Error):
        counts.errors_sent += 1
    return frames


async def serve_loop(
    receive: Callable[[], Awaitable[Incoming | None]],
    respond: Callable[[Incoming], Awaitable[None]],
    counts: Counters,
    where: str,
    max_concurrent: int | None = None,
) -> None:
    """The serve loop of every transport: read each incoming message with `receive` (None:
    the transport closed, stop) and answer it with `respond` in a task of its own, so a
    slow handler does not hold up the others. With `max_concurrent`, at most that many
    answers run at once and the loop stops reading beyond that (the transport's queue then
    fills: back-pressure). A `respond` that raises is logged and counted as dropped: the
    loop never dies of one message. Cancelling the loop cancels the answers in flight."""
    slots = asyncio.Semaphore(max_concurrent) if max_concurrent else None
    tasks: set[asyncio.Task] = set()

    async def run(item: Incoming) -> None:
        try:
            await respond(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug here must not vanish with its task
            counts.dropped += 1
            log.exception("could not answer a message on %s", where)

    def finished(task: asyncio.Task) -> None:
        tasks.discard(task)
        if slots is not None:
            slots.release()

    try:
        while True:
            item = await receive()
            if item is None:
                return
            counts.received += 1
            if slots is not None:
                await slots.acquire()
            task = asyncio.create_task(run(item))
            tasks.add(task)
            task.add_done_callback(finished)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
