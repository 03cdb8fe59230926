"""Containers that strangers can fill, each with a bound, so a flood costs bounded memory
and file descriptors.

Anyone on the LAN can send a peer HELLOs, beacons and requests naming new peers and new
addresses. Whatever a peer keeps per name or per address therefore lives in one of these:

    BoundedDict(max_entries)        a dict that forgets its least recently set entry past the bound
    DroppingQueue(maxsize)          an asyncio.Queue whose put_nowait drops (and counts) when full
    ConnectionTable(max_entries, busy, close)
        the ZeroMQ transport's DEALER per address: least recently used first out, but only an
        idle one (`busy(addr, conn)` false: no request waits on it, no send is under way); when
        every connection is busy a new one is refused with PeerUnreachable, never a working
        one cut. Connections used every heartbeat (the live members) are the most recent, so
        with the membership cap below the table's, a flood of strangers never evicts them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from fognet.errors import ConfigError, PeerUnreachable

K = TypeVar("K")
V = TypeVar("V")


def _positive(max_entries: int) -> int:
    if max_entries <= 0:
        raise ConfigError(f"a bound must be a positive number of entries, got {max_entries}")
    return max_entries


class BoundedDict(OrderedDict, Generic[K, V]):
    """A dict of at most `max_entries`; setting a key makes it the newest, and the oldest
    goes when there are too many."""

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = _positive(max_entries)
        self.dropped = 0

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.max_entries:
            self.popitem(last=False)
            self.dropped += 1


class DroppingQueue(asyncio.Queue):
    """A bounded queue for sightings and other hints that may be lost: `put_nowait` on a
    full queue drops the item and counts it instead of raising (a datagram callback that
    raised would close its socket)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(_positive(maxsize))
        self.dropped = 0

    def put_nowait(self, item) -> None:
        try:
            super().put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1


class ConnectionTable(OrderedDict, Generic[K, V]):
    """See the module docstring. `get` marks an entry used; setting a new key past the
    bound closes the least recently used idle connection, or closes the new one and raises
    PeerUnreachable when none is idle."""

    def __init__(self, max_entries: int, busy: Callable[[K, V], bool], close: Callable[[V], None]) -> None:
        super().__init__()
        self.max_entries = _positive(max_entries)
        self._busy, self._close = busy, close
        self.evicted = 0
        self.refused = 0

    def get(self, key: K, default: V | None = None) -> V | None:
        if key not in self:
            return default
        self.move_to_end(key)
        return super().__getitem__(key)

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self and len(self) >= self.max_entries:
            idle = next((k for k, v in self.items() if not self._busy(k, v)), None)
            if idle is None:
                self.refused += 1
                self._close(value)
                raise PeerUnreachable(
                    f"cannot open a connection to {key}: all {self.max_entries} connections "
                    "are busy (raise max_connections if the cluster is that big)"
                )
            self._close(self.pop(idle))
            self.evicted += 1
        super().__setitem__(key, value)
        self.move_to_end(key)
