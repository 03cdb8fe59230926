"""A least-recently-used cache bounded by bytes, so what a peer keeps never grows with what it is asked.

The executor keeps loaded models and built sessions in two of these. Sizes are estimates
the caller gives (a model's serialised bytes); when an insert takes the total over the
bound, the least recently used entries go until it fits again. The entry just inserted
always stays, even alone over the bound: a model bigger than the cache must still run,
it is then simply rebuilt when something else was asked in between. Evicting only drops
the cache's reference, so a job already holding an entry finishes with it.

Not thread-safe on its own: the executor mutates it under its lock; `peek` (no reordering)
is safe to call from another thread meanwhile.

API
    ByteLRU(max_bytes)
        .get(key) -> value | None          marks it most recently used
        .peek(key) -> value | None
        .put(key, value, nbytes) -> int    evicts least recently used entries past the bound; how many
        .stats() -> CacheStats
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fognet.errors import ConfigError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int  # estimated bytes of the entries held
    max_bytes: int
    evictions: int  # entries dropped to stay within max_bytes, since the cache was made


class ByteLRU(Generic[K, V]):
    """See the module docstring."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ConfigError(f"a cache bound must be a positive number of bytes, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._evictions = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def peek(self, key: K) -> V | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: K, value: V, nbytes: int) -> int:
        evicted = 0
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (value, max(0, int(nbytes)))
        self._bytes += max(0, int(nbytes))
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, (_, size) = self._entries.popitem(last=False)
            self._bytes -= size
            evicted += 1
        self._evictions += evicted
        return evicted

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> CacheStats:
        return CacheStats(len(self._entries), self._bytes, self.max_bytes, self._evictions)
