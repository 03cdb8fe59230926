"""Who is in the cluster: a table fed by HELLO/STATE heartbeats, and the heartbeat task.

Pure part (time is an argument, no I/O):

    table = MembershipTable(self_id, interval_s=1.0, misses=3)
    events = table.observe(header, now)     # HELLO / STATE / BYE -> [MemberEvent]
    events = table.expire(now)              # peers silent for `misses` intervals -> DEAD
    table.alive() -> list[Member]; table.get(node_id) -> Member | None; node_id in table

Async part, driven by the peer daemon:

    members = Membership(transport, describe, events_queue, interval_s=1.0)
    task = asyncio.create_task(members.run())      # heartbeat: STATE to all, expire, repeat
    reply = members.handle(header)                  # in the serve handler, for HELLO/STATE/BYE
    members.heard(reply)                            # a HELLO that came back as a reply (bootstrap)
    await members.introduce("host:port")            # HELLO a peer found by discovery
    await members.leave()                           # BYE to everyone, on shutdown

Peers are keyed by name (plans, links and the matching game refer to peers by name), and
every run of a peer draws a random `instance` id that its HELLO/STATE carry. Two live
peers with one name (a copied config) are therefore told apart: the newcomer is refused
and logged as a conflict until the first one has gone (BYE or dead); a peer restarted
at the same address simply replaces its old entry.

The table holds at most `max_members` peers (DEFAULT_MAX_MEMBERS): past it, a newcomer
takes the place of a member that does not work, one whose last `UNREACHABLE_AFTER`
heartbeats could not even be handed to its address (a fake peer naming an address where
nothing listens), and is refused otherwise (its HELLO gets ERROR BUSY) until a member
leaves or dies. A member that takes our heartbeats is never evicted for a newcomer, so a
flood of fake peers cannot push out the peers that work nor keep a lapsed one out for
long, and what the flood costs (entries, heartbeats, DEALER connections) stays bounded.

A HELLO/STATE is checked before it is stored, since planning and the matching game read
members' figures: an address that is not host:port, a speed that is not a positive finite
number, a negative or infinite backlog, a negative quota are refused (MALFORMED; a HELLO
that came as a reply is dropped, with a rate-limited line).

A peer is DEAD once `misses` of ITS OWN heartbeat intervals pass without a HELLO or
STATE from it (3 by default, as DESIGN.md says): every HELLO/STATE carries the sender's
interval (`heartbeat_s`), so a source beating every second is not declared dead by a
worker beating five times as often; a peer that announces none (an older one) is judged
by this peer's interval, and an announced interval is capped at MAX_HEARTBEAT_S; a BYE makes it LEAVE at once; a dead or departed peer
that speaks again JOINs again. Every event is put on the events queue for the daemon to
log and to re-match the dead peer's subtasks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum

from fognet.errors import ConfigError, FognetError, Refused, WireError
from fognet.net.base import Transport
from fognet.net.bounded import BoundedDict
from fognet.net.columns import backlog_split
from fognet.net.discovery import named, parse_bootstrap
from fognet.net.ratelog import RateLimitedLog
from fognet.net.wire import (
    PROTOCOL_VERSION,
    Bye,
    Header,
    Hello,
    Reason,
    State,
    new_node_id,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_MEMBERS = 128  # a LAN cluster of fog devices; configurable per peer
UNREACHABLE_AFTER = 2  # heartbeats in a row not handed over: the member's place may be taken
CONFLICTS_KEPT = 64


@dataclass(frozen=True)
class Member:
    node_id: str
    address: str  # "host:port" of its ROUTER
    name: str
    profile: str
    speed: float  # reference-seconds of work per second
    backlog_ref_s: float
    quota: int
    models: tuple[str, ...]  # sha256 of the model files it holds
    protocol: int  # wire protocol version it speaks
    last_seen: float  # the table's clock, seconds
    instance: str = ""  # random per run of the peer
    heartbeat_s: float = 0.0  # its announced STATE interval (0: unknown, judged by ours)
    memory_bytes: float = 0.0  # advertised memory for partitions; 0: not said (no limit)
    backlog_by_source: tuple[tuple[str, float], ...] = ()  # backlog_ref_s split by source


MAX_HEARTBEAT_S = 60.0  # an announced interval above this counts as this: no peer lingers for ever
class EventKind(str, Enum):
    JOIN = "join"  # first HELLO/STATE from a peer not in the table
    LEAVE = "leave"  # the peer said BYE
    DEAD = "dead"  # the peer missed `misses` heartbeats


@dataclass(frozen=True)
class MemberEvent:
    kind: EventKind
    member: Member
    at: float


class MembershipTable:
    """The live peers, by node id. Pure: every method takes the time it runs at."""

    def __init__(
        self, self_id: str, interval_s: float = 1.0, misses: int = 3, instance: str = "",
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> None:
        if max_members <= 0:
            raise ConfigError(f"max_members must be at least 1, got {max_members}")
        self.self_id = self_id
        self.max_members = max_members
        self.refused = 0  # HELLO/STATE from newcomers while the table was full
        self.instance = instance
        self.interval_s = interval_s
        self.misses = misses
        self._members: dict[str, Member] = {}
        self._failures: dict[str, int] = {}  # member -> heartbeats in a row it did not take
        self.conflicts: BoundedDict[str, str] = BoundedDict(CONFLICTS_KEPT)  # refused instance -> its address
        self.log = RateLimitedLog(log)  # strangers decide how often these lines come

    def observe(self, header: Header, now: float) -> list[MemberEvent]:
        """Update the table from a received message; other message types are ignored."""
        if not header.sender:
            return []
        if header.sender == self.self_id:
            if isinstance(header.body, Hello) and self._foreign(header.body.instance, self.instance):
                self._conflict(header, "this peer")
            return []
        if isinstance(header.body, Bye):
            gone = self._drop(header.sender)
            return [MemberEvent(EventKind.LEAVE, gone, now)] if gone else []
        if not isinstance(header.body, Hello):  # State is a Hello
            return []
        held = self._members.get(header.sender)
        if held is None and not self.admits(header.sender):
            self.refused += 1
            self.log.warning("full", "membership is full (%d peers): not adding %r at %s",
                             self.max_members, header.sender[:40], header.body.address[:60])
            return []
        events = []
        if held is None and len(self._members) >= self.max_members:
            events.append(MemberEvent(EventKind.DEAD, self._drop(self._displaceable()[0]), now))
        member = _member(header, now)
        if (
            held is not None
            and self._foreign(member.instance, held.instance)
            and held.address != member.address
            and now - held.last_seen <= self.silence_s(held)
        ):
            self._conflict(header, f"the peer at {held.address}")
            return []
        if held is not None and held.address != member.address:
            self._failures.pop(header.sender, None)  # a new address gets its own chances
        self._members[header.sender] = member
        return [*events, MemberEvent(EventKind.JOIN, member, now)] if held is None else events

    @staticmethod
    def _foreign(theirs: str, ours: str) -> bool:
        return bool(theirs and ours and theirs != ours)

    def _conflict(self, header: Header, holder: str) -> None:
        instance, address = header.body.instance, header.body.address
        if instance not in self.conflicts:
            self.log.error(
                "conflict", "a second peer calls itself %r (at %s) while %s has that name; ignoring it: "
                "peer names must be unique in a cluster", header.sender, address, holder,
            )
        self.conflicts[instance] = address

    def admits(self, node_id: str) -> bool:
        """Whether a HELLO from `node_id` would be taken: a member, room for one more, or a
        member that does not take heartbeats to give its place."""
        return node_id in self._members or len(self._members) < self.max_members or bool(self._displaceable())

    def heartbeat_sent(self, node_id: str, handed_over: bool) -> None:
        """Whether our heartbeat could be handed to the member's address (the only thing
        that shows an address is real: anyone can send a STATE naming any address)."""
        if handed_over:
            self._failures.pop(node_id, None)
        elif node_id in self._members:
            self._failures[node_id] = self._failures.get(node_id, 0) + 1

    def _displaceable(self) -> list[str]:
        """Members that did not take their last heartbeats, longest silent first."""
        ids = [n for n, fails in self._failures.items() if fails >= UNREACHABLE_AFTER]
        return sorted(ids, key=lambda n: (self._members[n].last_seen, n))

    def _drop(self, node_id: str) -> Member | None:
        self._failures.pop(node_id, None)
        return self._members.pop(node_id, None)

    def silence_s(self, member: Member) -> float:
        """How long `member` may be silent before it is dead: `misses` of its own intervals."""
        return self.misses * (member.heartbeat_s or self.interval_s)

    def expire(self, now: float) -> list[MemberEvent]:
        """Remove the peers silent for more than `misses` of their own intervals."""
        dead = [m for m in self._members.values() if now - m.last_seen > self.silence_s(m)]
        for member in dead:
            self._drop(member.node_id)
        return [MemberEvent(EventKind.DEAD, m, now) for m in dead]

    def alive(self) -> list[Member]:
        return sorted(self._members.values(), key=lambda m: m.node_id)

    def get(self, node_id: str) -> Member | None:
        return self._members.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._members

    def __len__(self) -> int:
        return len(self._members)


def _check_hello(hello: Hello) -> None:
    """What a member says about itself must be usable: its address is what heartbeats
    connect to, its figures are what plans and rounds are priced with."""
    try:
        parse_bootstrap([hello.address])
    except ConfigError:
        raise WireError(f"address: {hello.address[:60]!r} is not host:port") from None
    if not (math.isfinite(hello.speed) and hello.speed > 0):
        raise WireError(f"speed: {hello.speed!r} is not a positive finite number")
    if not (math.isfinite(hello.backlog_ref_s) and hello.backlog_ref_s >= 0):
        raise WireError(f"backlog_ref_s: {hello.backlog_ref_s!r} is not a finite number >= 0")
    if hello.quota < 0:
        raise WireError(f"quota: {hello.quota} is negative")
    if not (math.isfinite(hello.memory_bytes) and hello.memory_bytes >= 0):
        raise WireError(f"memory_bytes: {hello.memory_bytes!r} is not a finite number >= 0")
    backlog_split(hello.backlog_sources, hello.backlog_source_ref_s)


def _member(header: Header, now: float) -> Member:
    b = header.body
    return Member(
        node_id=header.sender, address=b.address, name=b.name, profile=b.profile,
        speed=b.speed, backlog_ref_s=b.backlog_ref_s, quota=b.quota, models=b.models,
        protocol=PROTOCOL_VERSION,  # the codec refuses any other version
        last_seen=now, instance=b.instance, heartbeat_s=_interval(b.heartbeat_s),
        memory_bytes=b.memory_bytes, backlog_by_source=backlog_split(b.backlog_sources, b.backlog_source_ref_s),
    )


def _interval(announced: float) -> float:
    """An announced heartbeat interval as the table uses it (0: unknown)."""
    if not announced > 0:  # also NaN
        return 0.0
    return min(announced, MAX_HEARTBEAT_S)


class Membership:
    """The table plus the heartbeat: sends STATE every interval and reports events."""

    def __init__(
        self,
        transport: Transport,
        describe: Callable[[], Hello],
        events: asyncio.Queue,
        *,
        interval_s: float = 1.0,
        misses: int = 3,
        clock: Callable[[], float] = time.monotonic,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> None:
        self.transport = transport
        self.table = MembershipTable(transport.node_id, interval_s, misses, instance=new_node_id(),
                                     max_members=max_members)
        self.events = events
        self._describe = describe
        self._clock = clock
        self._events_log = RateLimitedLog(log, burst=32)  # a flood of fake peers: bounded lines

    def hello(self) -> Hello:
        """What this peer says about itself, with the addresses it knows (gossip)."""
        peers = tuple(named(m.node_id, m.address) for m in self.table.alive())
        return replace(
            self._describe(), address=self.transport.address, peers=peers,
            instance=self.table.instance, heartbeat_s=self.table.interval_s,
        )

    def handle(self, header: Header) -> Header | None:
        """Feed HELLO/STATE/BYE into the table; a HELLO is answered with our HELLO (ERROR
        when it cannot be taken: a bad address, or a full table)."""
        if isinstance(header.body, Hello):
            _check_hello(header.body)
            if type(header.body) is Hello and not self.table.admits(header.sender):
                self.table.refused += 1
                raise Refused(f"{self.transport.node_id} has {self.table.max_members} members, its cap; "
                              "try again when one leaves", Reason.BUSY)
        self._publish(self.table.observe(header, self._clock()))
        return Header(self.hello()) if type(header.body) is Hello else None

    async def introduce(self, address: str, timeout_s: float | None = None) -> None:
        """HELLO the peer at `address` and add it from its reply (PeerUnreachable if silent)."""
        reply, _ = await self.transport.request(
            address, Header(self.hello()), timeout_s=timeout_s or self.table.interval_s * 2
        )
        self.heard(reply)

    def heard(self, reply: Header) -> None:
        """Take in a HELLO that came back as a reply (an introduction, the bootstrap list);
        one that would be refused as a request is dropped with a (rate-limited) line."""
        if isinstance(reply.body, Hello):
            try:
                _check_hello(reply.body)
            except WireError as exc:
                self.table.log.warning("bad-hello", "ignoring the HELLO of %r: %s", reply.sender[:40], exc)
                return
        self._publish(self.table.observe(reply, self._clock()))

    async def run(self) -> None:
        """Heartbeat until cancelled: expire silent peers, send STATE to the rest."""
        interval = self.table.interval_s
        while True:
            started = self._clock()
            self._publish(self.table.expire(started))
            state = Header(State(**asdict(self.hello())))
            members = self.table.alive()
            # a dead peer's send blocks until its timeout: keep it within the beat, so the
            # live peers still hear from us every interval
            results = await asyncio.gather(
                *(self.transport.send(m.address, state, timeout_s=interval / 2) for m in members),
                return_exceptions=True,
            )
            for member, result in zip(members, results, strict=True):
                self.table.heartbeat_sent(member.node_id, not isinstance(result, BaseException))
                if isinstance(result, FognetError | asyncio.CancelledError):  # gather's own
                    # cancellation raises; a cancelled send is a lost connection, not ours
                    log.debug("heartbeat to %s failed: %r", member.address, result)
                elif isinstance(result, BaseException):
                    raise result
            await asyncio.sleep(max(0.0, started + interval - self._clock()))

    async def leave(self) -> None:
        """Say BYE to every live peer (best effort, bounded by one interval)."""
        await asyncio.gather(
            *(self.transport.send(m.address, Header(Bye()), timeout_s=self.table.interval_s)
              for m in self.table.alive()),
            return_exceptions=True,
        )

    def _publish(self, events: list[MemberEvent]) -> None:
        for event in events:
            self._events_log.log(logging.INFO, "event", "peer %s %s (%s at %s)",
                                 event.member.node_id[:8], event.kind.value,
                                 event.member.name or "-", event.member.address)
            if event.kind is not EventKind.JOIN:
                self.transport.forget(event.member.address)
            self.events.put_nowait(event)
