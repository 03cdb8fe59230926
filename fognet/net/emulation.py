"""Link emulation on loopback: make a send take `latency + bytes / bandwidth`.

    pacer = Pacer(nic_Bps=2.5e6, default=Link(bandwidth_Bps=1.25e6, latency_s=0.002))
    pacer.set_link(["127.0.0.1:5001", node_id], Link(...))   # per peer, by any key
    await pacer.pace(key, nbytes)        # the transport calls this before each send
    delay_s = pacer.reserve(key, nbytes, now)   # the pure part, time passed in

Sender-side pacing: before a message goes out, the sender waits until the message would
have fully arrived over the emulated link. Each destination link and the sender's
interface (`nic_Bps`, one medium shared by all its sends, e.g. a Wi-Fi radio) is a
virtual clock: a send starts when both are free, occupies both for
`bytes / min(link bandwidth, nic)`, and arrives `latency_s` later. Concurrent sends are
served in arrival order, so k sends of n bytes through one interface end no earlier than
`k * n / nic_Bps` (the sharing the planner and the simulator assume).

Emulation is off unless a `Pacer` is given to the transport; without `nic_Bps` no sharing
is assumed; a destination with no link and no default is not paced. Transport keys: a
request or one-way send is paced by the destination address ("host:port"), a reply by
the requester's node id, so set a link under both (membership knows both).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fognet.errors import ConfigError


@dataclass(frozen=True)
class Link:
    bandwidth_Bps: float  # bytes per second
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.bandwidth_Bps > 0 or self.latency_s < 0:
            raise ConfigError(
                f"link needs bandwidth > 0 and latency >= 0, got {self.bandwidth_Bps} B/s, {self.latency_s} s"
            )


class Pacer:
    """Virtual clocks for one sender's interface and its outgoing links."""

    def __init__(
        self,
        nic_Bps: float | None = None,
        default: Link | None = None,
        links: dict[str, Link] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if nic_Bps is not None and not nic_Bps > 0:
            raise ConfigError(f"interface bandwidth must be > 0 bytes/s, got {nic_Bps}")
        self.nic_Bps = nic_Bps
        self.default = default
        self._links = dict(links or {})
        self.clock = clock
        self._nic_free_at = 0.0
        self._link_free_at: dict[str, float] = {}

    def set_link(self, keys: Iterable[str], link: Link) -> None:
        for key in keys:
            self._links[key] = link

    def link_for(self, key: str) -> Link | None:
        return self._links.get(key, self.default)

    def reserve(self, key: str, nbytes: int, now: float) -> float:
        """Book a send of `nbytes` to `key` at time `now`; return seconds until it arrives."""
        link = self.link_for(key)
        rates = [r for r in (link and link.bandwidth_Bps, self.nic_Bps) if r]
        if not rates:
            return 0.0
        start = max(now, self._link_free_at.get(key, 0.0))
        if self.nic_Bps:
            start = max(start, self._nic_free_at)
        end = start + nbytes / min(rates)
        self._link_free_at[key] = end
        if self.nic_Bps:
            self._nic_free_at = end
        return end + (link.latency_s if link else 0.0) - now

    async def pace(self, key: str, nbytes: int) -> None:
        delay = self.reserve(key, nbytes, self.clock())
        if delay > 0:
            await asyncio.sleep(delay)


def parse_rate(text: str) -> float:
    """'10Mbit', '10Mbps', '1.5MB/s', '800kbit', '12500000' (bytes/s) -> bytes per second."""
    units = {"gbit": 1e9 / 8, "mbit": 1e6 / 8, "kbit": 1e3 / 8, "bit": 1 / 8,
             "gb": 1e9, "mb": 1e6, "kb": 1e3, "b": 1.0}
    s = text.strip().lower().removesuffix("/s")
    if s.endswith("bps"):  # 10Mbps = 10 megabits per second
        s = s[:-3] + "bit"
    for suffix, factor in units.items():
        if s.endswith(suffix):
            number, scale = s[: -len(suffix)], factor
            break
    else:
        number, scale = s, 1.0
    try:
        value = float(number) * scale
    except ValueError:
        raise ConfigError(f"bandwidth {text!r}: expected e.g. 10Mbit, 1.5MB or bytes/s") from None
    if value <= 0:
        raise ConfigError(f"bandwidth {text!r} must be positive")
    return value
