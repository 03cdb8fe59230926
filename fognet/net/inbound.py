"""A bound on the TCP connections a ROUTER accepts, so connecting strangers cost bounded
file descriptors.

ZeroMQ's ROUTER accepts every TCP connection that reaches its port and keeps it (one file
descriptor each) until the ZMTP handshake fails or times out (`HANDSHAKE_S`); it has no
option that caps how many it holds. Anyone on the LAN can open thousands in a second and
take the process's descriptors, after which the peer can open neither a model file nor a
connection. This guard watches the ROUTER's monitor events (ACCEPTED and DISCONNECTED
carry the connection's descriptor) and, past `max_inbound` open connections, shuts the
newest one down at once: `shutdown(2)` on a duplicate of ZeroMQ's descriptor, so ZeroMQ
itself sees the end of the stream and closes it (the guard never closes a descriptor it
does not own). Connections already held, the live members' among them, are never cut, so
a flood cannot push members out; a newcomer that meets a full table is cut and its DEALER
reconnects (ZeroMQ retries on its own) until there is room. Strangers that never finish
the handshake free their place after `HANDSHAKE_S`, and on a closed peer as soon as ZAP
refuses their key. On an open peer a stranger completing plain ZMTP handshakes can hold
places; closing the cluster is the answer to that (README: Closed clusters).

    guard = InboundGuard(router, max_inbound, port, on_cut).start()   # in the event loop
    guard.stop()    # stop watching (the ROUTER stays as it is)
    guard.open      # descriptors of the connections it counts as open

A descriptor is cut only while the guard counts it open and it is still a TCP socket on
the ROUTER's own port: ZeroMQ reports a connection's DISCONNECTED before it closes its
descriptor, so one the guard still counts has not been handed to anything else.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import zmq
from zmq.utils.monitor import parse_monitor_message

from fognet.errors import ConfigError
from fognet.net.zmqio import LoopSocket

HANDSHAKE_S = 5.0  # a connection that has not finished its handshake by then is closed (ZeroMQ: 30 s)
EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED


class InboundGuard:
    """See the module docstring. Not thread-safe: use it from the transport's event loop."""

    def __init__(self, router: zmq.Socket, max_inbound: int, port: int,
                 on_cut: Callable[[str], None] | None = None) -> None:
        if max_inbound <= 0:
            raise ConfigError(f"max_inbound must be at least 1 connection, got {max_inbound}")
        self.router, self.max_inbound, self.port = router, max_inbound, port
        self.open: set[int] = set()
        self._on_cut = on_cut or (lambda peer: None)
        self._watched: LoopSocket | None = None

    def start(self) -> InboundGuard:
        """Watch the ROUTER's monitor from the running loop (connections it accepted before
        are not counted)."""
        monitor = self.router.get_monitor_socket(EVENTS)
        self._watched = LoopSocket(monitor, self._event, lambda exc: self.stop())
        return self

    def stop(self) -> None:
        if self._watched is None:
            return
        watched, self._watched = self._watched, None
        with contextlib.suppress(zmq.ZMQError):
            self.router.disable_monitor()
        watched.close()
        self.open.clear()

    def _event(self, frames: list) -> None:
        try:
            event = parse_monitor_message([f.bytes for f in frames])
        except (ValueError, TypeError, IndexError):  # not an event: nothing to count
            return
        fd = event["value"]
        if event["event"] == zmq.EVENT_DISCONNECTED:
            self.open.discard(fd)
            return
        self.open.add(fd)
        if len(self.open) > self.max_inbound:
            self.open.discard(fd)
            self._cut(fd)

    def _cut(self, fd: int) -> None:
        """Shut down the connection on ZeroMQ's descriptor `fd` if it is one of the ROUTER's."""
        try:
            dup = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:  # already closed by ZeroMQ
            return
        try:
            if dup.getsockname()[1] != self.port:
                return
            host, port = dup.getpeername()[:2]
            dup.shutdown(socket.SHUT_RDWR)
        except OSError:  # not a connected TCP socket (any more)
            return
        finally:
            dup.close()
        self._on_cut(f"{host}:{port}")
