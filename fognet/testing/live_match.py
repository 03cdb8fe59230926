"""A matching round among live peers in one process, each with its own transport.

For tests and `scripts/bench_matching`: every peer gets its own transport (ZeroMQ on
127.0.0.1, or the in-memory twin), its own `Matchmaker` and only its own state.

    async with live_peers(states, make_transport, timing) as peers:   # {name: LivePeer}
        outcome = await play_round(peers, number=1, deadline_s=10.0)
        await peers["w2"].kill()            # close its transport: it is gone, mid-anything
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from fognet.errors import FognetError, Refused
from fognet.matching.instance import Instance, PeerId, SubtaskId
from fognet.net.base import Transport
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason
from fognet.peer.match.live_round import Timing
from fognet.peer.match.matchmaker import MATCH_TYPES, Matchmaker
from fognet.peer.match.round_values import RoundResult
from fognet.placement.instance import PeerState, states_instance

# an ask unanswered this long makes a peer dead for the round, and a round with a death is not
# play's: 0.3 s was within a loaded 2-core CI machine's scheduling delay (one run failed so)
TEST_TIMING = Timing(ask_timeout_s=1.0, open_s=2.0, phase1_s=2.0, settle_s=0.05, lock_timeout_s=1.0)


def transports(kind: str) -> Callable[[str], Transport]:
    """A factory of real transports for live-round tests: ZeroMQ on 127.0.0.1, or one
    in-memory network shared by every peer the factory makes."""
    if kind == "zmq":
        return lambda name: ZmqTransport(name, host="127.0.0.1")
    network = MemoryNetwork()
    return lambda name: MemoryTransport(network, name)


def serve_matching(mm: Matchmaker):
    """A transport handler that serves matching messages and refuses the rest."""

    async def handler(header: Header, tensors) -> Header | None:
        if header.type in MATCH_TYPES:
            return await mm.handle(header)
        raise Refused(f"{mm.name} only plays the matching game", Reason.UNSUPPORTED)

    return handler


@dataclass
class LivePeer:
    state: PeerState
    transport: Transport
    matchmaker: Matchmaker
    tasks: list[asyncio.Task] = field(default_factory=list)
    alive: bool = True
    killed: asyncio.Event = field(default_factory=asyncio.Event)

    async def kill(self) -> None:
        """Stop serving and close the transport, as a crash would (no goodbye)."""
        self.alive = False
        self.killed.set()
        serving, playing = self.tasks
        serving.cancel()  # stop answering, then close the sockets, then stop playing
        await asyncio.gather(serving, return_exceptions=True)
        await self.transport.aclose()
        playing.cancel()
        await asyncio.gather(playing, return_exceptions=True)


@dataclass(frozen=True)
class LiveOutcome:
    instance: Instance  # what the peers' states describe (game ids)
    assignment: dict[SubtaskId, PeerId]  # every source's placement, merged
    phase1: dict[SubtaskId, PeerId]  # the same after phase 1
    results: dict[str, RoundResult]  # per live peer
    sent: dict[str, int]  # messages sent by all peers, by wire type
    elapsed_s: float  # the slowest source's round time
    completed: bool  # every source ended by ROUND_DONE (not by the deadline)


@contextlib.asynccontextmanager
async def live_peers(states: Iterable[PeerState], make_transport: Callable[[str], Transport],
                     timing: Timing | None = None) -> AsyncIterator[dict[str, LivePeer]]:
    peers: dict[str, LivePeer] = {}
    try:
        for st in states:
            transport = make_transport(st.name)
            peers[st.name] = LivePeer(st, transport, Matchmaker(st.name, transport, st.figures,
                                                                  timing=timing))
        async with asyncio.TaskGroup() as group:
            for peer in peers.values():
                peer.tasks = [
                    group.create_task(peer.transport.serve(serve_matching(peer.matchmaker))),
                    group.create_task(peer.matchmaker.run()),
                ]
            await asyncio.sleep(0)
            try:
                yield peers
            finally:
                for peer in peers.values():
                    for task in peer.tasks:
                        task.cancel()
    finally:
        for peer in peers.values():
            with contextlib.suppress(FognetError):
                await peer.transport.aclose()


async def play_round(peers: dict[str, LivePeer], number: int, deadline_s: float) -> LiveOutcome:
    """Every source opens round `number` at once; every live peer plays it to its end."""
    roster = {name: p.transport.address for name, p in peers.items() if p.alive}
    sources = [p for p in peers.values() if p.alive and p.state.subtasks]
    played = [_unless_killed(p, p.matchmaker.play(number, roster, p.state.subtasks, deadline_s))
              for p in sources]
    results = list(await asyncio.gather(*played))
    others = [p for p in peers.values() if p.alive and not p.state.subtasks]
    results += await asyncio.gather(*(
        _unless_killed(p, p.matchmaker.wait_round(number, deadline_s + 2.0)) for p in others))
    return outcome(peers, {r.peer: r for r in results if r is not None})


async def play_open(peers: dict[str, LivePeer], names: Iterable[str], deadline_s: float,
                    rosters: dict[str, list[str]] | None = None) -> dict[str, RoundResult]:
    """The sources `names` each play their subtasks in the round open on their peer (or the
    next), at once; `rosters` may give a source a roster of its own (peer names; a name
    not among `peers` is a peer that never answers)."""
    rosters = rosters or {}

    def roster(name: str) -> dict[str, str]:
        names_ = rosters.get(name, [n for n, p in peers.items() if p.alive])
        return {n: peers[n].transport.address if n in peers else "127.0.0.1:9" for n in names_}

    names = list(names)
    played = [_unless_killed(peers[n], peers[n].matchmaker.play(
        None, roster(n), peers[n].state.subtasks, deadline_s)) for n in names]
    return {n: r for n, r in zip(names, await asyncio.gather(*played), strict=True) if r}


async def round_outcome(peers: dict[str, LivePeer], number: int, timeout_s: float) -> LiveOutcome:
    """How round `number` ended on every live peer (all of them take part in it)."""
    alive = [p for p in peers.values() if p.alive]
    results = await asyncio.gather(*(
        _unless_killed(p, p.matchmaker.wait_round(number, timeout_s)) for p in alive))
    return outcome(peers, {r.peer: r for r in results if r is not None})


async def _unless_killed(peer: LivePeer, waiting) -> RoundResult | None:
    """The round's result, or None if the peer is killed first."""
    playing = asyncio.ensure_future(waiting)
    killed = asyncio.ensure_future(peer.killed.wait())
    try:
        await asyncio.wait({playing, killed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        killed.cancel()
    if not playing.done():
        playing.cancel()
        await asyncio.gather(playing, return_exceptions=True)
        return None
    return playing.result()


def outcome(peers: dict[str, LivePeer], results: dict[str, RoundResult]) -> LiveOutcome:
    sent: Counter[str] = Counter()
    assignment: dict[SubtaskId, PeerId] = {}
    phase1: dict[SubtaskId, PeerId] = {}
    for r in results.values():
        sent.update(r.sent)
        assignment.update(r.assignment)
        phase1.update(r.phase1)
    source_results = [r for name, r in results.items() if name in r.sources]
    for peer in peers.values():  # a source killed mid-round: its subtasks go nowhere
        if not peer.alive:
            for s in peer.state.subtasks:
                assignment.pop(s.id, None)
                phase1.pop(s.id, None)
    return LiveOutcome(
        instance=states_instance(p.state for p in peers.values()),
        assignment=dict(sorted(assignment.items())),
        phase1=dict(sorted(phase1.items())),
        results=results,
        sent=dict(sorted(sent.items())),
        elapsed_s=max((r.elapsed_s for r in source_results), default=0.0),
        completed=all(r.completed for r in source_results),
    )
