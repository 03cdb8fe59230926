"""One matching round as one peer plays it: its agents driven over a transport.

The agents (`fognet.matching.agent`) decide; this module only carries their messages,
keeps time and handles failures. A round on one peer:

  open     agree on who plays through the round's leader, the first live roster peer by
           name (`opening.py`): every peer sends it ROUND_OPEN (my figures as worker
           and/or source, what I know of the roster and the sources), it calls every
           roster peer once, freezes once it knows all any live peer knows (up to
           `open_s`; the silent are dead) and sends every player the frozen roster with
           every player's figures. My view = those figures + only my own subtasks (no
           peer holds the global instance).
  phase 1  a source proposes each subtask down its list: PROPOSE is a request answered
           ACCEPT/REJECT; a bumped subtask's REJECT is a request to its source, acknowledged
           once it proposed further, and the PROPOSE that bumped it is answered after
           that. A source with no proposal unanswered sends PROPOSALS_DONE to the leader
           (again after each bump), which tells every worker once every live source is
           (PROPOSALS_DONE `everyone`). A worker ends phase 1 once every live source is done
           (after a death, also `settle_s` without a PROPOSE), or at `phase1_s`; then it
           sends HOSTED (what it holds) to every source that proposed to it and refuses
           later PROPOSEs (STALE_ROUND). A source waits for the HOSTED of every live worker
           it proposed to and keeps a subtask on a worker only if that worker lists it
           (else it goes home), so a cut that raced a message still leaves a valid matching.
  phase 2  each source sends the others its placement (HOSTED home: every subtask of
           mine and its site), so every source's ledger holds the whole matching; the
           first source of the ring takes the TURN. The Turn holder drops unasked a step
           it can tell the parties would refuse (`matching.round_rules.refused_unasked`:
           the game's own price, so it asks only the steps that will be approved) and asks
           the parties of the others at once (STEP_ASK -> STEP_VOTE; one initiator at a
           time, so no lock is contended); it then sends STEP_COMMIT one-way to the
           step's parties at once and to the other sources in one batch before it next
           asks them or passes the Turn, or STEP_ABORT one-way to the parties it locked.
           Commits are counted: STEP_ASK, TURN and ROUND_DONE say how many the receiver
           must have applied first (one from an earlier holder may still be on its way).
           TURN goes to the next live source (acknowledged at once). ROUND_DONE ends it.
  end      on ROUND_DONE, or at the deadline: then each source keeps its placement as of
           its last applied step (phase 1 not finished: every subtask at home), which is
           always a valid matching.

Failures: a request unanswered within `ask_timeout_s` makes the peer dead for the round
(`drop`): its worker role leaves every view, my subtasks on it are re-proposed (phase 1) or
go home (phase 2), a dead source leaves the ring, and PEER_GONE tells the others. A party
locked by a step whose initiator went silent unlocks after `lock_timeout_s`.

Here: the round's state, its course, failures and incoming messages. Phase 1's methods are
in `phase1.py`, phase 2's in `phase2.py` (mixed into `LiveRound`), the small parts
(Timing, Courier, checks) in `courier.py`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence

from fognet.errors import Refused, WireError
from fognet.matching import messages as m
from fognet.matching.agent import SourceAgent, WorkerAgent
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.net import wire
from fognet.net.base import Transport
from fognet.net.ratelog import RateLimitedLog
from fognet.net.wire import Header, Reason
from fognet.peer.match import wire_bodies
from fognet.peer.match.courier import Courier, Timing, figures_of, wait_event, without_worker
from fognet.peer.match.opening import OpeningPhase
from fognet.peer.match.phase1 import DRIVER, ProposalPhase
from fognet.peer.match.phase2 import StepPhase
from fognet.peer.match.round_values import RoundResult
from fognet.placement.instance import Figures, peer_of, worker_id

log = logging.getLogger(__name__)
warn = RateLimitedLog(log)  # lines that what arrives can cause

__all__ = ["DRIVER", "LiveRound", "Timing", "figures_of", "without_worker"]


class LiveRound(OpeningPhase, ProposalPhase, StepPhase):
    """This peer's part in round `number` (see the module docstring)."""

    def __init__(self, name: str, number: int, roster: Mapping[str, str], deadline: float,
                 figures: Figures, subtasks: Sequence[Subtask], transport: Transport,
                 timing: Timing, gather_s: float = 0.0, steps: bool = True) -> None:
        self.name, self.number, self.timing = name, number, timing
        self.steps = steps  # False: my source ends the game at its first Turn (greedy)
        self.roster = dict(roster)
        self.deadline = deadline  # event-loop time
        self._timeout: asyncio.Timeout | None = None  # play's, at `deadline` (opening.py may bring it in)
        self.figures, self.subtasks = figures, tuple(subtasks)
        self.courier = Courier(transport, self.roster, timing.ask_timeout_s)
        self.announced: dict[str, tuple[Figures, bool]] = {name: (figures, bool(subtasks))}
        self.known_sources: set[str] = {name} if subtasks else set()
        self._theirs: dict = {}  # peer -> the knowledge its last ROUND_OPEN carried
        self._adopted = False  # a frozen ROUND_OPEN set my knowledge
        self._announcing = False  # an announcement of grown knowledge is due
        self.gather_s = gather_s  # hold the round open this long (I opened it)
        self._hold_until = -math.inf  # no peer settles who plays before this (loop time)
        self._woken_at = -math.inf
        self._news = -math.inf  # when an announcement last told me something (opening.py)
        self._leader_heard = -math.inf  # when my leader last spoke (or I began waiting on it)
        self._unsent: set[str] = set()  # peers my last ROUND_OPEN could not be handed to
        self._called: set[str] = set()  # as the leader: peers my ROUND_OPEN went to
        self._late: dict[str, str] = {}  # peers told the round froze without them: address
        self._callers: set[str] = set()  # peers calling me as leaders (not mine): unanswered
        self._answered: dict[str, float] = {}  # when I last answered a peer's repeat
        self.frozen = False  # who plays is settled (my view is built or being built)
        self.left_out = False  # the round froze without my subtasks
        self.merged_into: int | None = None  # this round ended in a higher one (opening.py)
        self.spare: tuple[Subtask, ...] = ()  # those subtasks, for the next round
        self.view: Instance | None = None
        self.source: SourceAgent | None = None
        self.worker: WorkerAgent | None = None
        self.dead: set[str] = set()
        self.ready = asyncio.Event()  # view built: phase 1 is on
        self.phase2 = asyncio.Event()  # my source has reconciled phase 1
        self.over = asyncio.Event()
        self.ended = False  # the game ended by ROUND_DONE
        self.phase1: dict = {}
        self._changed = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._pending = 0  # my proposals awaiting an answer
        self._chains: set[asyncio.Task] = set()
        self._reported_done: set[str] = set()  # as the leader: sources that said they are
        self._everyone_done = False  # as a worker: the leader said every source is done
        self._told_done: str | None = None  # the leader my source last said it is done to
        self._hosted: dict[str, m.RoundDone] = {}
        self._homes: set[str] = set()  # sources whose subtasks at home my ledger has
        self._early_homes: dict[str, list[m.RoundDone]] = {}  # those before I reconciled
        self._told: dict[PeerId, dict] = {}  # source -> its subtasks, as its HOSTED home listed them
        self._proposed_to: set[str] = set()  # workers my source proposed to (their HOSTED)
        self._proposers: set[str] = set()  # sources that proposed to my worker (my HOSTED)
        self._bounds = None  # the game's step bounds on my ledger, once it holds everything
        self._refused_steps = None  # game.Refused on my ledger, with `_bounds`
        self._listed_hopeful = False  # my agent's current list is `_bounds.hopeful`
        self._turn_count = 0
        self.cut = asyncio.Event()  # my worker role ended phase 1
        self._settled = False  # my source role reconciled phase 1
        self._p1_end = math.inf
        self._last_propose = 0.0
        self._turns: deque[tuple[m.Turn, int]] = deque()  # with the commits made before it
        self._commits = 0  # STEP_COMMITs my source applied (every one of the game)
        self._inbox: deque[tuple[str, m.SwapCommit]] = deque()  # arrived, not yet applied
        self._ids: tuple[frozenset[str], frozenset[str]] | None = None  # (sites, sources)
        self._unsure = False  # a count of commits was not reached in time (phase2.py)
        self._touched: Counter[str] = Counter()  # of those, the ones touching each site
        self._worker_commits = 0  # STEP_COMMITs my worker applied (those touching it)
        self._later: dict[str, list[m.SwapCommit]] = {}  # commits for sources not party to
        # them, sent together before I next ask that source or pass the Turn (phase2.py)
        self._holder = name  # who holds the Turn, as far as phase-2 traffic tells
        self._drops = self._drops_at_turn = 0  # peers dropped: in all, as of my last turn
        self._last_activity = 0.0
        self._asked: dict[int, list[str]] = {}
        self._telling: list[asyncio.Task] = []  # PEER_GONE sends the next step must follow
        self._timers: list[asyncio.TimerHandle] = []
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._marks: dict[str, float] = {}  # RoundResult.opened_s and phase2_s, once reached

    # --- the round, start to end ------------------------------------------------------

    async def play(self) -> RoundResult:
        try:
            async with asyncio.timeout_at(self.deadline) as self._timeout, asyncio.TaskGroup() as tg:
                self._tg = tg
                try:
                    if await self._open() and self.known_sources:  # else: nothing to play
                        await self._phase1()
                        await self._phase2()
                finally:
                    self._tg = None  # no new tasks while the group winds down
        except TimeoutError:
            log.info("%s: round %d cut by its deadline", self.name, self.number)
        except Exception:  # noqa: BLE001 - a bug or a message no check caught: this round
            # ends with its last matching (as at its deadline); the peer goes on
            warn.error("round-failed", "%s: round %d failed; it keeps its last matching",
                       self.name, self.number, exc_info=True)
        finally:
            for timer in self._timers:
                timer.cancel()
            self.over.set()
            self._tg = self._timeout = None
            self.release_late()  # (none left if ROUND_DONE ended it)
        return self._result()

    async def _phase1(self) -> None:
        self._ids = (frozenset(w.id for w in self.view.workers) | frozenset(self.view.sources),
                     frozenset(self.view.sources))
        self._p1_end = self._loop.time() + self.timing.phase1_s
        self._last_propose = self._loop.time()
        self.ready.set()
        self._marks["opened_s"] = self._loop.time() - self._started
        cut = self._spawn(self._worker_cut()) if self.worker else None
        if self.source is not None:
            for out in self.source.start():
                self._spawn_chain(out)
            self._maybe_proposals_done()
        self._maybe_everyone_done()  # (what came before my view was built)
        if self.source is not None:
            await self._until(self._all_hosted, self._p1_end + self.timing.ask_timeout_s)
            for w in self._live_workers():
                if peer_of(w) in self._proposed_to and peer_of(w) not in self._hosted:
                    self.drop(peer_of(w))
            self._reconcile()
        if cut is not None:
            await cut
        self._phase2_on()

    def _phase2_on(self) -> None:
        """Phase 1 is over here: phase 2's commits can be applied (those that came early
        first, in the order they came)."""
        self.phase2.set()
        self._marks.setdefault("phase2_s", self._loop.time() - self._started)  # (the first)
        self._apply_commits()

    def _check(self, msg: m.Message | list[m.RoundDone]) -> None:
        """Refuse (MALFORMED) a message naming an id that does not play the round; before my
        view is built, the message is checked where it is used."""
        if self._ids is not None:
            wire_bodies.check_ids(msg, *self._ids)

    def _spawn(self, coro) -> asyncio.Task | None:
        """A task owned by the round's group; none once the round is winding down."""
        if self._tg is None:
            coro.close()
            return None
        return self._tg.create_task(coro)

    def _result(self) -> RoundResult:
        me = PeerId(self.name)
        assignment: dict = {}
        if self.subtasks:
            if self.source is not None and self.phase2.is_set():
                assignment = {
                    sid: (me if peer_of(site) in self.dead else site)
                    for sid, site in self.source.placement().items()
                }
            else:
                assignment = {s.id: me for s in self.subtasks}
        hosted = ()
        if self.worker is not None and self.cut.is_set():
            hosted = tuple(s for s in self.worker.hosted if s.source not in self.dead)
        return RoundResult(
            round=self.number, peer=self.name, assignment=dict(sorted(assignment.items())),
            phase1=dict(sorted(self.phase1.items())), hosted=hosted,
            sent=dict(sorted(self.courier.sent.items())), completed=self.ended,
            dead=tuple(sorted(self.dead)), elapsed_s=self._loop.time() - self._started,
            steps=self.source.steps if self.source else 0,
            commits=self.source.commits if self.source else 0,
            sources=() if self.merged_into is not None else
            tuple(sorted(self.known_sources - self.dead)),
            left_out=self.left_out, merged_into=self.merged_into, **self._marks,
        )

    # --- failures ----------------------------------------------------------------------------

    def drop(self, peer: str, tell: bool = True) -> None:
        """`peer` is dead for this round: every view and agent of mine forgets it."""
        if peer == self.name or peer in self.dead or peer not in self.roster:
            return
        log.info("%s: round %d goes on without %s", self.name, self.number, peer)
        self.dead.add(peer)
        self._later.pop(peer, None)
        self._drops += 1
        self._changed.set()
        if not self.frozen and peer == min(self.roster.keys() - self.dead | {peer}):
            self._announce_soon()  # my leader died: I tell the next one (or lead)
            self._leader_heard = self._loop.time()
        if tell:
            for other in sorted(self.roster.keys() - self.dead - {self.name}):
                task = self._spawn(self.courier.send(other, wire.PeerGone(self.number, peer)))
                if task is not None:
                    self._telling.append(task)
        if self.view is None:
            return
        wid = worker_id(peer)
        if any(w.id == wid for w in self.view.workers):
            self._drop_worker(wid)
        if self.source is not None and peer in self.source.ring:
            self.source.ring = tuple(p for p in self.source.ring if p != peer)
            self.source.forget_source(PeerId(peer))
        for agent in self._agents():
            if agent.lock is not None and peer_of(agent.lock[0]) == peer:
                agent.lock = None
        if self.worker is not None:
            self.worker.hosted = [s for s in self.worker.hosted if s.source != peer]
        if self._told_done == peer:  # my leader died: its successor hears I am done
            self._maybe_proposals_done()
        self._maybe_everyone_done()  # as the leader: a source gone may leave all done

    def _drop_worker(self, wid: PeerId) -> None:
        self.view = without_worker(self.view, wid)
        for agent in self._agents():
            agent.view = self.view
        if self.source is None:
            return
        held = self.source.forget_worker(wid)
        if not self._reconciled():
            for s in held:
                self.on_reject(m.Reject(wid, s.id, m.Reason.OUT_OF_REACH))
        else:
            for s in held:
                self.source.bring_home(s)

    def _live_workers(self) -> list[PeerId]:
        return [w.id for w in self.view.workers if peer_of(w.id) not in self.dead]

    # --- incoming ------------------------------------------------------------------------------

    async def handle(self, header: Header) -> wire.Body | None:
        """One incoming message of this round; the reply body, if the message wants one."""
        body, peer = header.body, header.sender
        if isinstance(body, wire.RoundOpen):  # a peer new to the round may announce itself
            if peer not in body.roster:
                raise Refused(f"ROUND_OPEN from {peer!r} must list it in its roster",
                              Reason.NOT_FOUND)
            self.on_round_open(peer, body)
            return None
        if peer not in self.roster:
            raise Refused(f"{peer!r} is not in round {self.number}'s roster", Reason.NOT_FOUND)
        if isinstance(body, wire.PeerGone):
            self.drop(body.peer, tell=False)
            return None
        if peer in self.dead:
            raise Refused(f"{peer} was dropped from round {self.number}", Reason.STALE_ROUND)
        if isinstance(body, wire.ProposalsDone):
            self.on_proposals_done(peer, body.everyone)
            return None
        if isinstance(body, wire.Hosted) and body.home:  # a source's placement
            placed = wire_bodies.placement_from_wire(peer, body)
            self._check(placed)
            self.on_home(peer, placed)
            return None
        if isinstance(body, wire.StepCommit):  # one-way: nothing to reply
            self._seen_holder(peer)
            commits = wire_bodies.commits_from_wire(peer, body)
            for commit in commits:
                self._check(commit)
                self._owned(commit)
            self._inbox.extend((peer, commit) for commit in commits)
            self._apply_commits()
            return None
        msg = wire_bodies.from_wire(peer, body)
        self._check(msg)
        if isinstance(msg, m.SwapAsk | m.SwapAbort | m.Turn):
            self._seen_holder(self.name if isinstance(msg, m.Turn) else peer)
        if isinstance(body, wire.StepAsk):
            vote = await self._ask_me(body.party, msg, body.commits)
            reply = wire_bodies.to_wire(self.number, vote)
        elif isinstance(body, wire.Turn):
            reply = self._turn_in(msg, body.commits)
        else:
            if isinstance(body, wire.RoundDone):  # the game's commits are applied first
                await self._until(lambda: self._caught_up(body.commits, body.worker_commits),
                                  self._loop.time() + self.timing.ask_timeout_s)
            reply = await self._answer(peer, msg)
        if reply is not None:
            self.courier.count(reply)
        return reply

    async def _answer(self, peer: str, msg: m.Message) -> wire.Body | None:
        n = self.number
        if isinstance(msg, m.Propose):
            await self._wait(self.ready)
            if self.view is None:  # BUSY: still opening (ask again); STALE: not playing
                why = m.Reason.STALE_ROUND if self.frozen else m.Reason.BUSY
                return wire_bodies.to_wire(n, m.Reject(worker_id(self.name), msg.subtask.id, why))
            self._check(msg)
            return wire_bodies.to_wire(n, await self.on_propose(msg))
        mine = {s.id for s in self.subtasks}
        if isinstance(msg, m.Reject):
            if msg.subtask not in mine:
                raise Refused(f"REJECT names {msg.subtask!r}, not a subtask of {self.name}",
                              Reason.NOT_FOUND)
            await self.on_bumped(msg)
            return wire.MatchAck(n)
        elif isinstance(msg, m.RoundDone) and msg.phase == 1:
            if bad := self.on_hosted(peer, msg):
                raise WireError(f"HOSTED from {peer!r}: {bad[0].id!r} is not a subtask "
                                f"{bad[0].source!r} has in round {n}")
        elif isinstance(msg, m.RoundDone):
            for agent in self._agents():
                agent.handle(msg)
            self.release_late()
            self.ended = True
            self.over.set()
            self._changed.set()
        elif isinstance(msg, m.SwapAbort):  # one-way; it never waits, so it is handled
            for agent in self._agents():    # before the next message from its sender
                agent.handle(msg)
        return None

    async def _ask_me(self, party: str, ask: m.SwapAsk, commits: int) -> m.SwapVote:
        if party == self.name and self.source is not None:
            ready, applied = self.phase2, lambda: self._commits
        elif party == worker_id(self.name) and self.worker is not None:
            ready, applied = self.cut, lambda: self._worker_commits
        else:
            raise Refused(f"{self.name} does not play {party!r} in round {self.number}",
                          Reason.NOT_FOUND)
        late = self._loop.time() + self.timing.ask_timeout_s / 2
        if not (await self._wait(ready) and await self._until(lambda: applied() >= commits, late)):
            return m.SwapVote(PeerId(party), ask.step, False, reason=m.Reason.BUSY)
        return self._vote(party, ask)

    async def _wait(self, event: asyncio.Event) -> bool:
        return await wait_event(event, self.timing.ask_timeout_s / 2)

    async def _until(self, condition: Callable[[], bool], until: float) -> bool:
        while not condition():
            left = until - self._loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            if condition():
                break
            await wait_event(self._changed, left)
        return True
