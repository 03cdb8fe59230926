"""Fetching a model by hash, from the peer that asked for it and no one else.

A peer that gets an EXEC for a model it lacks downloads it in MODEL_PART chunks from the
request's sender, whose address membership knows; never from a third party a message
names or that merely advertises the hash, so no one can point a peer at a download. The
announced size must fit the store's cap before a byte is fetched, all downloads in flight
together hold at most that many bytes (a flood of EXECs naming fresh hashes costs bounded
memory), and the bytes pass the store's `check_model` gate before they are kept; a hash
already refused is refused again at once. One download per hash at a time.

The source's address is membership's, or, when its heartbeats are late and membership has
just dropped it as dead, the last address membership knew for that name (the request
itself shows the source is alive); a peer that said BYE is forgotten.

API
    ModelFetcher(name, store, transport, address_of)   address_of(name) -> "host:port" | None
        await .ensure(sha256, source) -> Path           the file, fetched from `source` if missing
        .remember(name, address) / .forget(name)       membership's JOIN-DEAD / LEAVE events
        .in_flight_bytes -> int
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from fognet.errors import PeerError
from fognet.net import wire
from fognet.net.base import Transport
from fognet.net.wire import Header, Reason
from fognet.peer.store import CHUNK_BYTES, ModelDownload, ModelStore, refused_model

log = logging.getLogger(__name__)

MODEL_TIMEOUT_S = 10.0  # per MODEL_PART chunk
ADDRESSES_KEPT = 1024  # last known addresses of peers membership saw


class ModelFetcher:
    """See the module docstring."""

    def __init__(
        self, name: str, store: ModelStore, transport: Transport, address_of: Callable[[str], str | None]
    ) -> None:
        self.name = name
        self.store = store
        self.transport = transport
        self.address_of = address_of
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_flight = 0
        self._last_address: OrderedDict[str, str] = OrderedDict()

    @property
    def in_flight_bytes(self) -> int:
        return self._in_flight

    def remember(self, name: str, address: str) -> None:
        self._last_address[name] = address
        self._last_address.move_to_end(name)
        while len(self._last_address) > ADDRESSES_KEPT:
            self._last_address.popitem(last=False)

    def forget(self, name: str) -> None:
        self._last_address.pop(name, None)

    async def ensure(self, sha256: str, source: str) -> Path:
        """The model file with this hash, fetched once from `source` if this peer lacks it."""
        if self.store.has(sha256):
            return self.store.path(sha256)
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        try:
            async with lock:
                if not self.store.has(sha256):
                    await self._fetch(sha256, source)
        finally:
            if not lock.locked():  # nobody waits on it: forget it, so the dict stays small
                self._locks.pop(sha256, None)
        return self.store.path(sha256)

    async def _fetch(self, sha256: str, source: str) -> None:
        refusal = self.store.refusal(sha256)
        if refusal is not None:
            raise refusal
        addr = self.address_of(source) or self._last_address.get(source)
        if addr is None:
            raise refused_model(
                f"{self.name} lacks model {sha256[:12]}... and fetches a model only from the peer "
                f"that asked for it; {source[:40]!r} is not a member it can ask", Reason.NOT_FOUND,
            )
        log.info("%s fetching model %s... from %s", self.name, sha256[:12], source)
        download: ModelDownload | None = None
        reserved = 0
        try:
            while download is None or not download.complete:
                offset = download.received if download else 0
                ask = Header(wire.ModelGet(sha256, offset, CHUNK_BYTES))
                try:
                    reply, data = await self.transport.request(addr, ask, timeout_s=MODEL_TIMEOUT_S)
                except PeerError as exc:
                    raise refused_model(
                        f"{self.name} cannot fetch model {sha256[:12]}... from {source[:40]}: {exc}", Reason.NOT_FOUND
                    ) from exc
                part = reply.body
                if not isinstance(part, wire.ModelPart) or part.model_sha256 != sha256 or "data" not in data:
                    raise refused_model(f"{source[:40]} answered MODEL_GET {sha256[:12]}... with {reply.type.value}, not its MODEL_PART")
                if download is None:
                    download = ModelDownload(sha256, part.total_bytes, self.store.max_model_bytes)
                    reserved = self._reserve(download.size)
                download.add(part.offset_bytes, bytes(data["data"]))
            await asyncio.to_thread(self.store.put, download.data(), sha256)
        finally:
            self._in_flight -= reserved
        log.info("%s stored model %s... (%d bytes)", self.name, sha256[:12], download.size)

    def _reserve(self, size: int) -> int:
        """Count a download against the cap shared by every download in flight."""
        cap = self.store.max_model_bytes
        if self._in_flight + size > cap:
            raise refused_model(
                f"{self.name} is already downloading {self._in_flight} bytes of models; {size} more "
                f"would pass its cap of {cap} bytes in flight, try again later", Reason.BUSY,
            )
        self._in_flight += size
        return size
