"""Phase 1 of a live round (deferred acceptance), as methods of `LiveRound`.

A source runs one chain per proposal (PROPOSE -> ACCEPT/REJECT, the next proposal after a
REJECT). A bump is a request: the worker sends the bumped subtask's REJECT to its source
and answers the PROPOSE that caused it only once that source acknowledged (MATCH_ACK),
which it does once its re-proposals are answered. So a proposal's answer covers every
proposal it set off, and when a source has nothing unanswered (it then sends
PROPOSALS_DONE to the round's leader) nothing it caused is still in flight: once every
live source said so, every proposal's tree of bumps is answered, and the leader tells
every worker (PROPOSALS_DONE `everyone`), which knows phase 1 is over everywhere
(deferred acceptance then has reached its one outcome, the same as `play`'s) and sends
HOSTED at once. A source tells a new leader again if its leader dies. Once reconciled,
a source sends the other sources the list of its subtasks at home (HOSTED with `home`), so
every Turn holder knows the whole matching (phase2.py). `settle_s` of quiet
is waited only once a peer died (its subtasks are re-proposed outside any chain), and
`phase1_s` bounds it all. A source keeps a subtask on a worker only if that worker's
HOSTED lists it. A worker that has not yet settled who plays (a ROUND_OPEN still on its
way) answers BUSY, and the source asks again. The state these methods use lives in `LiveRound.__init__`.
"""

from __future__ import annotations

import asyncio
import logging

from fognet.errors import FognetError, RemoteError, WireError
from fognet.matching import messages as m
from fognet.matching.instance import PeerId, Subtask
from fognet.matching.round_rules import Phase1, made_up, phase1_over, reconcile
from fognet.net import wire
from fognet.net.ratelog import RateLimitedLog
from fognet.peer.match import wire_bodies
from fognet.peer.match.courier import wait_event
from fognet.placement.instance import peer_of, worker_id

PROPOSE_RETRY_S = 0.01  # a worker still opening the round answers BUSY: ask again this soon
DRIVER = PeerId("round")  # sender of the phase signals a peer gives its own agents

log = logging.getLogger(__name__)
warn = RateLimitedLog(log)  # lines that what arrives can cause

class ProposalPhase:
    """Phase-1 methods of `LiveRound` (mixed in; see the module docstring)."""

    # --- phase 1, as a source -----------------------------------------------------------

    def _spawn_chain(self, out: m.Outgoing) -> None:
        self._proposed_to.add(peer_of(out.to))
        task = self._spawn(self._chain(out))
        if task is not None:
            self._pending += 1
            self._chains.add(task)
            task.add_done_callback(self._chains.discard)

    async def _chain(self, out: m.Outgoing) -> None:
        """One proposal and its answer, then the next proposal after a Reject."""
        try:
            while out is not None:
                reply = await self._propose(out.to, out.message)
                if self._reconciled():
                    return
                nxt = self.source.handle(reply)  # a Reject: at most the next proposal
                out = nxt[0] if nxt else None
        finally:
            self._pending -= 1
            self._maybe_proposals_done()

    async def on_bumped(self, msg: m.Reject) -> None:
        """A worker bumped one of my subtasks: propose it further down, and return once
        that is answered (the bump's acknowledgement then covers it)."""
        if self.source is None or self._reconciled() or self._tg is None:
            return
        outs = self.source.handle(msg)
        self._pending += 1  # no PROPOSALS_DONE while the re-proposal is out
        try:
            await asyncio.gather(*(self._chain_one(out) for out in outs))
        finally:
            self._pending -= 1
            self._maybe_proposals_done()

    async def _chain_one(self, out: m.Outgoing) -> None:
        self._pending += 1
        await self._chain(out)

    async def _propose(self, wid: PeerId, msg: m.Propose) -> m.Accept | m.Reject:
        sid, peer = msg.subtask.id, peer_of(wid)
        self._proposed_to.add(peer)  # (before any wait: I expect its HOSTED)
        refusal = m.Reject(wid, sid, m.Reason.OUT_OF_REACH)
        if peer in self.dead:
            return refusal
        if peer == self.name:
            return await self.on_propose(msg)
        try:
            body = wire_bodies.to_wire(self.number, msg)
            reply = wire_bodies.from_wire(peer, await self.courier.request(peer, body))
            while (isinstance(reply, m.Reject) and reply.reason is m.Reason.BUSY
                   and self._loop.time() < self._p1_end):  # it has not settled who plays yet
                await asyncio.sleep(PROPOSE_RETRY_S)
                reply = wire_bodies.from_wire(peer, await self.courier.request(peer, body))
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
        """My subtask left its worker outside any chain (the worker died): propose it further
        down, as a chain of its own."""
        if self.source is None or self._reconciled() or self._tg is None:
            return
        for nxt in self.source.handle(msg):
            self._spawn_chain(nxt)
        self._maybe_proposals_done()

    def _maybe_proposals_done(self) -> None:
        """My source has nothing unanswered: the round's leader hears it (and tells every
        worker once every live source is done: sources + workers messages, not sources x
        workers)."""
        if self._pending or self.source is None or self._reconciled() or self._tg is None:
            return
        self._told_done = leader = self.leader()
        if leader == self.name:
            self.on_proposals_done(self.name)
        else:
            self._spawn(self._tell_done(leader))

    async def _tell_done(self, leader: str) -> None:
        """A leader that cannot take my PROPOSALS_DONE is dead for the round: the next one
        hears it (`drop`), and no worker waits for the one gone until `phase1_s`."""
        if not await self.courier.send(leader, wire.ProposalsDone(self.number)):
            self.drop(leader)

    def on_hosted(self, peer: str, msg: m.RoundDone) -> list[Subtask]:
        """A worker's HOSTED (what it holds once its phase 1 is over). Entries that are not
        subtasks of the round as their sources have them (`round_rules.made_up`: a worker
        can list any subtask of any source) are left out and returned (the caller refuses
        a message with any, MALFORMED, once the rest is recorded: a lie costs the round
        nothing). An entry of a source whose list has not come yet is checked when it
        comes (`on_home`)."""
        bad = made_up(msg.hosted, self._lists())
        if bad:
            msg = m.RoundDone(msg.sender, 1, tuple(s for s in msg.hosted if s not in bad), msg.round)
            warn.warning("made-up", "%s: round %d: HOSTED from %s lists %d subtask(s) its "
                         "sources do not have, e.g. %r of %s", self.name, self.number, peer,
                         len(bad), bad[0].id, bad[0].source)
        if self.source is not None and not self._reconciled():
            self._hosted[peer] = msg
            self._changed.set()
        return bad

    def _lists(self) -> dict[PeerId, dict]:
        """Every source's subtasks as it has them, as far as I know: mine, and those of
        each source whose HOSTED home came."""
        mine = {PeerId(self.name): {s.id: s for s in self.subtasks}} if self.subtasks else {}
        return {**self._told, **mine}

    def on_home(self, peer: str, placed: list[m.RoundDone]) -> None:
        """Another source's subtasks and their sites after phase 1 (one RoundDone per
        site): my ledger then knows every subtask of the round (only those it does not
        know of yet: a commit may have moved one already)."""
        if peer in self.dead or peer in self._homes:
            return
        self._told.setdefault(PeerId(peer), {s.id: s for msg in placed for s in msg.hosted})
        if self.source is None or not self._reconciled():  # placed once my ledger holds
            self._early_homes[peer] = placed  # the workers' HOSTED (a source that proposed
            return  # to none sends it at once: my view may not even be built yet)
        try:
            self._check(placed)  # (one that came before my view was built is checked here)
        except WireError as exc:
            warn.warning("bad-home", "%s: HOSTED home from %s dropped: %s", self.name, peer, exc)
            return
        self._forget_made_up(peer)
        known = self.source.ledger.site_of
        for msg in placed:
            self.source.handle(m.RoundDone(msg.sender, 1,
                                           tuple(s for s in msg.hosted if s.id not in known)))
        self._homes.add(peer)
        self._changed.set()

    def _forget_made_up(self, peer: str) -> None:
        """Subtasks of `peer` that workers' HOSTED put in my ledger and its own list lacks
        (made up: `on_hosted` could not tell before the list came) leave it."""
        told, ledger = self._told[PeerId(peer)], self.source.ledger
        lies = [(s, ledger.site_of[s.id]) for s in ledger.mine.get(PeerId(peer), {}).values()
                if told.get(s.id) != s]
        for s, _ in lies:
            ledger.forget(s)
        if lies:
            warn.warning("made-up", "%s: round %d: workers listed %d subtask(s) %s does not "
                         "have, e.g. %r at %s; forgotten", self.name, self.number, len(lies),
                         peer, lies[0][0].id, lies[0][1])

    def _all_hosted(self) -> bool:
        """Every live worker I proposed to has sent its HOSTED (no other can hold mine;
        the other sources' subtasks elsewhere come in their placements, `on_home`)."""
        return all(peer_of(w) in self._hosted for w in self._live_workers()
                   if peer_of(w) in self._proposed_to)

    def _reconciled(self) -> bool:
        return self._settled

    def _reconcile(self) -> None:
        """Keep a subtask on a worker only if that worker's HOSTED lists it."""
        me = PeerId(self.name)
        placed = {s.id: self.source.site_of(s.id) for s in self.source.own}
        kept = reconcile(placed, {msg.sender: msg.hosted for msg in self._hosted.values()}, me)
        for s in self.source.own:
            if kept[s.id] != placed[s.id]:
                self.source.bring_home(s)
        for peer, msg in sorted(self._hosted.items()):
            if peer not in self.dead:
                self.source.handle(msg)
        self.phase1 = self.source.placement()
        self._settled = True
        body = wire_bodies.placement_to_wire(self.number, self.name, self.source.own, self.phase1)
        for peer in self.source.ring:
            if peer != self.name and peer not in self.dead:
                self._spawn(self.courier.send(peer, body))
        for peer, msg in sorted(self._early_homes.items()):
            self.on_home(peer, msg)
        for task in list(self._chains):
            task.cancel()
        self._phase2_on()

    # --- phase 1, as a worker -----------------------------------------------------------

    async def on_propose(self, msg: m.Propose) -> m.Accept | m.Reject:
        """My worker's answer to a proposal, given once the subtasks it bumped were
        proposed further (see the module docstring)."""
        sid = msg.subtask.id
        if self.worker is None:
            return m.Reject(worker_id(self.name), sid, m.Reason.OUT_OF_REACH)
        if self.cut.is_set() or msg.sender in self.dead:
            return m.Reject(self.worker.id, sid, m.Reason.STALE_ROUND)
        self._everyone_done = False  # (only after a death: see `_maybe_everyone_done`)
        self._proposers.add(msg.sender)
        self._last_propose = self._loop.time()
        reply, bumps = None, []
        for out in self.worker.handle(msg):
            if out.message.subtask == sid:
                reply = out.message
            else:  # bumped: its source proposes further, so it is not done
                self._everyone_done = False
                bumps.append(self._bump(out))
        self._changed.set()
        await asyncio.gather(*bumps)
        return reply

    async def _bump(self, out: m.Outgoing) -> None:
        peer = peer_of(out.to)
        if peer == self.name:
            await self.on_bumped(out.message)
        elif peer not in self.dead:
            try:
                await self.courier.request(peer, wire_bodies.to_wire(self.number, out.message))
            except RemoteError as exc:
                log.debug("%s: REJECT to %s refused: %s", self.name, peer, exc)
            except FognetError as exc:
                log.info("%s: %s did not acknowledge REJECT: %s", self.name, peer, exc)
                self.drop(peer)

    def on_proposals_done(self, peer: str, everyone: bool = False) -> None:
        """PROPOSALS_DONE from a source (to me as the round's leader: it has nothing
        unanswered), or from the leader (`everyone`: every live source is done, so my
        worker's phase 1 is over: see the module docstring)."""
        if not everyone:
            self._reported_done.add(peer)
            self._maybe_everyone_done()
        elif peer == self.leader():  # (my view may not be built yet: `_phase1_state`)
            self._everyone_done = True
            self._changed.set()

    def _maybe_everyone_done(self) -> None:
        """As the leader: once every live source said it is done, every live worker hears
        it (again after a later one: a re-proposal after a death made a worker wait for it)."""
        if self.view is None or self.leader() != self.name or self._tg is None:
            return
        if not {p for p in self.view.sources if p not in self.dead} <= self._reported_done:
            return
        for w in self._live_workers():
            if peer_of(w) == self.name:
                self.on_proposals_done(self.name, everyone=True)
            else:
                self._spawn(self.courier.send(peer_of(w), wire.ProposalsDone(self.number, True)))

    def _phase1_state(self) -> Phase1:
        live = frozenset(self.view.sources) - self.dead
        return Phase1(live, live if self._everyone_done else frozenset(),
                      self._p1_end, self._last_propose, self.timing.settle_s, len(self.dead))

    async def _worker_cut(self) -> None:
        settle = self.timing.settle_s
        while not phase1_over(self._phase1_state(), now := self._loop.time()):
            self._changed.clear()
            await wait_event(self._changed, max(1e-3, min(settle, self._p1_end - now)))
        self.cut.set()
        for out in self.worker.handle(m.RoundDone(DRIVER, 1)):
            peer = peer_of(out.to)
            if peer not in self._proposers:
                continue  # it waits only for the workers it proposed to (`_all_hosted`)
            if peer == self.name:
                self.on_hosted(peer, out.message)
            elif peer not in self.dead:
                self._spawn(self.courier.send(peer, wire_bodies.to_wire(self.number, out.message)))
