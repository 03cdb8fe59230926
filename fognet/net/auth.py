"""Who may talk to a closed peer, and who a message is from (CurveZMQ + ZAP).

A closed peer's ROUTER is a CURVE server. libzmq asks the ZAP handler of the socket's
context about every connection's client key during the handshake; `ZapHandler` (pyzmq's
`zmq.auth.Authenticator`, driven by our event loop rather than a thread) lets a key in
only if the allow-list has it, and reports the name it is listed under as the
connection's ZAP user id. Every frame that arrives on that connection then carries the
name as its "User-Id" property, and `check_sender` refuses a message whose header's
`from` is another name: the key, not the header, says who sent it.

    zap = ZapHandler(ctx, allow, where)   # binds inproc://zeromq.zap.01 now, BEFORE the
                                          # ROUTER binds: without a handler libzmq lets any key in
    task = asyncio.create_task(zap.serve())   # answers until cancelled
    zap.allowed, zap.refused                  # connections let in / turned away
    zap.close()
    as_sender(handler, frame) -> handler      checks each header's `from` against the connection

A refused stranger's handshake fails: it never gets a byte of an answer, and its
requests time out on its side. Refusals are logged at most once a minute per address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import zmq
from zmq.auth.base import Authenticator
from zmq.utils import z85

from fognet.errors import Refused
from fognet.net.keys import AllowList, KeyPair, fingerprint
from fognet.net.ratelog import RateLimitedLog
from fognet.net.wire import Header, Reason

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
DOMAIN = "fognet"


# one line per key a minute: a flood of bad connections costs a few lines, not one each
_refusals = RateLimitedLog(log, burst=1, per_s=60.0)
_spoofs = RateLimitedLog(log, burst=1, per_s=60.0)


class ZapHandler(Authenticator):
    """CURVE keys on the allow-list in, every other connection out (see the module docstring)."""

    def __init__(self, context: zmq.Context, allow: AllowList, where: str) -> None:
        super().__init__(context, log=logging.getLogger("zmq.auth"))
        self.allow = allow
        self.where = where
        self.allowed = 0
        self.refused = 0
        self._address = ""
        self.configure_curve_callback(DOMAIN, self)
        self.start()  # bound now, so no connection is ever let in unasked
        self.zap_socket.setsockopt(zmq.LINGER, 0)

    # pyzmq's credentials-provider protocol: is this key allowed?
    def callback(self, domain: str, key: bytes) -> bool:
        public = key.decode("ascii")
        if self.allow.name_of(public) is not None:
            self.allowed += 1
            return True
        self.refused += 1
        _refusals.warning(
            self._address, "%s refused a connection from %s: key %s is not on the allow-list %s",
            self.where, self._address or "?", fingerprint(public), self.allow.path or "",
        )
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The connection's user id: the name its key is listed under."""
        return self.allow.name_of(z85.encode(client_public_key).decode("ascii")) or ""

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        self._address = msg[3].decode("utf-8", "replace") if len(msg) > 3 else ""
        await super().handle_zap_message(msg)

    async def serve(self) -> None:
        """Answer ZAP requests until cancelled. The socket is a REP (one request, then its
        reply); its descriptor is edge-triggered, so EVENTS is read again after each reply
        and after every wake-up."""
        sock = self.zap_socket
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        fd = sock.getsockopt(zmq.FD)
        loop.add_reader(fd, ready.set)
        try:
            while True:
                while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    await self._answer(sock.recv_multipart(zmq.NOBLOCK))
                ready.clear()
                if not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    await ready.wait()
        finally:
            if not loop.is_closed():
                loop.remove_reader(fd)

    async def _answer(self, msg: list[bytes]) -> None:
        """One ZAP request answered, whatever happens: a REP that owes a reply would take no
        more requests, and every later handshake would hang."""
        try:
            await self.handle_zap_message(msg)
        except Exception:  # noqa: BLE001 - refuse the connection, keep answering
            log.exception("%s: a ZAP request failed; refusing that connection", self.where)
            with contextlib.suppress(zmq.ZMQError):  # EFSM: it was answered before failing
                self._send_zap_reply(msg[1] if len(msg) > 1 else b"", b"500", b"internal error")

    def close(self) -> None:
        self.stop()


def curve_server(sock: zmq.Socket, pair: KeyPair) -> None:
    """Make `sock` (before it binds) a CURVE server that asks ZAP about every client."""
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, pair.secret.encode("ascii"))
    sock.setsockopt(zmq.CURVE_PUBLICKEY, pair.public.encode("ascii"))
    sock.setsockopt(zmq.ZAP_DOMAIN, DOMAIN.encode())
    if hasattr(zmq, "ZAP_ENFORCE_DOMAIN"):  # no ZAP handler (closed already): refuse, never admit
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)


def curve_client(sock: zmq.Socket, pair: KeyPair, server_key: str) -> None:
    """Make `sock` (before it connects) a CURVE client that talks only to `server_key`."""
    sock.setsockopt(zmq.CURVE_SECRETKEY, pair.secret.encode("ascii"))
    sock.setsockopt(zmq.CURVE_PUBLICKEY, pair.public.encode("ascii"))
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key.encode("ascii"))


def check_reply(header: Header, expected: str) -> bool:
    """Whether a reply on a connection pinned to `expected`'s key says it is from
    `expected`; a lying one is logged (rate-limited) and must be dropped."""
    if header.sender == expected:
        return True
    _spoofs.error(f"{expected}>{header.sender}", "dropped a %s reply from %r claiming to be %r",
            header.type.value, expected, header.sender)
    return False


def check_sender(header: Header, user_id: str) -> None:
    """Refused (NOT_ALLOWED) when the header names a sender other than the one its
    connection authenticated as; one rate-limited ERROR line per claimed pair."""
    if header.sender == user_id:
        return
    _spoofs.error(
        f"{user_id}>{header.sender}", "refused %s from %r claiming to be %r: the sender is who its key says",
        header.type.value, user_id, header.sender,
    )
    raise Refused(
        f"this connection is authenticated as {user_id!r}, not {header.sender!r}", Reason.NOT_ALLOWED
    )


def as_sender(handler: Callable[..., Awaitable], frame: zmq.Frame) -> Callable[..., Awaitable]:
    """`handler` behind `check_sender` against the name ZAP gave `frame`'s connection (""
    when it carries none: every message is refused then)."""
    try:
        user_id = frame.get("User-Id") or ""
    except zmq.ZMQError:
        user_id = ""

    async def checked(header: Header, tensors):
        check_sender(header, user_id)
        return await handler(header, tensors)

    return checked
