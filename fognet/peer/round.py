"""One matching round as one peer plays it: its agents driven over a transport.

The agents (`fognet.matching.agent`) decide; this module only carries their messages,
keeps time and handles failures. A round on one peer:

  open     send ROUND_OPEN (my figures as worker and/or source) to the roster; wait for
           everyone's (up to `open_s`; the silent are dead). My view = every announced
           figure + only my own subtasks (no peer holds the global instance).
  phase 1  a source proposes each subtask down its list: PROPOSE is a request answered
           ACCEPT/REJECT; a bumped subtask's REJECT goes one-way to its source, which
           proposes further. A source with no proposal unanswered sends PROPOSALS_DONE to
           the workers (again after each bump). A worker ends phase 1 once every live
           source is done and `settle_s` passed without a PROPOSE, or at `phase1_s`;
           then it sends HOSTED (what it holds) to every source and refuses later
           PROPOSEs (STALE_ROUND). A source waits for every live worker's HOSTED and keeps
           a subtask on a worker only if that worker lists it (else it goes home), so a
           cut that raced a message still leaves a valid matching.
  phase 2  the first source of the ring takes the TURN. The Turn holder asks each party
           of a step (STEP_ASK -> STEP_VOTE) one by one in id order, so locks are taken
           in id order; a refusal stops the asking and the step is refused; it then sends
           STEP_COMMIT (to everyone) or SWAP_ABORT (to whom it asked) as requests
           acknowledged by MATCH_ACK, so the next step starts on applied state. TURN goes
           to the next live source (acknowledged at once). ROUND_DONE ends the game.
  end      on ROUND_DONE, or at the deadline: then each source keeps its placement as of
           its last applied step (phase 1 not finished: every subtask at home), which is
           always a valid matching.

Failures: a request unanswered within `ask_timeout_s` makes the peer dead for the round
(`drop`): its worker role leaves every view, my subtasks on it are re-proposed (phase 1) or
go home (phase 2), a dead source leaves the ring, and PEER_GONE tells the others. A party
locked by a step whose initiator went silent unlocks after `lock_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fognet.errors import FognetError
from fognet.matching import messages as m
from fognet.matching.agent import SourceAgent, WorkerAgent
from fognet.matching.instance import RULES, Instance, PeerId, Subtask
from fognet.net import wire
from fognet.net.base import RemoteError, Transport
from fognet.net.codec import refused
from fognet.net.wire import Header, Reason
from fognet.peer import matchwire
from fognet.peer.rounds import (
    Figures,
    LinkFigure,
    RoundResult,
    peer_of,
    view_instance,
    worker_id,
)

log = logging.getLogger(__name__)

DRIVER = PeerId("round")  # sender of the phase signals a peer gives its own agents


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

    async def send(self, peer: str, body: wire.Body) -> bool:
        """One-way, best effort: False if it could not be handed over in time."""
        self.count(body)
        try:
            await self.transport.send(self.addresses[peer], Header(body), timeout_s=self.timeout_s)
        except FognetError as exc:
            log.debug("%s to %s failed: %s", body.TYPE.value, peer, exc)
            return False
        return True


def figures_of(body: wire.RoundOpen) -> tuple[Figures, bool]:
    """A ROUND_OPEN's figures, refused (MALFORMED) unless the game can use them."""
    for name in ("speed", "local_speed"):
        value = getattr(body, name)
        if not (math.isfinite(value) and value > 0):
            raise refused(f"ROUND_OPEN {name}: must be positive and finite, got {value!r}")
    for name in ("backlog_ref_s", "local_backlog_ref_s"):
        if not (math.isfinite(getattr(body, name)) and getattr(body, name) >= 0):
            raise refused(f"ROUND_OPEN {name}: must be >= 0 and finite")
    if body.quota < 0:
        raise refused(f"ROUND_OPEN quota: must be >= 0, got {body.quota}")
    if body.rule not in RULES:
        raise refused(f"ROUND_OPEN rule: {body.rule!r} is not one of {', '.join(RULES)}")
    if len(set(body.link_peers)) != len(body.link_peers):
        raise refused("ROUND_OPEN link_peers: a peer is listed twice")
    for bw, lat in zip(body.link_Bps, body.link_latency_s, strict=True):
        if not (math.isfinite(bw) and bw > 0 and math.isfinite(lat) and lat >= 0):
            raise refused("ROUND_OPEN links: bandwidth must be > 0 and latency >= 0, finite")
    links = tuple(
        LinkFigure(*row)
        for row in zip(body.link_peers, body.link_Bps, body.link_latency_s, strict=True)
    )
    figures = Figures(body.quota, body.speed, body.backlog_ref_s, body.local_speed,
                      body.local_backlog_ref_s, links, body.rule)
    return figures, body.source


def _still_wanted() -> None:
    """Raise CancelledError if this task was asked to stop but a wait swallowed it (Python
    3.11's `asyncio.wait_for`, which the transports use, can do that)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for `event` up to `timeout_s`. Not `wait_for`: on Python 3.11 it can swallow a
    cancellation that races the wait, and a peer being stopped must stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()


def without_worker(view: Instance, wid: str) -> Instance:
    return Instance(
        workers=tuple(w for w in view.workers if w.id != wid),
        links=tuple(lk for lk in view.links if wid not in (lk.a, lk.b)),
        subtasks=view.subtasks, local=view.local, default_link=view.default_link,
        rule=view.rule,
    )


class LiveRound:
    """This peer's part in round `number` (see the module docstring)."""

    def __init__(self, name: str, number: int, roster: Mapping[str, str], deadline: float,
                 figures: Figures, subtasks: Sequence[Subtask], transport: Transport,
                 timing: Timing) -> None:
        self.name, self.number, self.timing = name, number, timing
        self.roster = dict(roster)
        self.deadline = deadline  # event-loop time
        self.figures, self.subtasks = figures, tuple(subtasks)
        self.courier = Courier(transport, self.roster, timing.ask_timeout_s)
        self.announced: dict[str, tuple[Figures, bool]] = {name: (figures, bool(subtasks))}
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
        self._done_sources: set[str] = set()
        self._hosted: dict[str, m.RoundDone] = {}
        self._cut = False  # my worker role ended phase 1
        self.cut = asyncio.Event()
        self._settled = False  # my source role reconciled phase 1
        self._p1_end = math.inf
        self._last_propose = 0.0
        self._turns: deque[m.Turn] = deque()
        self._holder = name  # who holds the Turn, as far as phase-2 traffic tells
        self._last_activity = 0.0
        self._asked: dict[int, list[str]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()

    # --- the round, start to end ------------------------------------------------------

    async def play(self) -> RoundResult:
        try:
            async with asyncio.timeout_at(self.deadline), asyncio.TaskGroup() as tg:
                self._tg = tg
                try:
                    await self._open()
                    await self._phase1()
                    await self._phase2()
                finally:
                    self._tg = None  # no new tasks while the group winds down
        except TimeoutError:
            log.info("%s: round %d cut by its deadline", self.name, self.number)
        finally:
            for timer in self._timers:
                timer.cancel()
            self.over.set()
            self._tg = None
        return self._result()

    async def _open(self) -> None:
        body = self._open_body()
        others = [p for p in self.roster if p != self.name]
        await asyncio.gather(*(self.courier.send(p, body) for p in others))
        await self._until(lambda: self.roster.keys() <= self.announced.keys(),
                          self._loop.time() + self.timing.open_s)
        self.dead |= self.roster.keys() - self.announced.keys()
        live = {p: a for p, a in self.announced.items() if p not in self.dead}
        rules = [f.rule for p, (f, src) in sorted(live.items()) if src]
        self.view = view_instance(live, self.subtasks, rules[0] if rules else self.figures.rule)
        if self.subtasks:
            self.source = SourceAgent(self.view, PeerId(self.name), self.view.sources)
        if self.figures.quota > 0:
            self.worker = WorkerAgent(self.view, worker_id(self.name))

    def _open_body(self) -> wire.RoundOpen:
        f = self.figures
        return wire.RoundOpen(
            round=self.number, budget_s=max(0.0, self.deadline - self._loop.time()),
            roster=tuple(self.roster), addresses=tuple(self.roster.values()), rule=f.rule,
            quota=f.quota, speed=f.speed, backlog_ref_s=f.backlog_ref_s,
            source=bool(self.subtasks), local_speed=f.local_speed,
            local_backlog_ref_s=f.local_backlog_ref_s,
            link_peers=tuple(lk.peer for lk in f.links),
            link_Bps=tuple(lk.bandwidth_Bps for lk in f.links),
            link_latency_s=tuple(lk.latency_s for lk in f.links),
        )

    async def _phase1(self) -> None:
        self._p1_end = self._loop.time() + self.timing.phase1_s
        self._last_propose = self._loop.time()
        self.ready.set()
        cut = self._spawn(self._worker_cut()) if self.worker else None
        if self.source is not None:
            for out in self.source.start():
                self._spawn_chain(out)
            self._maybe_proposals_done()
            await self._until(self._all_hosted, self._p1_end + self.timing.ask_timeout_s)
            for w in self._live_workers():
                if peer_of(w) not in self._hosted:
                    self.drop(peer_of(w))
            self._reconcile()
        if cut is not None:
            await cut
        self.phase2.set()

    async def _phase2(self) -> None:
        if self.source is None:
            await self.over.wait()
            return
        self._holder = self.source.ring[0] if self.source.ring else self.name
        self._last_activity = self._loop.time()
        if self._holder == self.name:
            await self._drive(self.source.handle(m.Turn(DRIVER, 0)))
        while not self.over.is_set():
            _still_wanted()
            if self._turns:
                self._holder = self.name
                await self._drive(self.source.handle(self._turns.popleft()))
                continue
            self._changed.clear()
            if not self._turns and not self.over.is_set():
                await wait_event(self._changed, self.timing.turn_probe_s)
                if self._loop.time() - self._last_activity >= self.timing.turn_probe_s:
                    await self._probe_holder()

    def _seen_holder(self, peer: str) -> None:
        """Phase-2 traffic from `peer`: it holds the Turn, and it is alive."""
        self._holder, self._last_activity = peer, self._loop.time()

    async def _probe_holder(self) -> None:
        """Phase 2 went quiet: if the Turn holder is dead, its successor takes the Turn."""
        holder = self._holder
        self._last_activity = self._loop.time()
        if holder == self.name or self.over.is_set():
            return
        if holder not in self.dead:
            self.courier.count(wire.Ping())
            try:
                await self.courier.transport.request(self.roster[holder], Header(wire.Ping()),
                                                     timeout_s=self.timing.ask_timeout_s)
                return
            except RemoteError:
                return  # it answered (even if only to refuse a PING): alive
            except FognetError:
                self.drop(holder)
        ring = self.view.sources  # the ring as it was, to find who comes after the holder
        if holder not in ring:
            return
        after = ring[ring.index(holder) + 1:] + ring[:ring.index(holder)]
        successor = next((p for p in after if p not in self.dead), self.name)
        self._holder = successor
        if successor == self.name:
            log.info("%s: Turn holder %s is gone; taking the Turn", self.name, holder)
            self._turns.append(m.Turn(DRIVER, 0))

    def _spawn(self, coro) -> asyncio.Task | None:
        """A task owned by the round's group; none once the round is winding down."""
        if self._tg is None:
            coro.close()
            return None
        return self._tg.create_task(coro)

    def _result(self) -> RoundResult:
        me = PeerId(self.name)
        assignment: dict = {}
        if self.source is not None:
            if self.phase2.is_set():
                assignment = {
                    sid: (me if peer_of(site) in self.dead else site)
                    for sid, site in self.source.placement().items()
                }
            else:
                assignment = {s.id: me for s in self.subtasks}
        hosted = ()
        if self.worker is not None and self._cut:
            hosted = tuple(s for s in self.worker.hosted if s.source not in self.dead)
        return RoundResult(
            round=self.number, peer=self.name, assignment=dict(sorted(assignment.items())),
            phase1=dict(sorted(self.phase1.items())), hosted=hosted,
            sent=dict(sorted(self.courier.sent.items())), completed=self.ended,
            dead=tuple(sorted(self.dead)), elapsed_s=self._loop.time() - self._started,
            steps=self.source.steps if self.source else 0,
            commits=self.source.commits if self.source else 0,
        )

    # --- phase 1, as a source -----------------------------------------------------------

    def _spawn_chain(self, out: m.Outgoing) -> None:
        task = self._spawn(self._chain(out))
        if task is not None:
            self._pending += 1
            self._chains.add(task)
            task.add_done_callback(self._chains.discard)

    async def _chain(self, out: m.Outgoing) -> None:
        """One proposal and its answer; a Reject makes the next proposal its own chain."""
        try:
            reply = await self._propose(out.to, out.message)
            if not self._reconciled():
                for nxt in self.source.handle(reply):
                    self._spawn_chain(nxt)
        finally:
            self._pending -= 1
            self._maybe_proposals_done()

    async def _propose(self, wid: PeerId, msg: m.Propose) -> m.Accept | m.Reject:
        sid, peer = msg.subtask.id, peer_of(wid)
        refusal = m.Reject(wid, sid, m.Reason.OUT_OF_REACH)
        if peer in self.dead:
            return refusal
        if peer == self.name:
            return self.on_propose(msg)
        try:
            reply = matchwire.from_wire(peer, await self.courier.request(peer, matchwire.to_wire(self.number, msg)))
        except RemoteError as exc:
            log.debug("%s: PROPOSE %s refused by %s: %s", self.name, sid, peer, exc)
            return refusal
        except FognetError as exc:
            log.info("%s: %s did not answer PROPOSE: %s", self.name, peer, exc)
            self.drop(peer)
            return refusal
        if not isinstance(reply, m.Accept | m.Reject) or reply.subtask != sid:
            return refusal
        return reply

    def on_reject(self, msg: m.Reject) -> None:
        """A worker bumped one of my subtasks: propose it further down."""
        if self.source is None or self._reconciled() or self._tg is None:
            return
        for nxt in self.source.handle(msg):
            self._spawn_chain(nxt)
        self._maybe_proposals_done()

    def _maybe_proposals_done(self) -> None:
        if self._pending or self.source is None or self._reconciled() or self._tg is None:
            return
        for w in self._live_workers():
            if peer_of(w) == self.name:
                self.on_proposals_done(self.name)
            else:
                self._spawn(self.courier.send(peer_of(w), wire.ProposalsDone(self.number)))

    def on_hosted(self, peer: str, msg: m.RoundDone) -> None:
        if self.source is not None and not self._reconciled():
            self._hosted[peer] = msg
            self._changed.set()

    def _all_hosted(self) -> bool:
        return all(peer_of(w) in self._hosted for w in self._live_workers())

    def _reconciled(self) -> bool:
        return self._settled

    def _reconcile(self) -> None:
        """Keep a subtask on a worker only if that worker's HOSTED lists it."""
        me = PeerId(self.name)
        held = {(s.id, msg.sender) for msg in self._hosted.values() for s in msg.hosted}
        for s in self.source.own:
            site = self.source.where[s.id]
            if site != me and (s.id, site) not in held:
                self.source.where[s.id] = me
        for peer, msg in sorted(self._hosted.items()):
            if peer not in self.dead:
                self.source.handle(msg)
        self.phase1 = self.source.placement()
        self._settled = True
        for task in list(self._chains):
            task.cancel()
        self.phase2.set()

    # --- phase 1, as a worker -----------------------------------------------------------

    def on_propose(self, msg: m.Propose) -> m.Accept | m.Reject:
        sid = msg.subtask.id
        if self.worker is None:
            return m.Reject(worker_id(self.name), sid, m.Reason.OUT_OF_REACH)
        if self._cut or msg.sender in self.dead:
            return m.Reject(self.worker.id, sid, m.Reason.STALE_ROUND)
        self._done_sources.discard(msg.sender)
        self._last_propose = self._loop.time()
        reply = None
        for out in self.worker.handle(msg):
            if out.message.subtask == sid:
                reply = out.message
            else:  # bumped: its source proposes further, so it is not done
                self._done_sources.discard(out.to)
                self._spawn(self._bump(out))
        self._changed.set()
        return reply

    async def _bump(self, out: m.Outgoing) -> None:
        peer = peer_of(out.to)
        if peer == self.name:
            self.on_reject(out.message)
        elif peer not in self.dead:
            await self.courier.send(peer, matchwire.to_wire(self.number, out.message))

    def on_proposals_done(self, peer: str) -> None:
        self._done_sources.add(peer)
        self._changed.set()

    async def _worker_cut(self) -> None:
        settle = self.timing.settle_s
        while True:
            now = self._loop.time()
            live = set(self.view.sources) - self.dead
            quiet = now - self._last_propose >= settle
            if now >= self._p1_end or (live <= self._done_sources and quiet):
                break
            self._changed.clear()
            await wait_event(self._changed, max(1e-3, min(settle, self._p1_end - now)))
        self._cut = True
        self.cut.set()
        for out in self.worker.handle(m.RoundDone(DRIVER, 1)):
            peer = peer_of(out.to)
            if peer == self.name:
                self.on_hosted(peer, out.message)
            elif peer not in self.dead:
                self._spawn(self.courier.send(peer, matchwire.to_wire(self.number, out.message)))

    # --- phase 2, as the Turn holder ------------------------------------------------------

    async def _drive(self, outs: list[m.Outgoing]) -> None:
        queue = deque(outs)
        while queue:
            _still_wanted()
            out = queue.popleft()
            msg, targets = out.message, [out.to]
            while queue and queue[0].message == msg:  # one message to several parties
                targets.append(queue.popleft().to)
            if isinstance(msg, m.SwapAsk):
                queue.extend(await self._ask_all(msg, targets))
            elif isinstance(msg, m.SwapCommit | m.SwapAbort):
                await self._tell_all(msg, targets)
            elif isinstance(msg, m.Turn):
                queue.extend(await self._pass_turn(out.to, msg))
            elif isinstance(msg, m.RoundDone):
                await self._announce_over()

    async def _ask_all(self, ask: m.SwapAsk, parties: list[PeerId]) -> list[m.Outgoing]:
        """Ask the parties one at a time in id order (locks in id order); stop at a no."""
        votes, asked = [], []
        for party in sorted(parties):
            vote = await self._ask(party, ask)
            asked.append(party)
            votes.append(vote)
            if not vote.ok:
                break
        votes += [m.SwapVote(p, ask.step, False, reason=m.Reason.BUSY)
                  for p in parties if p not in asked]
        self._asked[ask.step] = asked
        outs: list[m.Outgoing] = []
        for vote in votes:
            outs += self.source.handle(vote)
        return outs

    async def _ask(self, party: PeerId, ask: m.SwapAsk) -> m.SwapVote:
        refusal = m.SwapVote(party, ask.step, False, reason=m.Reason.BUSY)
        peer = peer_of(party)
        if peer in self.dead:
            return refusal
        if peer == self.name:
            return self._vote(party, ask)
        try:
            body = await self.courier.request(peer, matchwire.to_wire(self.number, ask, party))
            if not isinstance(body, wire.StepVote) or body.step != ask.step:
                return refusal
            return matchwire.vote_from_wire(party, body)
        except RemoteError as exc:
            log.debug("%s: STEP_ASK refused by %s: %s", self.name, peer, exc)
            return refusal
        except FognetError as exc:
            log.info("%s: %s did not answer STEP_ASK: %s", self.name, peer, exc)
            self.drop(peer)
            return refusal

    async def _tell_all(self, msg: m.SwapCommit | m.SwapAbort, targets: list[PeerId]) -> None:
        if isinstance(msg, m.SwapAbort):
            asked = self._asked.pop(msg.step, [])
            targets = [t for t in targets if t in asked]
        else:
            self._asked.pop(msg.step, None)
        local = [t for t in targets if peer_of(t) == self.name]
        for agent in self._agents(local):
            agent.handle(msg)
        peers = sorted({peer_of(t) for t in targets} - self.dead - {self.name})
        body = matchwire.to_wire(self.number, msg)
        results = await asyncio.gather(*(self.courier.request(p, body) for p in peers),
                                       return_exceptions=True)
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, FognetError) and not isinstance(result, RemoteError):
                self.drop(peer)
            elif isinstance(result, BaseException) and not isinstance(result, FognetError):
                raise result

    async def _pass_turn(self, to: PeerId, turn: m.Turn) -> list[m.Outgoing]:
        while True:
            if to == self.name:
                return self.source.handle(m.Turn(PeerId(self.name), turn.idle))
            try:
                await self.courier.request(to, matchwire.to_wire(self.number, turn))
                self._seen_holder(to)
                return []
            except FognetError as exc:
                log.info("%s: %s did not take the TURN: %s", self.name, to, exc)
                self.drop(to)
            ring = self.source.ring
            to = ring[(ring.index(PeerId(self.name)) + 1) % len(ring)]

    async def _announce_over(self) -> None:
        self.ended = True
        self.over.set()
        self._changed.set()
        body = wire.RoundDone(self.number)
        others = [p for p in self.roster if p != self.name and p not in self.dead]
        await asyncio.gather(*(self.courier.send(p, body) for p in others))

    # --- phase 2, as a party ----------------------------------------------------------------

    def _agents(self, ids: Sequence[str] | None = None) -> list[SourceAgent | WorkerAgent]:
        agents = [a for a in (self.source, self.worker) if a is not None]
        return agents if ids is None else [a for a in agents if a.id in ids]

    def _vote(self, party: str, ask: m.SwapAsk) -> m.SwapVote:
        (agent,) = self._agents([party])
        (out,) = agent.handle(ask)
        if out.message.ok:
            key = (ask.sender, ask.step)
            self._timers.append(self._loop.call_later(
                self.timing.lock_timeout_s, self._unlock, agent, key))
        return out.message

    def _unlock(self, agent: SourceAgent | WorkerAgent, key: tuple) -> None:
        if agent.lock == key:
            log.info("%s: lock by %s step %d timed out", agent.id, *key)
            agent.lock = None

    # --- failures ----------------------------------------------------------------------------

    def drop(self, peer: str, tell: bool = True) -> None:
        """`peer` is dead for this round: every view and agent of mine forgets it."""
        if peer == self.name or peer in self.dead or peer not in self.roster:
            return
        log.info("%s: round %d goes on without %s", self.name, self.number, peer)
        self.dead.add(peer)
        self._changed.set()
        if tell:
            for other in sorted(self.roster.keys() - self.dead - {self.name}):
                self._spawn(self.courier.send(other, wire.PeerGone(self.number, peer)))
        if self.view is None:
            return
        wid = worker_id(peer)
        if any(w.id == wid for w in self.view.workers):
            self._drop_worker(wid)
        if self.source is not None and peer in self.source.ring:
            self.source.ring = tuple(p for p in self.source.ring if p != peer)
            self.source.seen = {k: v for k, v in self.source.seen.items() if v[0].source != peer}
        for agent in self._agents():
            if agent.lock is not None and peer_of(agent.lock[0]) == peer:
                agent.lock = None
        if self.worker is not None:
            self.worker.hosted = [s for s in self.worker.hosted if s.source != peer]

    def _drop_worker(self, wid: PeerId) -> None:
        self.view = without_worker(self.view, wid)
        for agent in self._agents():
            agent.view = self.view
        if self.source is None:
            return
        self.source.seen = {k: v for k, v in self.source.seen.items() if v[1] != wid}
        held = [s for s in self.source.own if self.source.where.get(s.id) == wid]
        if not self._reconciled():
            for s in held:
                self.on_reject(m.Reject(wid, s.id, m.Reason.OUT_OF_REACH))
        else:
            for s in held:
                self.source.where[s.id] = PeerId(self.name)

    def _live_workers(self) -> list[PeerId]:
        return [w.id for w in self.view.workers if peer_of(w.id) not in self.dead]

    # --- incoming ------------------------------------------------------------------------------

    async def handle(self, header: Header) -> wire.Body | None:
        """One incoming message of this round; the reply body, if the message wants one."""
        body, peer = header.body, header.sender
        if peer not in self.roster:
            raise refused(f"{peer!r} is not in round {self.number}'s roster", Reason.NOT_FOUND)
        if isinstance(body, wire.RoundOpen):
            if self.view is None:
                self.announced[peer] = figures_of(body)
                self._changed.set()
            return None
        if isinstance(body, wire.PeerGone):
            self.drop(body.peer, tell=False)
            return None
        if peer in self.dead:
            raise refused(f"{peer} was dropped from round {self.number}", Reason.STALE_ROUND)
        if isinstance(body, wire.ProposalsDone):
            self.on_proposals_done(peer)
            return None
        msg = matchwire.from_wire(peer, body)
        if isinstance(msg, m.SwapAsk | m.SwapCommit | m.SwapAbort | m.Turn):
            self._seen_holder(self.name if isinstance(msg, m.Turn) else peer)
        if isinstance(body, wire.StepAsk):
            reply = matchwire.to_wire(self.number, await self._ask_me(body.party, msg))
        else:
            reply = await self._answer(peer, msg)
        if reply is not None:
            self.courier.count(reply)
        return reply

    async def _answer(self, peer: str, msg: m.Message) -> wire.Body | None:
        n = self.number
        if isinstance(msg, m.Propose):
            await self._wait(self.ready)
            if self.view is None:
                return matchwire.to_wire(n, m.Reject(worker_id(self.name), msg.subtask.id,
                                                     m.Reason.STALE_ROUND))
            return matchwire.to_wire(n, self.on_propose(msg))
        if isinstance(msg, m.Reject):
            self.on_reject(msg)
        elif isinstance(msg, m.RoundDone) and msg.phase == 1:
            self.on_hosted(peer, msg)
        elif isinstance(msg, m.RoundDone):
            for agent in self._agents():
                agent.handle(msg)
            self.ended = True
            self.over.set()
            self._changed.set()
        elif isinstance(msg, m.Turn):
            if self.source is None:
                raise refused(f"{self.name} has no subtasks in round {n}", Reason.NOT_FOUND)
            self._turns.append(msg)
            self._changed.set()
            return wire.MatchAck(n)
        elif isinstance(msg, m.SwapCommit | m.SwapAbort):
            await self._wait(self.phase2)
            for agent in self._agents():
                agent.handle(msg)
            return wire.MatchAck(n)
        return None

    async def _ask_me(self, party: str, ask: m.SwapAsk) -> m.SwapVote:
        if party == self.name and self.source is not None:
            ready = self.phase2
        elif party == worker_id(self.name) and self.worker is not None:
            ready = self.cut
        else:
            raise refused(f"{self.name} does not play {party!r} in round {self.number}",
                          Reason.NOT_FOUND)
        if not await self._wait(ready):
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
