"""Phase 2 of a live round (approved steps), as methods of `LiveRound`.

The Turn holder drives its agent's messages. Once every source sent the list of its
subtasks at home after phase 1, its agent walks only the steps the game's bounds leave
(`bounds.StepBounds.hopeful`, as `play` walks them) and drops unasked a step it can tell
the parties would refuse (`matching.round_rules.refused_unasked`: priced as the game
prices it); until then, or after a death, it walks every candidate and drops what
`hopeless` rules out. It asks the other steps' parties at once; commits go
one-way, at once to the step's parties (the workers it touches, the sources asked) and
batched to the other sources before it next asks them, passes the TURN or ends the game;
STEP_ASK, TURN and ROUND_DONE carry the count of commits their receiver must have applied
(`LiveRound._count_commit`), so every step is priced on applied state; aborts go one-way
to the parties it locked; the TURN goes to the next live source. A party votes with its agent and releases a lock after
`lock_timeout_s`. If phase 2 goes quiet for `turn_probe_s`, a source PINGs the Turn
holder; if it is dead, its successor in the ring takes the Turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections import deque
from collections.abc import Iterator, Sequence

from fognet.errors import FognetError, Refused, RemoteError, WireError
from fognet.matching import messages as m
from fognet.matching.agent import SourceAgent, WorkerAgent
from fognet.matching.bounds import StepBounds
from fognet.matching.game import Refused as RefusedSteps
from fognet.matching.instance import PeerId
from fognet.matching.round_rules import next_holder, refused_unasked, turn_idle
from fognet.net import wire
from fognet.net.ratelog import RateLimitedLog
from fognet.net.wire import Header, Reason
from fognet.peer.match import wire_bodies
from fognet.peer.match.courier import still_wanted, wait_event
from fognet.peer.match.phase1 import DRIVER
from fognet.placement.instance import peer_of, worker_id

log = logging.getLogger(__name__)
warn = RateLimitedLog(log)  # lines that what arrives can cause

class StepPhase:
    """Phase-2 methods of `LiveRound` (mixed in; see the module docstring)."""

    async def _phase2(self) -> None:
        if self.source is None:
            await self.over.wait()
            return
        self._holder = self.source.ring[0] if self.source.ring else self.name
        self._last_activity = self._loop.time()
        if self._holder == self.name:
            await self._homes_in()
            await self._drive(self._take_turn(m.Turn(DRIVER, 0)))
        while not self.over.is_set():
            still_wanted()
            if self._turns:
                self._holder = self.name
                turn, commits = self._turns.popleft()
                await self._homes_in()
                if not await self._until(lambda n=commits: self._commits >= n,  # (one-way:
                                         self._loop.time() + self.timing.ask_timeout_s):
                    self._unsure = True  # a commit is missing here: `hopeless` only, and
                    # the parties vote on their own applied state (see _count_commit)
                await self._drive(self._take_turn(turn))
                continue
            self._changed.clear()
            if not self._turns and not self.over.is_set():
                await wait_event(self._changed, self.timing.turn_probe_s)
                if self._loop.time() - self._last_activity >= self.timing.turn_probe_s:
                    await self._probe_holder()

    async def _homes_in(self) -> None:
        """Before my turn: every other live source's list of its subtasks at home, so I
        ask only the steps that will be approved (waited for up to `ask_timeout_s`; without
        them I ask what `hopeless` cannot rule out). After a death too: a live source's
        subtasks on a worker I did not propose to come only in its list, and a step's
        parties are read from my ledger. Only the live ones: waiting for `_everyone_known`,
        which a death makes False for the rest of the round, cost every source its
        `ask_timeout_s` after any death (a leader dead in phase 1: 2.0 s rounds)."""
        await self._until(self._homes_known, self._loop.time() + self.timing.ask_timeout_s)

    def _homes_known(self) -> bool:
        """Every other live source's list of its subtasks at home is in my ledger."""
        return all(p in self._homes for p in self.source.ring if p != self.name)

    def _everyone_known(self) -> bool:
        """My ledger holds every subtask of the round where it is. Not after a death: peers
        may disagree on who is dead (a commit from a peer that does not know may name a
        site my view has dropped), so I price only what `hopeless` needs; nor once a
        Turn came before the commits it counts (my ledger may lack one)."""
        return not self.dead and not self._unsure and self._homes_known()

    def _steps(self) -> Iterator[tuple[str, tuple]] | None:
        """My agent's list: once my ledger holds every subtask (`_everyone_known`), the
        steps the game's bounds leave me on the matching as it is now, read lazily as
        `play` reads them (`bounds.StepBounds.hopeful`); cut short if a peer dies while
        my agent walks it (my ledger then lacks its subtasks: the Turn is taken again on
        the matching without it). None until then: my agent lists every candidate."""
        self._listed_hopeful = self._everyone_known()
        if not self._listed_hopeful:
            return None
        if self._bounds is None:
            every = tuple(s for subs in self.source.ledger.mine.values() for s in subs.values())
            inst = dataclasses.replace(self.view, subtasks=every)
            self._bounds = StepBounds(inst, self.source.ledger)
            self._refused_steps = RefusedSteps(inst, self.source.ledger)
        return itertools.takewhile(lambda _: self._everyone_known(),
                                   self._bounds.hopeful(self.source.id))

    def _refused(self, kind: str, changes: tuple) -> bool:
        """My agent's filter: a step I can tell the parties would refuse is not asked
        (`round_rules.refused_unasked`; a hopeful step priced as the game prices it, and
        not priced again while nothing its price reads has changed, as in `play`)."""
        if not self._listed_hopeful:
            return refused_unasked(self.view, self.source.ledger, self.source.id, kind,
                                   changes, self.source.rule, None)
        if self._refused_steps.known(changes):
            return True
        if refused_unasked(self.view, self.source.ledger, self.source.id, kind, changes,
                           self.source.rule, ((kind, changes),)):  # listed: hopeful
            self._refused_steps.note(changes)
            return True
        return False

    def _take_turn(self, turn: m.Turn) -> list[m.Outgoing]:
        """My agent's turn. A peer that died since my last turn changed the matching (its
        subtasks left, or went home): the idle count starts again, so every source looks
        at the matching without it before the game can end. Playing greedy (`steps`
        off) my first Turn ends the game."""
        idle = turn_idle(self._drops, self._drops_at_turn, turn.idle)
        if not self.steps:  # greedy: a Turn that finds every source idle ends the game
            idle = len(self.source.ring)
        turn = m.Turn(turn.sender, idle, turn.round)
        self._drops_at_turn = self._drops
        self._turn_count += 1
        self._holder = self.name
        return self.source.handle(turn)

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
        successor = next_holder(ring, PeerId(holder), self.dead)
        self._holder = successor
        if successor == self.name:
            log.info("%s: Turn holder %s is gone; taking the Turn", self.name, holder)
            self._turns.append((m.Turn(DRIVER, 0), 0))

    # --- phase 2, as the Turn holder ------------------------------------------------------

    async def _drive(self, outs: list[m.Outgoing]) -> None:
        queue = deque(outs)
        while queue:
            still_wanted()
            if self._telling:  # parties hear of a death before they are asked on its basis
                telling, self._telling = self._telling, []
                await asyncio.gather(*telling)
            out = queue.popleft()
            msg, targets = out.message, [out.to]
            while queue and queue[0].message == msg:  # one message to several parties
                targets.append(queue.popleft().to)
            if isinstance(msg, m.Turn | m.RoundDone) and self._drops != self._drops_at_turn:
                # a peer died during my turn: my agent listed its steps before that, so it
                # looks again at the matching without it before passing the Turn on
                queue.extend(self._take_turn(m.Turn(PeerId(self.name), 0)))
            elif isinstance(msg, m.SwapAsk):
                queue.extend(await self._ask_all(msg, targets))
            elif isinstance(msg, m.SwapCommit | m.SwapAbort):
                await self._tell_all(msg, targets)
            elif isinstance(msg, m.Turn):
                queue.extend(await self._pass_turn(out.to, msg))
            elif isinstance(msg, m.RoundDone):
                await self._announce_over()

    async def _ask_all(self, ask: m.SwapAsk, parties: list[PeerId]) -> list[m.Outgoing]:
        """Ask the parties at once: one round trip a step. Only the Turn holder initiates,
        so a lock is never contended but by a holder thought dead (it answers BUSY: no
        wait, no deadlock)."""
        parties = sorted(parties)
        votes = await asyncio.gather(*(self._ask(p, ask) for p in parties))
        self._asked[ask.step] = [v.sender for v in votes if v.ok]  # locked
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
        commits = self._commits if party in self.view.sources else self._touched[party]
        await self._flush([peer])
        try:
            body = await self.courier.request(
                peer, wire_bodies.ask_to_wire(self.number, ask, party, commits))
            if not isinstance(body, wire.StepVote) or body.step != ask.step:
                return refusal
            return wire_bodies.vote_from_wire(party, body)
        except RemoteError as exc:
            log.debug("%s: STEP_ASK refused by %s: %s", self.name, peer, exc)
            return refusal
        except FognetError as exc:
            log.info("%s: %s did not answer STEP_ASK: %s", self.name, peer, exc)
            self.drop(peer)
            return refusal

    async def _tell_all(self, msg: m.SwapCommit | m.SwapAbort, targets: list[PeerId]) -> None:
        """A commit goes one-way, at once to the workers it touches and the parties it
        locked, batched to the other sources (`_flush`); it is counted, and whoever next
        asks, passes the Turn or ends the game says how many the receiver must have
        applied (`_count_commit`). An abort goes one-way to the parties it locked: the
        next message from this initiator to them comes after it on the same connection
        and is handled after it."""
        locked = self._asked.pop(msg.step, [])
        if isinstance(msg, m.SwapAbort):
            targets = [t for t in targets if t in locked]
        else:  # a worker the step does not touch has nothing to apply
            touched = {c.frm for c in msg.changes} | {c.to for c in msg.changes}
            targets = [t for t in targets if t in self.source.ring or t in touched]
        local = [t for t in targets if peer_of(t) == self.name]
        for agent in self._agents(local):
            agent.handle(msg)
        peers = sorted({peer_of(t) for t in targets} - self.dead - {self.name})
        if isinstance(msg, m.SwapAbort):
            body = wire_bodies.to_wire(self.number, msg)
            await asyncio.gather(*(self.courier.send(p, body) for p in peers))
            return
        self._count_commit(msg.changes)  # my source applied it already (its agent did)
        now = {peer_of(t) for t in targets if t in touched or t in locked}  # its parties
        for p in peers:
            self._later.setdefault(p, []).append(msg)
        await self._flush(sorted(now & set(peers)))

    async def _flush(self, peers: Sequence[str] | None = None) -> None:
        """Send the commits waiting for these peers (all: None), each peer's in one
        STEP_COMMIT. A source a step does not concern gets its commits only before I ask
        it or pass the Turn: it needs them only to price (STEP_ASK and TURN say how many).
        One that cannot be handed over drops its peer: it would price without them."""
        peers = sorted(self._later) if peers is None else peers
        batches = [(p, self._later.pop(p)) for p in peers if self._later.get(p)]
        if not batches:
            return
        handed = await asyncio.gather(*(
            self.courier.send(p, wire_bodies.commits_to_wire(self.number, commits))
            for p, commits in batches))
        for (peer, _), ok in zip(batches, handed, strict=True):
            if not ok:
                self.drop(peer)

    async def _pass_turn(self, to: PeerId, turn: m.Turn) -> list[m.Outgoing]:
        await self._flush()
        while True:
            if to == self.name:
                return self._take_turn(m.Turn(PeerId(self.name), turn.idle))
            try:
                body = dataclasses.replace(wire_bodies.to_wire(self.number, turn),
                                           commits=self._commits)
                await self.courier.request(to, body)
                self._seen_holder(to)
                return []
            except FognetError as exc:
                log.info("%s: %s did not take the TURN: %s", self.name, to, exc)
                self.drop(to)
            ring = self.source.ring
            to = ring[(ring.index(PeerId(self.name)) + 1) % len(ring)]

    async def _announce_over(self) -> None:
        await self._flush()
        self.release_late()
        self.ended = True
        self.over.set()
        self._changed.set()
        others = [p for p in self.roster if p != self.name and p not in self.dead]
        await asyncio.gather(*(self.courier.send(p, wire.RoundDone(
            self.number, self._commits, self._touched[worker_id(p)])) for p in others))

    # --- phase 2, as a party ----------------------------------------------------------------

    def _turn_in(self, turn: m.Turn, commits: int) -> wire.MatchAck:
        if self.source is None:
            raise Refused(f"{self.name} has no subtasks in round {self.number}",
                          Reason.NOT_FOUND)
        self._turns.append((turn, commits))
        self._changed.set()
        return wire.MatchAck(self.number)

    def _count_commit(self, changes) -> None:
        """A STEP_COMMIT applied here: counted per role (commits are one-way, so a party
        asked, a new Turn holder and the game's end wait until their count is reached:
        a commit sent earlier by another initiator may still be on its way)."""
        touched = {c.frm for c in changes} | {c.to for c in changes}
        if self.source is not None:
            self._commits += 1
            self._touched.update(touched)
        if self.worker is not None and self.worker.id in touched:
            self._worker_commits += 1
        self._changed.set()

    def _owned(self, commit: m.SwapCommit) -> None:
        mine = {s.id for s in self.subtasks}
        if any(c.subtask.source == self.name and c.subtask.id not in mine
               for c in commit.changes):
            raise Refused(f"STEP_COMMIT moves a subtask {self.name} does not have",
                          Reason.NOT_FOUND)

    def _apply_commits(self) -> None:
        """Apply the commits that came, in order, once phase 2 is set up here (before, my
        ledger is not reconciled: `_reconcile` would overwrite them). A commit that came
        before my view and names an id outside the round is dropped (not counted)."""
        while self._inbox and self.phase2.is_set():
            peer, commit = self._inbox.popleft()
            try:
                self._check(commit)
            except WireError as exc:
                warn.warning("bad-commit", "%s: STEP_COMMIT from %s dropped: %s",
                             self.name, peer, exc)
                continue
            for agent in self._agents():
                agent.handle(commit)
            self._count_commit(commit.changes)

    def _caught_up(self, commits: int, worker_commits: int) -> bool:
        return ((self.source is None or self._commits >= commits)
                and (self.worker is None or self._worker_commits >= worker_commits))

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
