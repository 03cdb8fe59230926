from __future__ import annotations

import pytest

from fognet.errors import ConfigError
from fognet.peer.lru import ByteLRU


def test_least_recently_used_goes_first_and_the_bound_holds() -> None:
    cache: ByteLRU[str, int] = ByteLRU(10)
    assert cache.put("a", 1, 4) == 0 and cache.put("b", 2, 4) == 0
    assert cache.get("a") == 1  # a is now the most recent
    assert cache.put("c", 3, 4) == 1  # 12 > 10: b, the least recently used, goes
    assert cache.peek("b") is None and cache.peek("a") == 1 and cache.peek("c") == 3
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.max_bytes, stats.evictions) == (2, 8, 10, 1)


def test_peek_does_not_refresh_and_replacing_a_key_recounts_it() -> None:
    cache: ByteLRU[str, str] = ByteLRU(10)
    cache.put("a", "x", 5)
    cache.put("b", "y", 5)
    assert cache.peek("a") == "x"  # no reordering: a stays the oldest
    cache.put("b", "z", 3)  # replaced, 8 bytes in all
    assert cache.stats().bytes == 8 and len(cache) == 2
    cache.put("c", "w", 4)
    assert cache.peek("a") is None and cache.peek("b") == "z"


def test_an_entry_over_the_bound_stays_alone() -> None:
    cache: ByteLRU[str, int] = ByteLRU(10)
    cache.put("a", 1, 3)
    assert cache.put("huge", 2, 50) == 1
    assert len(cache) == 1 and cache.get("huge") == 2 and cache.stats().bytes == 50


def test_bound_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="positive"):
        ByteLRU(0)
