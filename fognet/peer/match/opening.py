"""A live round's opening, as methods of `LiveRound`: who plays, agreed without a coordinator.

The round's leader is the first live peer of the roster by name (`leader`: every peer
applies the same rule to what it knows, so it knows whom to tell; no peer is a
coordinator beyond its round's opening). Every peer sends the leader ROUND_OPEN (its
figures) with what it knows of the round: the roster (names and addresses) and the
sources; the leader calls each roster peer once with its own (a peer it reaches joins
the round), and a peer sends again when what it knows grows. Knowledge only grows: a
second source that re-plans while the round is open (`add`), or a peer that opened the
same round number at the same moment with another roster, ends in the one round: the
union of what everyone brought. A non-leader that hears from a peer that knows less than
it does (one that may think it leads) tells it what it knows. So the opening costs
messages linear in the peers (every peer announcing to every other was n(n-1)).

A source opening a round may hold it open for `gather_s` (`hold_s` in its ROUND_OPEN,
which the leader honours, capped at `open_s`), so that sources re-planning within it join.
The leader freezes the round (builds its view, starts phase 1) once the hold is over and
every live roster peer's announcement is within its own knowledge, and sends every player
the frozen roster with every player's figures (`frozen=True`, the `p_` columns), which
its receiver adopts as it is. Once frozen a peer never changes: an announcement it does
not expect gets the frozen roster back. A source that the frozen knowledge does not list
is `left_out`: its subtasks go to the next round (`Matchmaker.play`). A peer waiting for
the frozen roster resends to the leader every `RESEND_S` (a live leader answers); a
leader silent for `ask_timeout_s` (as any unanswered request; and not before
`COLD_LEADER * open_s` from the round's start: a cold cluster's leader may be late, not
dead) is dead for the round, decided by each peer alone (no PEER_GONE: it may be only
slow), and the next peer by name leads. The leader resends its call to the peers my send to which
failed and that have not answered (one handed over arrives). A roster peer silent for
`open_s` after the last news (a first announcement, or one knowing more) is dead for the
round (each peer decides that alone; a round whose peers disagree on a death still ends
valid, as after any death).

Two rounds with different numbers open at once (sources whose views of the round count
disagree) end in one: a peer that has both open merges the lower into the higher
(`merge_into`: the lower's roster joins the higher's knowledge, my subtasks move there,
and the lower ends here at once, `merged_into` set). Every peer decides alone by the same
rule, and the merged roster's announcements reach every peer of the lower round, which
then has both open and merges too; so the highest number open anywhere wins (the
highest, not the lowest: a lower number may name a round some peer has already played).
A round frozen before it heard of the other is not merged (both are played, each valid).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence

from fognet.errors import FognetError
from fognet.matching.agent import SourceAgent, WorkerAgent
from fognet.matching.instance import PeerId, Subtask
from fognet.net import wire
from fognet.peer.match.courier import figures_of, player_columns, players_of
from fognet.placement.instance import Figures, game_instance, worker_id

log = logging.getLogger(__name__)

COALESCE_S = 0.002  # growths within this long are announced once
RESEND_S = 0.25  # announce again to the peers not yet agreeing this often (lost sends)
COLD_LEADER = 0.75  # a leader may be late this share of `open_s` from the round's start
Knowledge = tuple[frozenset[str], frozenset[str]]  # (roster, sources)


class OpeningPhase:
    """The opening's methods of `LiveRound` (mixed in; see the module docstring)."""

    def knowledge(self) -> Knowledge:
        return frozenset(self.roster), frozenset(self.known_sources)

    def add(self, subtasks: Sequence[Subtask], roster: Mapping[str, str],
            steps: bool = True) -> bool:
        """A source of this peer re-plans while the round is open: its subtasks join it
        (False: the round is frozen; they belong to the next one). `steps`: see `play`."""
        if self.frozen or self.subtasks:
            return False
        self.subtasks, self.steps = tuple(subtasks), steps
        self.known_sources.add(self.name)
        self.announced[self.name] = (self.figures, True)
        self._learn(roster, ())
        self._announce_all()
        return True

    async def _open(self) -> bool:
        """Announce, agree on who plays, build my view and agents (False: the game refuses
        what was announced, or my subtasks were left out: I play only as a worker; or the
        round ended in a higher one)."""
        if self.merged_into is not None:
            return False  # merged before it started here: nothing to announce
        self._hold_until = max(self._hold_until, self._loop.time() + self.gather_s)
        self._leader_heard = self._loop.time()
        self._announce_all()
        while True:
            while not await self._until(self._agreed, min(self._open_end(), self._loop.time()
                                                          + RESEND_S, self._leader_gone())):
                if self._loop.time() >= min(self._open_end(), self._leader_gone()):
                    break
                self._announce_all(lagging=True)  # a send may fail (a peer still connecting)
            if self._agreed() or self.leader() == self.name or self.merged_into is not None:
                break
            # my leader answered none of my resends (`_leader_gone`), or `open_s` passed
            # without news: it is dead for this round here, the next peer by name leads.
            # Mine alone (no PEER_GONE): it may only be slow, and the peers that heard it
            # should not drop it on my word
            log.info("%s: round %d's leader %s is silent", self.name, self.number, self.leader())
            self.drop(self.leader(), tell=False)
            self._news = self._leader_heard = self._loop.time()
            self._announce_all()
        if self.merged_into is not None:
            return False  # it goes on as round `merged_into` (my subtasks moved there)
        if not self._agreed():
            mine = self.knowledge()
            log.warning("%s: round %d opened without agreement: %s", self.name, self.number,
                        {p: ("same" if k == mine else k) for p, k in self._theirs.items()})
        self.dead |= self.roster.keys() - self.announced.keys()
        self.frozen = True
        self.known_sources -= self.dead
        if not self._adopted:  # I lead: every player gets the frozen roster and figures
            self._announce_all()
        if self.subtasks and self.name not in self.known_sources:
            log.info("%s: round %d froze without my subtasks: they go to the next round",
                     self.name, self.number)
            self.left_out, self.spare, self.subtasks = True, self.subtasks, ()
        live = {p: self.announced[p][0] for p in self.roster if p not in self.dead}
        if not self.subtasks:  # a worker alone: its agent reads only the links to its site
            live = {p: _reaching(f, self.name) for p, f in live.items()}
        rules = [live[p].rule for p in sorted(self.known_sources)]
        try:
            self.view = game_instance(live, self.subtasks, sources=sorted(self.known_sources),
                                      rule=rules[0] if rules else self.figures.rule)
        except FognetError as exc:
            log.warning("%s: round %d cannot be played: %s", self.name, self.number, exc)
            return False
        if self.subtasks:
            self.source = SourceAgent(self.view, PeerId(self.name), self.view.sources)
            self.source.skip, self.source.lister = self._refused, self._steps  # phase2.py
        if self.figures.quota > 0:
            self.worker = WorkerAgent(self.view, worker_id(self.name))
        return True

    def release_late(self) -> None:
        """The game is over (ROUND_DONE, or here its deadline: `play`): the peers that
        came once it was frozen (left out, not in its roster) hear ROUND_DONE, so they open
        the next round now, not at their deadline, and never while this one is still in
        play (a worker would grant its capacity twice)."""
        for peer, address in sorted(self._late.items()):
            if self._tg is not None:
                self._spawn(self.courier.send(peer, wire.RoundDone(self.number), address))
            else:  # the round's tasks are gone: a send of its own, best effort
                detach(self.courier.send(peer, wire.RoundDone(self.number), address))
        self._late.clear()

    def merge_into(self, other: OpeningPhase) -> bool:
        """This round, open here, ends in `other` (open, higher): its roster joins
        `other`'s knowledge and my subtasks move there. False if both hold my subtasks."""
        if self.frozen or other.frozen or (self.subtasks and other.subtasks):
            return False
        other._hold_until = max(other._hold_until, self._hold_until,
                                self._started + self.gather_s)  # my hold, even if not begun
        if self.subtasks:
            other.add(self.subtasks, self.roster, self.steps)
        else:
            other.absorb(self.roster)
        self.subtasks, self.merged_into, self.frozen = (), other.number, True
        self._changed.set()
        return True

    def absorb(self, roster: Mapping[str, str]) -> None:
        """Peers of a round that ended in this one: they join its roster (announced)."""
        if not self.frozen and self._learn(roster, ()):
            self._announce_soon()

    def _wake_at(self, when: float) -> None:
        """Look at the agreement again at `when` (the hold's end)."""
        if self._woken_at != when:
            self._woken_at = when
            self._timers.append(self._loop.call_at(when, self._changed.set))

    def _open_end(self) -> float:
        """`open_s` after the last news (a peer heard from for the first time, or knowing
        more): a peer is dead for the round only once it stayed silent that long while
        nothing else changed. On a cold cluster (connections still being set up) the
        last peers can hear of a round a second after it opened; they are late, not dead.
        News is finite (knowledge only grows), so the opening still ends."""
        return max(self._started, self._hold_until, self._news) + self.timing.open_s

    def _leader_gone(self) -> float:
        """When my leader counts as dead if I hear nothing more from it: it answers each
        of my resends (every `RESEND_S`), so silence for a request's timeout is a death;
        but not before `COLD_LEADER * open_s` from the round's start, as on a cold cluster
        (connections still being set up) a live leader can hear of a round a second late.
        A second leader waited for has warm connections: a timeout then (two silent peers
        first by name still fit a 3 s round)."""
        if self.leader() == self.name:
            return math.inf
        return max(self._leader_heard + self.timing.ask_timeout_s,
                   self._started + COLD_LEADER * self.timing.open_s)

    def _agreed(self) -> bool:
        if self.merged_into is not None:
            return True  # nothing more to agree on here
        if self._loop.time() < self._hold_until:
            self._wake_at(self._hold_until)
            return False
        if self._adopted:
            return True
        if self.leader() != self.name:
            return False  # the leader settles it: I wait for its frozen roster
        return all(self._covered(p) for p in self.roster if p != self.name and p not in self.dead)

    def leader(self) -> str:
        """Who settles the round: the first live roster peer by name (every peer applies
        the same rule to the roster, which only grows, so it knows whom to tell)."""
        return min((p for p in self.roster if p not in self.dead), default=self.name)

    def _covered(self, peer: str) -> bool:
        """`peer` told me its figures, and I know all it knows of the round."""
        theirs = self._theirs.get(peer)
        mine = self.knowledge()
        return (peer in self.announced and theirs is not None
                and theirs[0] <= mine[0] and theirs[1] <= mine[1])

    def on_round_open(self, peer: str, body: wire.RoundOpen) -> None:
        """An announcement: learn from it, or (frozen) answer it with my knowledge. One
        that tells me nothing new is a peer announcing again because it has not heard me:
        it gets my announcement back."""
        figures = figures_of(body)
        theirs: Knowledge = (frozenset(body.roster), frozenset(body.sources))
        old_roster, old_sources = self._theirs.get(peer, (None, None))
        repeat = old_roster is not None and theirs[0] <= old_roster and theirs[1] <= old_sources
        if self.frozen:  # my knowledge back: it adopts it (and, if left out, plays the next)
            # a peer I called as the leader gets the frozen roster anyway; one announcing
            # again has not got it
            behind = theirs != self.knowledge() and peer not in self._called
            if (behind or repeat) and not body.frozen and peer not in self.dead:
                address = dict(zip(body.roster, body.addresses, strict=True))[peer]
                self._spawn(self.courier.send(peer, self._open_body(frozen=True), address))
                if peer not in self.roster:  # a late source: it waits for this round's end
                    self._late[peer] = address  # (`release_late`), then plays the next
            return
        if peer not in self.announced or not repeat:
            self._news = self._loop.time()
        if self.name != self.leader() != peer and peer not in self._answered:
            self._callers.add(peer)  # it calls me as a leader, having judged mine dead
            self._announce_soon()  # (each peer judges alone): it gets my figures once
        self.announced[peer] = figures
        if body.hold_s > 0 and math.isfinite(body.hold_s):
            self._hold_until = max(self._hold_until,
                                   self._loop.time() + min(body.hold_s, self.timing.open_s))
        if body.frozen:
            self._adopt(body)
        elif self._learn(dict(zip(body.roster, body.addresses, strict=True)), body.sources):
            if peer != self.leader() or not self._covers(theirs):
                self._announce_soon()  # (my leader knows all it told me, and all I know)
        elif self._loop.time() - self._answered.get(peer, -math.inf) >= RESEND_S and (
                (repeat and self.leader() == self.name)
                or (self.name != self.leader() != peer and not self._covers(theirs))):
            # a peer announcing again to me, its leader, has not heard me (or waits for the
            # frozen roster: my answer says I am alive); one that is not my leader and
            # knows less than I do (it may think it leads) learns what I know
            self._answered[peer] = self._loop.time()  # at most once a resend period: my
            self._spawn(self.courier.send(peer, self._open_body()))  # answer is a repeat too
        if peer == self.leader():
            self._news = self._leader_heard = self._loop.time()  # alive: I wait for it
        # a peer's knowledge only grows, and its announcements may overtake each other
        self._theirs[peer] = (old_roster or frozenset()) | theirs[0], (old_sources or frozenset()) | theirs[1]
        self._changed.set()

    def _covers(self, theirs: Knowledge) -> bool:
        mine = self.knowledge()
        return mine[0] <= theirs[0] and mine[1] <= theirs[1]

    def _learn(self, roster: Mapping[str, str], sources: Sequence[str]) -> bool:
        """Add what an announcement knows to mine; True if mine grew."""
        before = self.knowledge()
        for p, address in roster.items():
            if p not in self.dead:
                self.roster.setdefault(p, address)
        self.known_sources |= {p for p in sources if p in self.roster}
        return self.knowledge() != before

    def _adopt(self, body: wire.RoundOpen) -> None:
        """A peer froze the round: its knowledge is the round's."""
        roster = dict(zip(body.roster, body.addresses, strict=True))
        if body.players:  # the leader's: every player's figures (else a round over there)
            self.announced.update(players_of(body))
        self.roster = {p: self.roster.get(p, a) for p, a in roster.items()}
        self.courier.addresses = self.roster
        self.known_sources = set(body.sources) & set(self.roster)
        self._adopted = True
        if self.subtasks and self.name not in self.known_sources:
            self._wait_at_most(body.budget_s)

    def _wait_at_most(self, budget_s: float) -> None:
        """Left out of a round its sender had `budget_s` left of: it is over by then
        (ROUND_DONE, `release_late`, tells me sooner), so I wait no longer for it (if no
        one that froze it lives to tell me, my subtasks would wait out my own deadline)."""
        if (self._timeout is None or self._timeout.expired()
                or not (math.isfinite(budget_s) and budget_s >= 0)):
            return  # (my round is over, or ending: nothing to bring in)
        end = self._loop.time() + budget_s + self.timing.ask_timeout_s
        if end < self.deadline:
            self.deadline = end
            self._timeout.reschedule(end)

    def _announce_soon(self) -> None:
        """Announce my grown knowledge once what arrives with it has been read: growths
        that come together cost one announcement, not one each."""
        if not self._announcing:  # (before my round has started, `_open` announces it all)
            self._announcing = self._spawn(self._announce_later()) is not None

    async def _announce_later(self) -> None:
        await asyncio.sleep(COALESCE_S)
        self._announcing = False
        if not self.frozen:
            self._announce_all()

    def _announce_all(self, lagging: bool = False) -> None:
        """ROUND_OPEN to the leader; as the leader, to every live roster peer not yet
        called (frozen: to every player). `lagging`: again, to those my last send to
        which failed and that have not answered what I know (one handed over reaches
        it, and a peer whose own send to me failed sends again)."""
        body, leading = self._open_body(frozen=self.frozen), False
        if self.frozen:
            targets = [p for p in self.roster if p != self.name and p not in self.dead]
        elif self.leader() != self.name:  # (again and again while I wait: it answers)
            targets = [self.leader(), *sorted(self._callers - self.dead - {self.leader()})]
        else:
            leading = True
            targets = [p for p in self.roster if p != self.name and p not in self.dead
                       and (p in self._unsent and not self._covered(p) if lagging
                            else p not in self._called)]
        for p in targets:
            if self._spawn(self._announce_to(p, body)) is None:
                continue  # (none before my round has started: `_open` calls)
            if leading:
                self._called.add(p)
            elif p in self._callers:
                self._callers.discard(p)
                self._answered[p] = self._loop.time()

    async def _announce_to(self, peer: str, body: wire.RoundOpen) -> None:
        if await self.courier.send(peer, body):
            self._unsent.discard(peer)
        else:
            self._unsent.add(peer)

    def _open_body(self, frozen: bool = False) -> wire.RoundOpen:
        now = self._loop.time()
        if not frozen:
            return open_body(self.number, max(0.0, self.deadline - now), self.roster,
                             self.figures, bool(self.subtasks), self.known_sources, frozen,
                             max(0.0, self._hold_until - now))
        players = {p: self.announced[p] for p in self.roster
                   if p not in self.dead and p in self.announced}  # (all, once frozen)
        body = open_body(self.number, max(0.0, self.deadline - now),
                         {p: self.roster[p] for p in players}, self.figures,
                         bool(self.subtasks), self.known_sources & players.keys(), True)
        return dataclasses.replace(body, **player_columns(players))


def _reaching(figures: Figures, me: str) -> Figures:
    """A peer's figures with only its link to my worker role: a worker's agent holds,
    refuses and votes on its own site alone (`steps.hold`, `steps.worker_refuses`: its
    load, cap, quota and reach), so the links between sources and the other workers are
    never read (8 links instead of 192 in a view of 8 sources x 24 workers: the view's
    cost is mostly its links)."""
    mine = tuple(lk for lk in figures.links if lk.peer == me)
    return figures if len(mine) == len(figures.links) else dataclasses.replace(figures, links=mine)


_DETACHED: set[asyncio.Task] = set()  # sends that outlive their round (`release_late`)


def detach(send) -> None:
    """Run a best-effort send (`Courier.send`: it never raises) after its round is over."""
    task = asyncio.ensure_future(send)
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)


def open_body(number: int, budget_s: float, roster: Mapping[str, str], f: Figures,
              source: bool, sources: Iterable[str], frozen: bool = False,
              hold_s: float = 0.0) -> wire.RoundOpen:
    """A ROUND_OPEN: my figures and what I know of round `number`."""
    return wire.RoundOpen(
        round=number, budget_s=budget_s,
        roster=tuple(roster), addresses=tuple(roster.values()), rule=f.rule,
        quota=f.quota, speed=f.speed, backlog_ref_s=f.backlog_ref_s,
        backlog_sources=tuple(s for s, _ in f.backlog_by_source),
        backlog_source_ref_s=tuple(w for _, w in f.backlog_by_source),
        source=source, local_speed=f.local_speed,
        local_backlog_ref_s=f.local_backlog_ref_s,
        link_peers=tuple(lk.peer for lk in f.links),
        link_Bps=tuple(lk.bandwidth_Bps for lk in f.links),
        link_latency_s=tuple(lk.latency_s for lk in f.links),
        cap=f.cap, rate=f.rate, nic_Bps=f.nic,
        sources=tuple(sorted(sources)), frozen=frozen, hold_s=hold_s,
    )


def round_over_body(number: int, me: str, my_address: str, figures: Figures, peer: str,
                    address: str, latest: int = 0) -> wire.RoundOpen:
    """The answer to a ROUND_OPEN for a round already over here: frozen, without the
    sender among its sources, so the sender's subtasks go to the next round, after
    `latest` (the highest played to its end here: a source new to the cluster would
    otherwise try the rounds it missed one by one; not one still in play, which the sender
    then asks to join: it takes the sender if still open, else answers it frozen and the
    sender waits for its end, `release_late`, as rounds must not overlap)."""
    body = open_body(number, 0.0, {me: my_address, peer: address}, figures, False, (), True)
    return dataclasses.replace(body, latest=latest)
