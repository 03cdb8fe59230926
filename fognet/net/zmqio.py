"""ZeroMQ sockets driven by the asyncio event loop without a future per message.

    watched = LoopSocket(sock, on_message, on_error)   # sock: a plain (sync) zmq.Socket
    await watched.send(frames, deadline)                 # waits only at the HWM / unconnected
    watched.pause(); watched.resume(); watched.stop()    # or close(): stop and close the socket

zmq.asyncio gives every send and receive a Future, registers it, and reschedules itself
with call_later(0) after each operation (ZeroMQ's descriptor is edge-triggered); a request
then costs extra event-loop turns and Python frames per message (most of the transport's
~+300 us per small message over plain pyzmq). Here the loop watches the socket's
descriptor once, and when it signals, `_ready` drains every message there is and hands
each to `on_message` at once: a reply resolves its request, and a request starts its
handler task, in the same turn.

Edge-triggered rules kept: drain until EVENTS says there is no more; after every send
look at EVENTS again (a send can take the edge of a message that arrived meanwhile) and
drain on the next turn if there is input. A send that cannot go (a DEALER at its HWM, or
not connected under IMMEDIATE) waits for POLLOUT, up to its deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import zmq

# plain ints: pyzmq's flag enums cost an Enum object per `&` on the hot path
_EVENTS, _POLLIN, _POLLOUT, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.POLLOUT), int(zmq.NOBLOCK)


class LoopSocket:
    """One sync ZeroMQ socket watched by the running loop. Not thread-safe."""

    def __init__(
        self, sock: zmq.Socket, on_message: Callable[[list], None],
        on_error: Callable[[zmq.ZMQError], None],
    ) -> None:
        self.sock = sock
        self._on_message = on_message  # must not raise
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._fd = sock.getsockopt(zmq.FD)
        self._senders: list[asyncio.Future] = []
        self._paused = False
        self._closed = False
        self._loop.add_reader(self._fd, self._ready)
        self._loop.call_soon(self._ready)  # what is queued already raised no edge for us

    def _ready(self) -> None:
        """Drain what the socket holds; wake the senders waiting for room."""
        if self._closed:
            return
        try:
            events = self.sock.getsockopt(_EVENTS)
            while events & _POLLIN and not self._paused:
                try:
                    frames = self.sock.recv_multipart(_NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._on_message(frames)
                if self._closed:
                    return
                events = self.sock.getsockopt(_EVENTS)
        except zmq.ZMQError as exc:
            if not self._closed:
                self._on_error(exc)
            return
        if events & _POLLOUT:
            for waiter in self._senders:
                if not waiter.done():
                    waiter.set_result(None)

    async def send(self, frames: Sequence, deadline: float) -> None:
        """Send a multipart message without copying; wait for room until `deadline` (loop
        time), then raise asyncio.TimeoutError. Raises zmq.ZMQError if the socket fails;
        a `stop()` meanwhile cancels a waiting send."""
        while True:
            try:
                self.sock.send_multipart(frames, _NOBLOCK, copy=False)
            except zmq.Again:
                await self._room(deadline)
                continue
            if self.sock.getsockopt(_EVENTS) & _POLLIN:  # the send may have taken
                self._loop.call_soon(self._ready)               # the edge of an arrival
            return

    async def _room(self, deadline: float) -> None:
        if self._loop.time() >= deadline:
            raise asyncio.TimeoutError
        waiter = self._loop.create_future()
        self._senders.append(waiter)
        try:
            if self.sock.getsockopt(_EVENTS) & _POLLOUT:
                await asyncio.sleep(0)  # room came before we waited (its edge is gone)
                return
            await asyncio.wait_for(waiter, deadline - self._loop.time())
        finally:
            self._senders.remove(waiter)

    @property
    def sending(self) -> bool:
        """Whether a send waits for room (closing the socket now would cancel it)."""
        return bool(self._senders)

    def pause(self) -> None:
        """Stop reading: the socket's queue fills and its peers meet the HWM."""
        self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._loop.call_soon(self._ready)

    def stop(self) -> None:
        """Stop watching the socket (it stays open); waiting sends are cancelled."""
        if self._closed:
            return
        self._closed = True
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        for waiter in self._senders:
            waiter.cancel()

    def close(self) -> None:
        """Stop watching and close the socket, discarding what it has not sent (LINGER 0)."""
        self.stop()
        self.sock.close(0)
