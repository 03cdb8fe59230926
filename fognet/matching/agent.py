"""DINA-O as per-party state machines without I/O: messages in, messages out.

API (what `fognet/peer/` and `sim/` drive):

    agent = SourceAgent(view, me, ring)   # one per source peer: its own subtasks
    agent = WorkerAgent(view, me)         # one per worker peer
    outgoing = agent.start()              # list[Outgoing(to, message)] to send first
    outgoing = agent.handle(message)      # feed every message addressed to this peer
    agent.done                            # True once RoundDone(phase=2) was seen
    agent.forget(peer)                    # peer is dead: drop its locks (and its vote)
    source.expire()                       # the open step timed out: abort it, go on
    source.placement()                    # {subtask id: site} of its own subtasks

`view` is an `Instance`: the public state every peer knows from heartbeats (workers'
speed, backlog and quota, links, every source's own device). A party keeps private only
what it holds (a worker its hosted subtasks, a source where its subtasks are) and prices
only its own sites with `cost.site_latencies`: a worker the change in its hosted
subtasks' latencies, a source the change on its own device. The step's initiator adds
the answers and applies the rule (welfare: the total must strictly fall; fair: also no
moving source's own subtasks may get slower in total).

The driver's duties (see `local_driver.py` for the in-memory one): deliver each Outgoing
to its `to` agent, in order per sender; when nothing is in flight after the sources'
proposals, send `RoundDone(phase=1)` to every worker; when nothing is in flight again,
send `Turn(idle=0)` to the first source of `ring`. The game is over when a source
broadcasts `RoundDone(phase=2)`. A peer maps "nothing in flight" to its round deadline.
Phase 2 is one initiator at a time (the Turn holder); parties lock while a step they
voted on is open and answer other asks with Reason.BUSY, so a concurrent driver stays
safe, only slower.

Every Turn holder tries every step that moves one of its subtasks (moves, swaps, and
displacements it would take), re-listing after each commit; the game ends when a full
cycle of sources found none, so the result is exchange-stable by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fognet.matching.cost import EPS, allowed, is_worker, order_key, site_latencies, standalone
from fognet.matching.instance import Instance, PeerId, Subtask, SubtaskId
from fognet.matching.messages import (
    Accept,
    Change,
    Message,
    Outgoing,
    Propose,
    Reason,
    Reject,
    RoundDone,
    SwapAbort,
    SwapAsk,
    SwapCommit,
    SwapVote,
    Turn,
)


@dataclass(frozen=True)
class Vote:
    ok: bool
    delta: float = 0.0
    by_source: tuple[tuple[PeerId, float], ...] = ()
    reason: Reason | None = None


def site_vote(view: Instance, site: PeerId, before: Sequence[Subtask],
              changes: Iterable[Change]) -> Vote:
    """What a step does to one site's hosted subtasks (the owner's own computation)."""
    changes = list(changes)
    ids = {s.id for s in before}
    leaving = {c.subtask.id for c in changes if c.frm == site}
    arriving = [c.subtask for c in changes if c.to == site]
    if not leaving <= ids or any(s.id in ids for s in arriving):
        return Vote(False, reason=Reason.STALE_STEP)
    for s in arriving:
        if not allowed(view, s, site):
            return Vote(False, reason=Reason.OUT_OF_REACH if is_worker(view, site) else Reason.NOT_YOURS)
    after = [s for s in before if s.id not in leaving] + arriving
    if is_worker(view, site) and len(after) > max(len(before), view.worker(site).quota):
        return Vote(False, reason=Reason.QUOTA_FULL)
    old = site_latencies(view, site, before)
    new = site_latencies(view, site, after)
    source_of = {s.id: s.source for s in [*before, *arriving]}
    by: dict[PeerId, float] = {}
    for sid, f in new.items():
        by[source_of[sid]] = by.get(source_of[sid], 0.0) + f
    for sid, f in old.items():
        by[source_of[sid]] = by.get(source_of[sid], 0.0) - f
    return Vote(True, sum(new.values()) - sum(old.values()), tuple(sorted(by.items())))


class WorkerAgent:
    """A worker: holds the least-work proposals up to its quota, votes on its own site."""

    def __init__(self, view: Instance, me: PeerId) -> None:
        self.view, self.id = view, me
        self.quota = view.worker(me).quota
        self.hosted: list[Subtask] = []
        self.lock: tuple[PeerId, int] | None = None
        self.done = False

    def start(self) -> list[Outgoing]:
        return []

    def handle(self, msg: Message) -> list[Outgoing]:
        if isinstance(msg, Propose):
            return self._propose(msg)
        if isinstance(msg, RoundDone):
            if msg.phase == 2:
                self.done = True
                return []
            hosted = tuple(sorted(self.hosted, key=order_key))
            return [Outgoing(src, RoundDone(self.id, 1, hosted)) for src in self.view.sources]
        if isinstance(msg, SwapAsk):
            return [Outgoing(msg.sender, self._ask(msg))]
        if isinstance(msg, SwapCommit):
            self._commit(msg.changes)
            if self.lock == (msg.sender, msg.step):
                self.lock = None
        elif isinstance(msg, SwapAbort) and self.lock == (msg.sender, msg.step):
            self.lock = None
        return []

    def forget(self, peer: PeerId) -> list[Outgoing]:
        """`peer` is dead (missed heartbeats): release a lock it holds on us."""
        if self.lock is not None and self.lock[0] == peer:
            self.lock = None
        return []

    def _propose(self, msg: Propose) -> list[Outgoing]:
        s = msg.subtask
        if self.view.link(s.source, self.id) is None:
            return [Outgoing(s.source, Reject(self.id, s.id, Reason.OUT_OF_REACH))]
        self.hosted = sorted([*self.hosted, s], key=order_key)
        if len(self.hosted) <= self.quota:
            return [Outgoing(s.source, Accept(self.id, s.id))]
        bumped = self.hosted.pop()
        if bumped is s:
            return [Outgoing(s.source, Reject(self.id, s.id, Reason.QUOTA_FULL))]
        return [
            Outgoing(s.source, Accept(self.id, s.id)),
            Outgoing(bumped.source, Reject(self.id, bumped.id, Reason.WORSE_THAN_HELD)),
        ]

    def _ask(self, msg: SwapAsk) -> SwapVote:
        if self.lock is not None and self.lock != (msg.sender, msg.step):
            return SwapVote(self.id, msg.step, False, reason=Reason.BUSY)
        vote = site_vote(self.view, self.id, self.hosted, msg.changes)
        if vote.ok:
            self.lock = (msg.sender, msg.step)
        return SwapVote(self.id, msg.step, vote.ok, vote.delta, vote.by_source, vote.reason)

    def _commit(self, changes: Iterable[Change]) -> None:
        for c in changes:
            if c.frm == self.id:
                self.hosted = [s for s in self.hosted if s.id != c.subtask.id]
        for c in changes:
            if c.to == self.id:
                self.hosted.append(c.subtask)


@dataclass
class _Open:
    """The step a Turn holder is waiting on."""

    step: int
    kind: str
    changes: tuple[Change, ...]
    waiting: set[PeerId]
    votes: list[Vote]


class SourceAgent:
    """A source: proposes its subtasks, owns its device's site, and initiates steps."""

    def __init__(self, view: Instance, me: PeerId, ring: Sequence[PeerId],
                 rule: str | None = None) -> None:
        self.view, self.id, self.rule = view, me, rule or view.rule
        self.ring = tuple(ring)
        self.own = sorted((s for s in view.subtasks if s.source == me), key=lambda s: s.id)
        self.where: dict[SubtaskId, PeerId] = {}  # my subtasks (tentative in phase 1)
        self.seen: dict[SubtaskId, tuple[Subtask, PeerId]] = {}  # worker-hosted, any source
        self.prefs = {s.id: self._ranked(s) for s in self.own}
        self.tried = {s.id: 0 for s in self.own}
        self.done = False
        self.steps = 0
        self.commits = 0
        self.lock: tuple[PeerId, int] | None = None
        self._todo: list[tuple[str, tuple[Change, ...]]] = []
        self._open: _Open | None = None
        self._idle_in = 0
        self._changed = False

    def placement(self) -> dict[SubtaskId, PeerId]:
        return dict(self.where)

    def expire(self) -> list[Outgoing]:
        """The open step's votes did not all come in time: drop it and go on (the driver
        calls this on its timeout; time is never read here)."""
        if self._open is None:
            return []
        self._open.votes.append(Vote(False, reason=Reason.BUSY))
        self._open.waiting.clear()
        return self._decide()

    def forget(self, peer: PeerId) -> list[Outgoing]:
        """`peer` is dead: release its lock on us, and stop waiting for its vote."""
        if self.lock is not None and self.lock[0] == peer:
            self.lock = None
        if self._open is not None and peer in self._open.waiting:
            return self.expire()
        return []

    # --- phase 1 -----------------------------------------------------------------------

    def _ranked(self, s: Subtask) -> list[PeerId]:
        sites = [w.id for w in self.view.workers] + [self.id]
        options = [(standalone(self.view, s, p), k, p) for k, p in enumerate(sites)]
        ranked = [p for f, _, p in sorted(options) if f != float("inf")]
        return ranked[: ranked.index(self.id) + 1]

    def _propose_next(self, s: Subtask) -> list[Outgoing]:
        site = self.prefs[s.id][self.tried[s.id]]
        self.tried[s.id] += 1
        self.where[s.id] = site
        return [] if site == self.id else [Outgoing(site, Propose(self.id, s))]

    def start(self) -> list[Outgoing]:
        return [out for s in self.own for out in self._propose_next(s)]

    # --- messages ----------------------------------------------------------------------

    def handle(self, msg: Message) -> list[Outgoing]:
        if isinstance(msg, Reject):
            s = next(s for s in self.own if s.id == msg.subtask)
            return self._propose_next(s) if self.where.get(s.id) == msg.sender else []
        if isinstance(msg, RoundDone):
            if msg.phase == 2:
                self.done = True
            else:
                for s in msg.hosted:
                    self.seen[s.id] = (s, msg.sender)
            return []
        if isinstance(msg, Turn):
            return self._turn(msg.idle)
        if isinstance(msg, SwapAsk):
            return [Outgoing(msg.sender, self._ask(msg))]
        if isinstance(msg, SwapVote):
            return self._vote(msg)
        if isinstance(msg, SwapCommit):
            self._apply(msg.changes)
            if self.lock == (msg.sender, msg.step):
                self.lock = None
        elif isinstance(msg, SwapAbort) and self.lock == (msg.sender, msg.step):
            self.lock = None
        return []  # Accept: the placement is already recorded

    # --- my own site, as a party -------------------------------------------------------

    def _home(self) -> list[Subtask]:
        return [s for s in self.own if self.where[s.id] == self.id]

    def _my_vote(self, changes: tuple[Change, ...]) -> Vote:
        for c in changes:
            if c.subtask.source == self.id and self.where.get(c.subtask.id) != c.frm:
                return Vote(False, reason=Reason.STALE_STEP)
        if not any(self.id in (c.frm, c.to) for c in changes):
            return Vote(True)  # only my subtask's consent was asked; its sites answer
        return site_vote(self.view, self.id, self._home(), changes)

    def _ask(self, msg: SwapAsk) -> SwapVote:
        if self.lock is not None and self.lock != (msg.sender, msg.step):
            return SwapVote(self.id, msg.step, False, reason=Reason.BUSY)
        vote = self._my_vote(msg.changes)
        if vote.ok:
            self.lock = (msg.sender, msg.step)
        return SwapVote(self.id, msg.step, vote.ok, vote.delta, vote.by_source, vote.reason)

    def _apply(self, changes: Iterable[Change]) -> None:
        for c in changes:
            if c.subtask.source == self.id:
                self.where[c.subtask.id] = c.to
            if is_worker(self.view, c.to):
                self.seen[c.subtask.id] = (c.subtask, c.to)
            else:
                self.seen.pop(c.subtask.id, None)

    # --- phase 2, as the initiator -----------------------------------------------------

    def _turn(self, idle: int) -> list[Outgoing]:
        if idle >= len(self.ring):
            everyone = [w.id for w in self.view.workers] + list(self.ring)
            self.done = True
            return [Outgoing(p, RoundDone(self.id, 2)) for p in everyone if p != self.id]
        self._idle_in, self._changed = idle, False
        self._todo = self._candidates()
        return self._ask_next()

    def _placed(self) -> dict[SubtaskId, tuple[Subtask, PeerId]]:
        view = dict(self.seen)
        for s in self.own:
            view[s.id] = (s, self.where[s.id])
        return view

    def _candidates(self) -> list[tuple[str, tuple[Change, ...]]]:
        """Every step that moves one of my subtasks (displacements: mine takes the slot)."""
        placed = self._placed()
        load: dict[PeerId, int] = {}
        for _, p in placed.values():
            load[p] = load.get(p, 0) + 1
        others = sorted(placed.values(), key=lambda sp: (sp[0].source, sp[0].id))
        out = []
        for x in self.own:
            a = self.where[x.id]
            for w in self.view.workers:
                if w.id != a and load.get(w.id, 0) < w.quota and allowed(self.view, x, w.id):
                    out.append(("move", (Change(x, a, w.id),)))
            if a != self.id:
                out.append(("move", (Change(x, a, self.id),)))
            for y, b in others:
                if y.id == x.id or b == a:
                    continue
                if allowed(self.view, x, b) and allowed(self.view, y, a):
                    out.append(("swap", (Change(x, a, b), Change(y, b, a))))
                if is_worker(self.view, b) and a != y.source and allowed(self.view, x, b):
                    out.append(("displace", (Change(x, a, b), Change(y, b, y.source))))
        out.reverse()  # popped from the end
        return out

    def _parties(self, changes: tuple[Change, ...]) -> list[PeerId]:
        parties = {c.frm for c in changes} | {c.to for c in changes}
        parties |= {c.subtask.source for c in changes}
        return sorted(parties)

    def _ask_next(self) -> list[Outgoing]:
        while self._todo:
            kind, changes = self._todo.pop()
            mine = self._my_vote(changes)
            if not mine.ok:
                continue
            self.steps += 1
            others = [p for p in self._parties(changes) if p != self.id]
            self._open = _Open(self.steps, kind, changes, set(others), [mine])
            if not others:
                return self._decide()
            ask = SwapAsk(self.id, self.steps, kind, changes)
            return [Outgoing(p, ask) for p in others]
        nxt = self.ring[(self.ring.index(self.id) + 1) % len(self.ring)]
        idle = 1 if self._changed else self._idle_in + 1
        return self.handle(Turn(self.id, idle)) if nxt == self.id else [
            Outgoing(nxt, Turn(self.id, idle))
        ]

    def _vote(self, msg: SwapVote) -> list[Outgoing]:
        op = self._open
        if op is None or msg.step != op.step or msg.sender not in op.waiting:
            return []
        op.waiting.discard(msg.sender)
        op.votes.append(Vote(msg.ok, msg.delta, msg.by_source, msg.reason))
        return self._decide() if not op.waiting else []

    def _approved(self, op: _Open) -> bool:
        if not all(v.ok for v in op.votes):
            return False
        if sum(v.delta for v in op.votes) >= -EPS:
            return False
        if self.rule != "fair":
            return True
        movers = {c.subtask.source for c in op.changes}
        totals = dict.fromkeys(movers, 0.0)
        for v in op.votes:
            for src, d in v.by_source:
                if src in totals:
                    totals[src] += d
        return all(d <= EPS for d in totals.values())

    def _decide(self) -> list[Outgoing]:
        op, self._open = self._open, None
        asked = [p for p in self._parties(op.changes) if p != self.id]
        if not self._approved(op):
            return [Outgoing(p, SwapAbort(self.id, op.step)) for p in asked] + self._ask_next()
        self.commits += 1
        self._changed = True
        self._apply(op.changes)
        commit = SwapCommit(self.id, op.step, op.kind, op.changes)
        everyone = [w.id for w in self.view.workers] + list(self.ring)
        out = [Outgoing(p, commit) for p in everyone if p != self.id]
        self._todo = self._candidates()
        return out + self._ask_next()
