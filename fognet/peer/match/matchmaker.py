"""DINA-O between live peers: the matching rounds one peer takes part in.

A `Matchmaker` owns this peer's agents for each round (`fognet.peer.match.live_round.LiveRound`
plays one round; the pure game is `fognet.matching.agent`). How a peer hosts it:

    mm = Matchmaker(name, transport, figures, timing=Timing())
        figures: Figures, or a callable returning the current ones (speed, backlog, quota
        as a worker; own device and links as a source), read when a round opens
    group.create_task(mm.run())                   # in the owner's TaskGroup; until cancelled
    # in the transport's serve handler, for every type in MATCH_TYPES:
    reply = await mm.handle(header)               # Header | None; raises WireError -> ERROR
    result = await mm.play(None, roster, subtasks, deadline_s, gather_s)   # a source plays:
        # the round open here, else the next; result.round says which one it was
    mm.submit(subtasks)                           # or queue them for the next round it joins
    result = await mm.wait_round(round, timeout_s)   # any peer: how round r ended here
    mm.peer_dead(name)                            # membership declared a peer dead

`roster` maps the names of the peers that play the round to their "host:port"; it travels
in ROUND_OPEN, so a peer that did not open the round joins it on the first ROUND_OPEN it
gets (playing the subtasks it has queued, if any). Rounds are numbered cluster-wide
without a coordinator: `play(None, ...)` joins the round open here, else opens the one
after every round this peer has seen (sources re-planning at once pick the same number);
the peers of a round agree on who plays it (`opening.py`: rosters and sources merge), so
every source that re-plans while it is open plays the same game, and one arriving after
it froze waits for its end and plays the next. Rounds opened at once with different
numbers end in the highest (`_merge_open`; `RoundResult.merged_into` says where a lower
one went, and `play` follows it).

Identities: a peer is a source under its name and a worker under `name#w`
(`fognet.placement.instance.worker_id`), so one peer can be both; results name sites by game id.
The transport's node id must be the peer's name (as `fognet.peer.node.Peer` sets it).

Each `RoundResult` carries the messages this peer sent in the round, by wire type.

Hosting it in `fognet.peer.node.Peer` (a sketch; PING must keep its PONG reply, the
matchmaker uses it to probe a silent Turn holder):

    self.matchmaker = Matchmaker(self.name, self.transport,
                                 lambda: figures_from_cluster(self.name, self.cluster_state()))
    self._handlers |= dict.fromkeys(MATCH_TYPES, lambda h, t: self.matchmaker.handle(h))
    group.create_task(self.matchmaker.run())                        # in run()
    if event.kind is not EventKind.JOIN: self.matchmaker.peer_dead(event.member.node_id)
    result = await self.matchmaker.play(n, self.live_peers(), subtasks)   # as a source
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable, Mapping

from fognet.errors import ConfigError, InstanceError, PeerError, PeerUnreachable, Refused, WireError
from fognet.matching.instance import Subtask
from fognet.matching.round_rules import winning_round
from fognet.net import wire
from fognet.net.base import Transport
from fognet.net.wire import Header, MsgType, Reason
from fognet.peer.match.live_round import LiveRound, Timing, figures_of
from fognet.peer.match.opening import round_over_body
from fognet.peer.match.round_values import RoundResult
from fognet.placement.instance import Figures

log = logging.getLogger(__name__)

# the message types a peer hands to `Matchmaker.handle` (ACCEPT, STEP_VOTE and MATCH_ACK
# only come back as replies to this peer's own requests)
MATCH_TYPES = frozenset({
    MsgType.ROUND_OPEN, MsgType.PROPOSE, MsgType.REJECT, MsgType.PROPOSALS_DONE,
    MsgType.HOSTED, MsgType.TURN, MsgType.STEP_ASK, MsgType.STEP_COMMIT, MsgType.STEP_ABORT,
    MsgType.ROUND_DONE, MsgType.PEER_GONE,
})
_ONE_WAY = frozenset({
    MsgType.ROUND_OPEN, MsgType.PROPOSALS_DONE, MsgType.HOSTED,
    MsgType.STEP_COMMIT, MsgType.STEP_ABORT, MsgType.ROUND_DONE, MsgType.PEER_GONE,
})
MAX_BUDGET_S = 3600.0
KEEP_RESULTS = 16
MAX_ROUNDS_IN_PLAY = 8  # rounds others drew this peer into, at once: a ROUND_OPEN flood is bounded
MAX_ROSTER = 256  # peers in one round (each costs a connection and messages)
# how far past the rounds this peer has seen a message may number one (a century of 1 s
# rounds: a peer new to an old cluster still learns its count; wire.MAX_ROUND caps it all)
MAX_ROUNDS_AHEAD = 2**32


class Matchmaker:
    """See the module docstring."""

    def __init__(self, name: str, transport: Transport,
                 figures: Figures | Callable[[], Figures], *, timing: Timing | None = None) -> None:
        if not name or "#" in name:
            raise ConfigError(f"peer name {name!r} cannot play the matching game: "
                              "it must be non-empty and without '#'")
        self.name, self.transport = name, transport
        self.timing = timing or Timing()
        self._figures = figures if callable(figures) else (lambda: figures)
        self._queued: tuple[Subtask, ...] = ()
        self._queued_into: int | None = None  # the round that took the queued subtasks
        self._steps = True  # my source plays phase 2 (False: greedy, see `play`)
        self._seen = 0  # the highest round number this peer has heard of
        self._finished = 0  # the highest round number played to its end here
        self._rounds: dict[int, LiveRound] = {}
        self._merged: dict[int, int] = {}  # round -> the higher round it ended in here
        self._results: dict[int, RoundResult] = {}
        self._done: dict[int, asyncio.Event] = {}
        self._starts: asyncio.Queue[LiveRound] = asyncio.Queue()
        self._running = False
        self._sends: set[asyncio.Task] = set()  # answers to ROUND_OPENs of rounds over here

    # --- owner's side -----------------------------------------------------------------

    async def run(self) -> None:
        """Play every round this peer opens or is drawn into, until cancelled."""
        self._running = True
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    live = await self._starts.get()
                    group.create_task(self._play(live))
        finally:
            self._running = False

    def submit(self, subtasks: Iterable[Subtask]) -> None:
        """This peer's subtasks for the next round it plays."""
        subtasks = tuple(subtasks)
        for s in subtasks:
            if s.source != self.name:
                raise InstanceError(f"subtask {s.id} belongs to {s.source!r}, not {self.name!r}")
            if not (math.isfinite(s.work) and s.work >= 0 and s.in_bytes >= 0 and s.out_bytes >= 0):
                raise InstanceError(f"subtask {s.id}: work and bytes must be finite and >= 0")
        if len({s.id for s in subtasks}) != len(subtasks):
            raise InstanceError(f"{self.name}: subtask ids must be unique")
        self._queued, self._queued_into = subtasks, None

    async def play(self, number: int | None, roster: Mapping[str, str],
                   subtasks: Iterable[Subtask] | None = None,
                   deadline_s: float | None = None, gather_s: float = 0.0,
                   steps: bool = True) -> RoundResult:
        """Play my subtasks in round `number` among `roster`, to its end (or its deadline).

        They join the round if it is open here (its players not yet settled), even if
        another source opened it; a round already frozen or over sends them to the next.
        `number=None`: the round open here, else the one after every round seen, so the
        sources of a cluster that re-plan at the same moment pick the same number. Returns
        the result of the round they were played in (`RoundResult.round`). `gather_s`: a
        round this call opens is announced only after this long, so sources re-planning
        within it play in it too (each opens the same number; their rounds merge).
        `steps=False`: phase 1 only (greedy, a baseline): when my source first holds the
        Turn it ends the round, so every source of the round should play so."""
        if not self._running:
            raise PeerError(f"{self.name}: start Matchmaker.run() before playing a round")
        if subtasks is not None:
            self.submit(subtasks)
        self._steps = steps
        roster = {self.name: self.transport.address, **roster}
        budget = self.timing.deadline_s if deadline_s is None else deadline_s
        number = self._open_number() if number is None else number
        for _ in range(KEEP_RESULTS):
            number = await self._enter(number, roster, budget, gather_s)
            result = await self.wait_round(number, budget + 1.0)
            while result.merged_into is not None:  # opened at once with a higher one
                number = result.merged_into
                result = await self.wait_round(number, budget + 1.0)
            if not result.left_out:
                return result
            number = max(number, self._seen) + 1
        raise PeerError(f"{self.name}: my subtasks were left out of {KEEP_RESULTS} rounds "
                        "in a row")

    def _open_number(self) -> int:
        """The round open here (players not yet settled; if several, the highest: the
        others end in it, see `_merge_open`); else the last one in play
        (`_enter` waits for its end: a round's workers grant their capacity once, so the
        next round does not overlap it); else the next unseen one."""
        top = winning_round([n for n, live in self._rounds.items() if not live.frozen])
        return top if top is not None else max(self._rounds, default=self._seen + 1)

    async def _enter(self, number: int, roster: Mapping[str, str], budget: float,
                     gather_s: float = 0.0) -> int:
        """Put my queued subtasks into round `number`, or the first later one still open;
        the number of the round they went into."""
        while True:
            if not self._queued and self._queued_into is not None:
                return self._queued_into  # a ROUND_OPEN drew them into a round meanwhile
            live = self._rounds.get(number)
            if live is None and number not in self._results:
                self._join(number, roster, asyncio.get_running_loop().time() + budget, gather_s)
                self._merge_open()
                return number
            if live is not None and not live.frozen and not live.subtasks:
                live.add(self._take_queued(), roster, self._steps)
                return number
            if live is not None:  # settled without them: they wait for the next round
                await live.over.wait()
            number = max(number, self._seen) + 1

    def _take_queued(self) -> tuple[Subtask, ...]:
        subtasks, self._queued = self._queued, ()
        return subtasks

    async def wait_round(self, number: int, timeout_s: float | None = None) -> RoundResult:
        """How round `number` ended on this peer (waits for it to end)."""
        done = self._done.setdefault(number, asyncio.Event())
        try:
            async with asyncio.timeout(timeout_s):
                await done.wait()
        except TimeoutError:
            raise PeerUnreachable(f"{self.name}: round {number} did not end within "
                                  f"{timeout_s:.3g} s") from None
        return self._results[number]

    def result(self, number: int) -> RoundResult | None:
        return self._results.get(number)

    def in_play(self, number: int) -> LiveRound | None:
        """Round `number` while it is being played here (its events: ready, cut, phase2, over)."""
        return self._rounds.get(number)

    def peer_dead(self, name: str) -> None:
        """Membership says `name` is dead: every round in play goes on without it."""
        for live in self._rounds.values():
            live.drop(name)

    # --- the network's side -------------------------------------------------------------

    async def handle(self, header: Header) -> Header | None:
        """A matching message from another peer; the reply to send, if any."""
        body = header.body
        if header.type not in MATCH_TYPES:
            raise Refused(f"{header.type.value} is not a matching message", Reason.UNSUPPORTED)
        self._check_round(body)
        live = self._rounds.get(body.round)
        if isinstance(body, wire.RoundOpen):
            figures_of(body)  # refuse a malformed opening before it counts for anything
            if len(body.roster) > MAX_ROSTER:  # (a frozen one is adopted as it is)
                raise WireError(f"roster: {len(body.roster)} peers, more than {MAX_ROSTER}")
            self._seen = max(self._seen, body.round, body.latest)
            if not body.frozen and body.round in self._merged:
                self._redirect(header.sender, body)
                return None
        if live is None and isinstance(body, wire.RoundOpen) and body.round not in self._results:
            live = self._join_from(header.sender, body)
        if live is None and isinstance(body, wire.RoundOpen) and not body.frozen:
            self._answer_over(header.sender, body)  # a round over here: play the next one
            return None
        if live is None:
            if header.type in _ONE_WAY:
                log.debug("%s: %s for round %d ignored (not in play)", self.name,
                          header.type.value, body.round)
                return None
            raise Refused(f"{self.name} is not playing round {body.round}", Reason.STALE_ROUND)
        reply = await live.handle(header)
        if isinstance(body, wire.RoundOpen):
            self._merge_open()
        return None if reply is None else Header(reply)

    def _check_round(self, body: wire.Body) -> None:
        """Round numbers from the wire: at most `MAX_ROUNDS_AHEAD` past what I have seen
        (one message must not push the cluster's count to where it cannot be encoded)."""
        top = self._seen + MAX_ROUNDS_AHEAD
        for field in ("round", "latest"):
            n = getattr(body, field, 0)
            if not 0 <= n <= top:
                raise WireError(f"{field}: round {n} is not in [0, {top}] (rounds seen here: "
                                f"{self._seen})")

    def _merge_open(self) -> None:
        """Rounds open here at once end in the highest (opening.py: every peer that sees
        them both does the same, so the cluster plays one game)."""
        open_ = [n for n, live in self._rounds.items() if not live.frozen]
        top = winning_round(open_)
        for n in open_:
            if n != top and self._rounds[n].merge_into(self._rounds[top]):
                log.info("%s: round %d ends in round %d (opened at once)", self.name, n, top)
                self._merged[n] = top
                if self._queued_into == n:
                    self._queued_into = top

    def _redirect(self, sender: str, body: wire.RoundOpen) -> None:
        """An announcement of a round that ended here in a higher one: its sender's
        peers join that one (and its sources move there), or, if that one's players are
        settled, the sender is told the round is over (it plays the next)."""
        target = body.round
        while target in self._merged:
            target = self._merged[target]
        live = self._rounds.get(target)
        if live is None or live.frozen:
            self._answer_over(sender, body)
            return
        roster = dict(zip(body.roster, body.addresses, strict=True))
        if sender not in roster:
            raise Refused(f"ROUND_OPEN from {sender!r}: the roster must name it",
                          Reason.NOT_FOUND)
        live.absorb(roster)

    def _answer_over(self, sender: str, body: wire.RoundOpen) -> None:
        addresses = dict(zip(body.roster, body.addresses, strict=True))
        if sender not in addresses:
            return
        reply = round_over_body(body.round, self.name, self.transport.address, self._figures(),
                                sender, addresses[sender], self._finished)
        task = asyncio.ensure_future(self.transport.send(addresses[sender], Header(reply),
                                                         timeout_s=self.timing.ask_timeout_s))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # best effort
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    # --- rounds -----------------------------------------------------------------------

    def _join_from(self, sender: str, body: wire.RoundOpen) -> LiveRound:
        """(`handle` checked its figures and roster size.)"""
        if not (math.isfinite(body.budget_s) and 0 <= body.budget_s <= MAX_BUDGET_S):
            raise WireError(f"budget_s: {body.budget_s!r} is not in [0, {MAX_BUDGET_S}]")
        if len(self._rounds) >= MAX_ROUNDS_IN_PLAY:
            raise Refused(f"{self.name} already plays {len(self._rounds)} rounds", Reason.BUSY)
        roster = dict(zip(body.roster, body.addresses, strict=True))
        if self.name not in roster or sender not in roster:
            raise Refused(f"ROUND_OPEN from {sender!r}: the roster must name it and "
                          f"{self.name!r}", Reason.NOT_FOUND)
        return self._join(body.round, roster, asyncio.get_running_loop().time() + body.budget_s)

    def _join(self, number: int, roster: Mapping[str, str], deadline: float,
              gather_s: float = 0.0) -> LiveRound:
        figures = self._figures()
        subtasks = self._take_queued()
        if subtasks:
            self._queued_into = number
        self._seen = max(self._seen, number)
        live = LiveRound(self.name, number, roster, deadline, figures, subtasks,
                         self.transport, self.timing, gather_s, steps=self._steps)
        self._rounds[number] = live
        self._done.setdefault(number, asyncio.Event())
        self._starts.put_nowait(live)
        return live

    async def _play(self, live: LiveRound) -> None:
        try:
            result = await live.play()
        finally:
            self._rounds.pop(live.number, None)
        if live.left_out and not self._queued:  # they play in the next round
            self.submit(live.spare)
        self._finished = max(self._finished, live.number)  # (a late source starts past it)
        self._results[live.number] = result
        self._done[live.number].set()
        for old in sorted(self._results)[:-KEEP_RESULTS]:
            self._results.pop(old)
            self._done.pop(old, None)
            self._merged.pop(old, None)
        log.info("%s: round %d %s in %.3f s, sent %d messages", self.name, live.number,
                 "done" if result.completed else "cut short", result.elapsed_s,
                 sum(result.sent.values()))
