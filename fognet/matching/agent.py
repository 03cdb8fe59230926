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
speed, backlog, cap and quota, links, every source's own device and rate). A worker
keeps what it hosts and answers for its site (room under its cap and quota, reach); a
source keeps where its subtasks are and what every worker hosts (announced after phase 1,
then every commit), and prices only its own share of J (`steps.Ledger.delta`: its
tasks' latency under the stream cost model). A step's parties are its touched workers
and every source whose share it may change (`steps.affected`); the initiator adds the
sources' deltas and applies the rule (`steps.approved`). `play` runs the same rules on
the same numbers, so both reach the same matching.

The driver's duties (see `local_driver.py` for the in-memory one): deliver each Outgoing
to its `to` agent, in order per sender; when nothing is in flight after the sources'
proposals, send `RoundDone(phase=1)` to every worker; when nothing is in flight again,
send `Turn(idle=0)` to the first source of `ring`. The game is over when a source
broadcasts `RoundDone(phase=2)`. A peer maps "nothing in flight" to its round deadline.
Phase 2 is one initiator at a time (the Turn holder); parties lock while a step they
voted on is open and answer other asks with Reason.BUSY, so a concurrent driver stays
safe, only slower.

Every Turn holder tries every step that moves one of its subtasks (`steps.candidates`),
re-listing after each commit; the game ends when a full cycle of sources found none, so
the result is exchange-stable by construction. A driver whose agent knows every subtask
(the live shell) may hand it a shorter list (`lister`: the steps the game's bounds leave,
`bounds.StepBounds.hopeful`, in the same order) and a filter of the steps it can tell
will be refused (`skip`); every step either drops would have been refused, so the same
steps are approved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from fognet.matching.instance import Instance, PeerId, Subtask
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
from fognet.matching.steps import (
    Ledger,
    affected,
    approved,
    candidates,
    hold,
    hold_key,
    ranked_sites,
    worker_refuses,
)

_REASONS = {"stale": Reason.STALE_STEP, "out_of_reach": Reason.OUT_OF_REACH,
            "full": Reason.QUOTA_FULL}


@dataclass(frozen=True)
class Vote:
    ok: bool
    delta: float = 0.0  # a source's change of its share of J (0 from a worker)
    by_source: tuple[tuple[PeerId, float], ...] = ()  # ((source, delta),) from a source
    reason: Reason | None = None


def worker_vote(view: Instance, site: PeerId, hosted: Sequence[Subtask],
                changes: Sequence[Change]) -> Vote:
    """A worker's answer to a step on its site: room under its cap and quota, and reach."""
    why = worker_refuses(view, site, hosted, changes)
    return Vote(True) if why is None else Vote(False, reason=_REASONS[why])


class WorkerAgent:
    """A worker: holds the least-load proposals that fit, answers for its own site."""

    def __init__(self, view: Instance, me: PeerId) -> None:
        self.view, self.id = view, me
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
            hosted = tuple(sorted(self.hosted, key=lambda s: hold_key(self.view, s)))
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
        self.hosted, rejected = hold(self.view, self.id, [*self.hosted, s])
        if s in rejected:
            out = [Outgoing(s.source, Reject(self.id, s.id, Reason.QUOTA_FULL))]
        else:
            out = [Outgoing(s.source, Accept(self.id, s.id))]
        return out + [Outgoing(r.source, Reject(self.id, r.id, Reason.WORSE_THAN_HELD))
                      for r in rejected if r is not s]

    def _ask(self, msg: SwapAsk) -> SwapVote:
        if self.lock is not None and self.lock != (msg.sender, msg.step):
            return SwapVote(self.id, msg.step, False, reason=Reason.BUSY)
        vote = worker_vote(self.view, self.id, self.hosted, msg.changes)
        if vote.ok:
            self.lock = (msg.sender, msg.step)
        return SwapVote(self.id, msg.step, vote.ok, vote.delta, vote.by_source, vote.reason)

    def _commit(self, changes: Sequence[Change]) -> None:
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
    votes: list[tuple[PeerId, Vote]]
    asked: tuple[PeerId, ...] = ()  # the parties asked (they lock until commit or abort)


class SourceAgent:
    """A source: proposes its subtasks, prices its own share of J, and initiates steps."""

    def __init__(self, view: Instance, me: PeerId, ring: Sequence[PeerId],
                 rule: str | None = None) -> None:
        self.ledger = Ledger(view)  # my subtasks (tentative in phase 1) and every worker's
        self.view, self.id, self.rule = view, me, rule or view.rule
        self.ring = tuple(ring)
        self.own = sorted((s for s in view.subtasks if s.source == me), key=lambda s: s.id)
        self.prefs = {s.id: ranked_sites(view, s) for s in self.own}
        self.tried = {s.id: 0 for s in self.own}
        self.done = False
        self.steps = 0
        self.commits = 0
        self.lock: tuple[PeerId, int] | None = None
        self._todo: Iterator[tuple[str, tuple[Change, ...]]] = iter(())
        self._open: _Open | None = None
        self._idle_in = 0
        self._changed = False
        # a driver that can tell a step will be refused (it knows every subtask: the live
        # shell) skips it before my own share is priced; the same steps are approved
        self.skip: Callable[[str, tuple[Change, ...]], bool] | None = None
        # ... and may list the steps itself, read lazily (None from it: every candidate):
        # only those `candidates` lists that the game's bounds leave, in its order, so
        # the Turn holder walks what `play` walks instead of listing every candidate
        self.lister: Callable[[], Iterable[tuple[str, tuple[Change, ...]]] | None] | None = None

    @property
    def view(self) -> Instance:
        return self.ledger.inst

    @view.setter
    def view(self, view: Instance) -> None:
        self.ledger.rebase(view)

    def placement(self) -> dict:
        return {s.id: self.ledger.site_of[s.id] for s in self.own if s.id in self.ledger.site_of}

    def site_of(self, sid: str) -> PeerId | None:
        """Where my subtask is (tentatively, in phase 1)."""
        return self.ledger.site_of.get(sid)

    def bring_home(self, s: Subtask) -> None:
        """My subtask runs on my own device (its worker did not confirm it, or died)."""
        self.ledger.place(s, self.id)

    def forget_source(self, peer: PeerId) -> None:
        """A dead source: its subtasks are gone from every site I know of."""
        for s in list(self.ledger.mine.get(peer, {}).values()):
            self.ledger.forget(s)

    def forget_worker(self, wid: PeerId) -> list[Subtask]:
        """A dead worker: forget what it hosted; my subtasks it had are returned (still
        recorded there) for the caller to re-propose or bring home."""
        mine = [s for s in self.ledger.hosted(wid) if s.source == self.id]
        for s in self.ledger.hosted(wid):
            if s.source != self.id:
                self.ledger.forget(s)
        return sorted(mine, key=lambda s: s.id)

    def expire(self) -> list[Outgoing]:
        """The open step's votes did not all come in time: drop it and go on (the driver
        calls this on its timeout; time is never read here)."""
        if self._open is None:
            return []
        self._open.votes.append((self.id, Vote(False, reason=Reason.BUSY)))
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

    def _propose_next(self, s: Subtask) -> list[Outgoing]:
        site = self.prefs[s.id][self.tried[s.id]]
        self.tried[s.id] += 1
        self.ledger.place(s, site)
        return [] if site == self.id else [Outgoing(site, Propose(self.id, s))]

    def start(self) -> list[Outgoing]:
        return [out for s in self.own for out in self._propose_next(s)]

    # --- messages ----------------------------------------------------------------------

    def handle(self, msg: Message) -> list[Outgoing]:
        if isinstance(msg, Reject):
            s = next(s for s in self.own if s.id == msg.subtask)
            return self._propose_next(s) if self.ledger.site_of.get(s.id) == msg.sender else []
        if isinstance(msg, RoundDone):
            if msg.phase == 2:
                self.done = True
            else:
                for s in msg.hosted:
                    if s.source != self.id:
                        self.ledger.place(s, msg.sender)
            return []
        if isinstance(msg, Turn):
            return self._turn(msg.idle)
        if isinstance(msg, SwapAsk):
            return [Outgoing(msg.sender, self._ask(msg))]
        if isinstance(msg, SwapVote):
            return self._vote(msg)
        if isinstance(msg, SwapCommit):
            self.ledger.apply(msg.changes)
            if self.lock == (msg.sender, msg.step):
                self.lock = None
        elif isinstance(msg, SwapAbort) and self.lock == (msg.sender, msg.step):
            self.lock = None
        return []  # Accept: the placement is already recorded

    # --- my own share, as a party ------------------------------------------------------

    def _my_vote(self, changes: tuple[Change, ...]) -> Vote:
        sites = {p for c in changes for p in (c.frm, c.to)}
        if any(p not in self.view._workers and p not in self.view._local for p in sites):
            return Vote(False, reason=Reason.STALE_STEP)  # a site that left the game
        for c in changes:
            if c.subtask.source == self.id and self.ledger.site_of.get(c.subtask.id) != c.frm:
                return Vote(False, reason=Reason.STALE_STEP)
            if c.to == self.id and c.subtask.source != self.id:
                return Vote(False, reason=Reason.NOT_YOURS)
        delta = self.ledger.delta(self.id, changes)
        return Vote(True, delta, ((self.id, delta),))

    def _ask(self, msg: SwapAsk) -> SwapVote:
        if self.lock is not None and self.lock != (msg.sender, msg.step):
            return SwapVote(self.id, msg.step, False, reason=Reason.BUSY)
        vote = self._my_vote(msg.changes)
        if vote.ok:
            self.lock = (msg.sender, msg.step)
        return SwapVote(self.id, msg.step, vote.ok, vote.delta, vote.by_source, vote.reason)

    # --- phase 2, as the initiator -----------------------------------------------------

    def _turn(self, idle: int) -> list[Outgoing]:
        if idle >= len(self.ring):
            everyone = [w.id for w in self.view.workers] + list(self.ring)
            self.done = True
            return [Outgoing(p, RoundDone(self.id, 2)) for p in everyone if p != self.id]
        self._idle_in, self._changed = idle, False
        self._relist()
        return self._ask_next()

    def _relist(self) -> None:
        listed = self.lister() if self.lister is not None else None
        self._todo = iter(candidates(self.view, self.id, self.ledger) if listed is None else listed)

    def _parties(self, changes: tuple[Change, ...]) -> list[PeerId]:
        workers = {p for c in changes for p in (c.frm, c.to) if p in self.view._workers}
        return sorted(workers | set(affected(self.view, self.ledger, changes)))

    def _ask_next(self) -> list[Outgoing]:
        for kind, changes in self._todo:
            if self.skip is not None and self.skip(kind, changes):
                continue
            mine = self._my_vote(changes)
            if not mine.ok:
                continue
            self.steps += 1
            others = [p for p in self._parties(changes) if p != self.id]
            self._open = _Open(self.steps, kind, changes, set(others), [(self.id, mine)],
                               tuple(others))
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
        op.votes.append((msg.sender, Vote(msg.ok, msg.delta, msg.by_source, msg.reason)))
        return self._decide() if not op.waiting else []

    def _approved(self, op: _Open) -> bool:
        if not all(v.ok for _, v in op.votes):
            return False
        deltas = [(src, d) for _, v in op.votes for src, d in v.by_source]
        return approved(deltas, [c.subtask.source for c in op.changes], self.rule)

    def _decide(self) -> list[Outgoing]:
        op, self._open = self._open, None
        if not self._approved(op):
            return [Outgoing(p, SwapAbort(self.id, op.step)) for p in op.asked] + self._ask_next()
        self.commits += 1
        self._changed = True
        self.ledger.apply(op.changes)
        commit = SwapCommit(self.id, op.step, op.kind, op.changes)
        everyone = [w.id for w in self.view.workers] + list(self.ring)
        out = [Outgoing(p, commit) for p in everyone if p != self.id]
        self._relist()
        return out + self._ask_next()
