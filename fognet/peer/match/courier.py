"""The small parts a live matching round is built from: clocks, sending, checks.

    Timing                       a round's timeouts (seconds)
    Courier(transport, addresses, timeout_s)   request/send by peer name, counted by type
    figures_of(ROUND_OPEN body) -> (Figures, is_source)   refused (MALFORMED) if unusable
    players_of(frozen ROUND_OPEN) -> {name: (Figures, is_source)}; player_columns: the reverse
    without_worker(view, wid) -> Instance       the view once a worker is dead
    wait_event(event, timeout_s) -> bool        a wait that never swallows a cancellation
    still_wanted()                              raise CancelledError if a wait swallowed one
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from fognet.errors import FognetError, WireError
from fognet.matching.instance import MAX_CAP, RULES, Instance
from fognet.net import wire
from fognet.net.base import Transport
from fognet.net.columns import backlog_split
from fognet.net.wire import Header
from fognet.placement.instance import Figures, LinkFigure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """A round's clocks (seconds). On loopback everything answers in milliseconds."""

    ask_timeout_s: float = 1.0  # one request; no answer: the peer is dead for the round
    open_s: float = 2.0  # wait for every roster peer's ROUND_OPEN
    phase1_s: float = 2.0  # a worker ends phase 1 at the latest this long after opening
    settle_s: float = 0.02  # quiet time a worker waits once every source is done
    lock_timeout_s: float = 2.0  # a lock held this long is released
    turn_probe_s: float = 1.0  # phase 2 quiet this long: is the Turn holder still there?
    deadline_s: float = 10.0  # default budget of a round


class Courier:
    """Sends one round's messages to peers by name and counts them by wire type."""

    def __init__(self, transport: Transport, addresses: Mapping[str, str], timeout_s: float):
        self.transport, self.addresses, self.timeout_s = transport, addresses, timeout_s
        self.sent: Counter[str] = Counter()

    def count(self, body: wire.Body) -> None:
        self.sent[body.TYPE.value] += 1

    async def request(self, peer: str, body: wire.Body) -> wire.Body:
        self.count(body)
        reply, _ = await self.transport.request(
            self.addresses[peer], Header(body), timeout_s=self.timeout_s
        )
        return reply.body

    async def send(self, peer: str, body: wire.Body, address: str | None = None) -> bool:
        """One-way, best effort: False if it could not be handed over in time. `address`:
        for a peer not (or no longer) among the round's."""
        self.count(body)
        try:
            await self.transport.send(address or self.addresses[peer], Header(body),
                                      timeout_s=self.timeout_s)
        except FognetError as exc:
            log.debug("%s to %s failed: %s", body.TYPE.value, peer, exc)
            return False
        return True


def figures_of(body: wire.RoundOpen) -> tuple[Figures, bool]:
    """A ROUND_OPEN's figures, refused (MALFORMED) unless the game can use them."""
    return _figures(
        body.quota, body.speed, body.backlog_ref_s, body.local_speed, body.local_backlog_ref_s,
        body.rule, body.cap, body.rate, body.nic_Bps, body.link_peers, body.link_Bps,
        body.link_latency_s, body.backlog_sources, body.backlog_source_ref_s), body.source


def players_of(body: wire.RoundOpen) -> dict[str, tuple[Figures, bool]]:
    """A frozen ROUND_OPEN's figures of every player, each checked as `figures_of` checks
    a peer's own (one MALFORMED player refuses the whole message). Read from the columns
    as they are (`RoundOpen` checked that they line up): a body per player cost ~1000
    objects a round at 32 peers."""
    players, start, split = {}, 0, 0
    for k, name in enumerate(body.roster):
        end, split_end = start + body.p_links[k], split + body.p_splits[k]
        figures = _figures(
            body.p_quota[k], body.p_speed[k], body.p_backlog_ref_s[k], body.p_local_speed[k],
            body.p_local_backlog_ref_s[k], body.p_rule[k], body.p_cap[k], body.p_rate[k],
            body.p_nic_Bps[k], body.p_link_peers[start:end], body.p_link_Bps[start:end],
            body.p_link_latency_s[start:end], body.p_split_sources[split:split_end],
            body.p_split_ref_s[split:split_end])
        players[name], start, split = (figures, body.p_source[k]), end, split_end
    return players


def _figures(quota: int, speed: float, backlog_ref_s: float, local_speed: float,
             local_backlog_ref_s: float, rule: str, cap: float, rate: float, nic_Bps: float,
             link_peers: tuple[str, ...], link_Bps: tuple[float, ...],
             link_latency_s: tuple[float, ...], split_sources: tuple[str, ...],
             split_ref_s: tuple[float, ...]) -> Figures:
    """One peer's figures from its ROUND_OPEN fields (the parallel tuples line up: the
    body checked it), refused (MALFORMED, naming the field) unless the game can use them."""
    for name, value in (("speed", speed), ("local_speed", local_speed)):
        if not (math.isfinite(value) and value > 0):
            raise WireError(f"ROUND_OPEN {name}: must be positive and finite, got {value!r}")
    for name, value in (("backlog_ref_s", backlog_ref_s), ("local_backlog_ref_s", local_backlog_ref_s)):
        if not (math.isfinite(value) and value >= 0):
            raise WireError(f"ROUND_OPEN {name}: must be >= 0 and finite")
    if quota < 0:
        raise WireError(f"ROUND_OPEN quota: must be >= 0, got {quota}")
    if rule not in RULES:
        raise WireError(f"ROUND_OPEN rule: {rule!r} is not one of {', '.join(RULES)}")
    if len(set(link_peers)) != len(link_peers):
        raise WireError("ROUND_OPEN link_peers: a peer is listed twice")
    if not all(math.isfinite(bw) and bw > 0 for bw in link_Bps) or not all(
            math.isfinite(lat) and lat >= 0 for lat in link_latency_s):
        raise WireError("ROUND_OPEN links: bandwidth must be > 0 and latency >= 0, finite")
    links = tuple(map(LinkFigure, link_peers, link_Bps, link_latency_s))
    if not 0 < cap <= MAX_CAP:
        raise WireError(f"ROUND_OPEN cap: must be in (0, {MAX_CAP}], got {cap!r}")
    if not (math.isfinite(rate) and rate > 0):
        raise WireError(f"ROUND_OPEN rate: must be positive and finite, got {rate!r}")
    if not (math.isfinite(nic_Bps) and nic_Bps >= 0):
        raise WireError(f"ROUND_OPEN nic_Bps: must be >= 0 and finite, got {nic_Bps!r}")
    return Figures(quota, speed, backlog_ref_s, local_speed, local_backlog_ref_s, links, rule,
                   cap, rate, nic_Bps,
                   backlog_by_source=backlog_split(split_sources, split_ref_s))


def player_columns(players: Mapping[str, tuple[Figures, bool]]) -> dict[str, tuple]:
    """The `p_` fields of a frozen ROUND_OPEN for these players (in their order)."""
    rows = [(f, src) for f, src in players.values()]
    links = [lk for f, _ in rows for lk in f.links]
    splits = [part for f, _ in rows for part in f.backlog_by_source]
    return {
        "p_rule": tuple(f.rule for f, _ in rows), "p_quota": tuple(f.quota for f, _ in rows),
        "p_speed": tuple(f.speed for f, _ in rows),
        "p_backlog_ref_s": tuple(f.backlog_ref_s for f, _ in rows),
        "p_source": tuple(src for _, src in rows),
        "p_local_speed": tuple(f.local_speed for f, _ in rows),
        "p_local_backlog_ref_s": tuple(f.local_backlog_ref_s for f, _ in rows),
        "p_cap": tuple(f.cap for f, _ in rows), "p_rate": tuple(f.rate for f, _ in rows),
        "p_nic_Bps": tuple(f.nic for f, _ in rows),
        "p_links": tuple(len(f.links) for f, _ in rows),
        "p_link_peers": tuple(lk.peer for lk in links),
        "p_link_Bps": tuple(lk.bandwidth_Bps for lk in links),
        "p_link_latency_s": tuple(lk.latency_s for lk in links),
        "p_splits": tuple(len(f.backlog_by_source) for f, _ in rows),
        "p_split_sources": tuple(source for source, _ in splits),
        "p_split_ref_s": tuple(ref_s for _, ref_s in splits),
    }


def still_wanted() -> None:
    """Raise CancelledError if this task was asked to stop but a wait swallowed it (Python
    3.11's `asyncio.wait_for`, which the transports use, can do that)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for `event` up to `timeout_s`. Not `wait_for`: on Python 3.11 it can swallow a
    cancellation that races the wait, and a peer being stopped must stop."""
    if event.is_set():  # (no timer to arm and cancel: most waits find it set)
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()


def without_worker(view: Instance, wid: str) -> Instance:
    return dataclasses.replace(
        view,
        workers=tuple(w for w in view.workers if w.id != wid),
        links=tuple(lk for lk in view.links if wid not in (lk.a, lk.b)),
    )
