"""Finding peers: a UDP beacon on the LAN, or a bootstrap list of addresses.

Both implement the same socket-free interface:

    found: asyncio.Queue[PeerSeen] = asyncio.Queue()
    disco = BeaconDiscovery(node_id, my_address, found, port=47474)           # or
    disco = BootstrapDiscovery(transport, hello, ["10.0.0.2:5000"], found)
    await disco.start(); ...; disco.peers() -> list[PeerSeen]; await disco.stop()

Each sighting of another peer is put on the queue as a frozen `PeerSeen(node_id, address,
seen_at)` (every time it is seen, so the queue doubles as a liveness feed); `peers()` is
the latest sighting of each. The CLI picks the implementation in one place.

BeaconDiscovery broadcasts a small msgpack datagram `{fognet, v, id, addr, key}` every
`interval_s` to `broadcast:port` and listens on the same port. The default broadcast
address is the LAN's (255.255.255.255); tests and demos must pass "127.255.255.255", which
stays on loopback. An advertised host of 0.0.0.0 is replaced by the datagram's source IP.
`key` is a closed peer's key fingerprint ("" when open): a beacon proves nothing, so a
closed peer only uses it to pick, from its allow-list, the key to connect with.

BootstrapDiscovery sends HELLO over the transport to each listed "host:port" every
`interval_s` until it answers, then to the peers those HELLO replies name (gossip, as
"name@host:port"), so it works where broadcast is blocked. `on_hello` receives each HELLO
reply (the membership table can take it straight in). An entry may name the peer expected
there, "name@host:port" (a closed peer must: its connection is pinned to that name's key);
`learn(address, name)` is told every name it hears of.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgpack

from fognet.errors import ConfigError, FognetError
from fognet.net.base import Transport
from fognet.net.bounded import BoundedDict
from fognet.net.ratelog import RateLimitedLog
from fognet.net.wire import PROTOCOL_VERSION, Header, Hello

log = logging.getLogger(__name__)
warn = RateLimitedLog(log)  # stray datagrams and odd replies: a bounded number of lines

LAN_BROADCAST = "255.255.255.255"
LOOPBACK_BROADCAST = "127.255.255.255"
DEFAULT_BEACON_PORT = 47474
MAX_BEACON_BYTES = 512
SIGHTINGS_KEPT = 1024  # latest sighting per node id; the oldest go first


@dataclass(frozen=True)
class PeerSeen:
    node_id: str
    address: str  # "host:port" of its ROUTER
    seen_at: float  # time.monotonic() when seen
    key: str = ""  # the key fingerprint its beacon carried ("" when open)


class _Seen:
    """The sightings table and queue both implementations share."""

    def __init__(self, self_id: str, found: asyncio.Queue | None) -> None:
        self.self_id = self_id
        self.found = found
        self.latest: dict[str, PeerSeen] = BoundedDict(SIGHTINGS_KEPT)  # fake beacons: bounded

    def saw(self, node_id: str, address: str, key: str = "") -> None:
        if node_id == self.self_id:
            return
        seen = PeerSeen(node_id, address, time.monotonic(), key)
        self.latest[node_id] = seen
        if self.found is not None:
            self.found.put_nowait(seen)

    def peers(self) -> list[PeerSeen]:
        return sorted(self.latest.values(), key=lambda p: p.node_id)


# --- UDP beacon ------------------------------------------------------------------------


def beacon_bytes(node_id: str, address: str, key: str = "") -> bytes:
    return msgpack.packb({"fognet": "beacon", "v": PROTOCOL_VERSION, "id": node_id, "addr": address, "key": key})


def parse_beacon(data: bytes, source_ip: str) -> tuple[str, str, str] | None:
    """(node_id, address, key fingerprint) from a beacon datagram, or None for anything else."""
    if len(data) > MAX_BEACON_BYTES:
        return None
    try:
        msg = msgpack.unpackb(data, raw=False)
    except Exception:  # noqa: BLE001 - stray datagrams on the port are not ours
        return None
    if not (isinstance(msg, dict) and msg.get("fognet") == "beacon" and msg.get("v") == PROTOCOL_VERSION):
        return None
    node_id, address, key = msg.get("id"), msg.get("addr"), msg.get("key", "")
    if not (isinstance(node_id, str) and isinstance(address, str) and ":" in address and isinstance(key, str)):
        return None
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "*", ""):
        address = f"{source_ip}:{port}"
    return node_id, address, key


class _BeaconProtocol(asyncio.DatagramProtocol):
    def __init__(self, seen: _Seen) -> None:
        self.seen = seen
        self.ignored = 0

    def datagram_received(self, data: bytes, addr) -> None:
        parsed = parse_beacon(data, addr[0])
        if parsed is None:
            self.ignored += 1
            return
        self.seen.saw(*parsed)

    def error_received(self, exc: Exception) -> None:
        warn.warning("beacon-error", "beacon socket error: %s", exc)


class BeaconDiscovery:
    def __init__(
        self,
        node_id: str,
        address: str,
        found: asyncio.Queue | None = None,
        *,
        broadcast: str = LAN_BROADCAST,
        port: int = DEFAULT_BEACON_PORT,
        interval_s: float = 1.0,
        key: str = "",
    ) -> None:
        self.node_id, self.address, self.key = node_id, address, key
        self.broadcast = LAN_BROADCAST if broadcast == "<broadcast>" else broadcast
        self.port, self.interval_s = port, interval_s
        self._seen = _Seen(node_id, found)
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = _beacon_socket(self.broadcast, self.port)
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _BeaconProtocol(self._seen), sock=sock
        )
        self._task = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        payload = beacon_bytes(self.node_id, self.address, self.key)
        while True:
            self._transport.sendto(payload, (self.broadcast, self.port))
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._transport is not None:
            self._transport.close()
        self._task = self._transport = None

    def peers(self) -> list[PeerSeen]:
        return self._seen.peers()


def _beacon_socket(broadcast: str, port: int) -> socket.socket:
    """A UDP socket that can broadcast and that several peers on one host can share.

    It binds to the broadcast address itself (Linux then delivers exactly the broadcasts
    to it, e.g. loopback-only for 127.255.255.255), or to all interfaces for the LAN-wide
    255.255.255.255.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind(("" if broadcast == LAN_BROADCAST else broadcast, port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot open the discovery beacon on {broadcast}:{port}: {exc}") from exc
    return sock


# --- bootstrap list --------------------------------------------------------------------


def parse_bootstrap(text: str | Iterable[str]) -> list[str]:
    """'host:port name@host:port,...' -> ['host:port', 'name@host:port', ...], checking each."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    for item in items:
        if not _is_address(split_named(item)[1]):
            raise ConfigError(f"bootstrap address {item!r}: expected host:port or name@host:port")
    return [item.replace("tcp://", "") for item in items]


def split_named(entry: str) -> tuple[str | None, str]:
    """'name@host:port' -> ('name', 'host:port'); 'host:port' -> (None, 'host:port')."""
    name, sep, addr = entry.rpartition("@")
    return (name or None, addr) if sep else (None, entry)


def named(name: str, address: str) -> str:
    return f"{name}@{address}"


def _is_address(text: str) -> bool:
    host, _, port = text.removeprefix("tcp://").rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


class BootstrapDiscovery:
    def __init__(
        self,
        transport: Transport,
        hello: Callable[[], Hello],
        addresses: Iterable[str],
        found: asyncio.Queue | None = None,
        *,
        interval_s: float = 1.0,
        on_hello: Callable[[Header], None] | None = None,
        learn: Callable[..., object] | None = None,
    ) -> None:
        self.transport, self.interval_s = transport, interval_s
        self._hello, self._on_hello, self._learn = hello, on_hello, learn
        self._seen = _Seen(transport.node_id, found)
        self._pending = self._addresses(parse_bootstrap(addresses)) - {transport.address}
        self._task: asyncio.Task | None = None

    def _addresses(self, entries: Iterable[str]) -> set[str]:
        """The addresses of bootstrap or gossip entries, telling `learn` the names they give."""
        out = set()
        for entry in entries:
            name, addr = split_named(entry)
            if not _is_address(addr):
                continue
            if name and name != self.transport.node_id and self._learn is not None:
                self._learn(addr, name)
            out.add(addr)
        return out

    async def start(self) -> None:
        self._task = asyncio.create_task(self._probe())

    async def _probe(self) -> None:
        """HELLO every address not yet answered, each interval, until none is left."""
        while self._pending:
            targets = sorted(self._pending)
            await asyncio.gather(*(self._greet(addr) for addr in targets))
            await asyncio.sleep(self.interval_s)

    async def _greet(self, addr: str) -> None:
        try:
            reply, _ = await self.transport.request(addr, Header(self._hello()), timeout_s=self.interval_s)
        except FognetError as exc:
            log.debug("bootstrap peer %s: %s", addr, exc)
            return
        if not isinstance(reply.body, Hello):
            warn.warning("bootstrap-reply", "bootstrap peer %s answered %s, not HELLO", addr, reply.type.value)
            return
        self._pending.discard(addr)
        self._seen.saw(reply.sender, reply.body.address, reply.body.key)
        if self._on_hello is not None:
            self._on_hello(reply)
        known = {p.address for p in self._seen.latest.values()} | {self.transport.address}
        self._pending |= self._addresses(reply.body.peers) - known

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def peers(self) -> list[PeerSeen]:
        return self._seen.peers()
