"""The live round's small parts: the frozen roster's figures, the lazy hopeful steps, and
how many messages the leader's opening and phase 1's end cost."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fognet.errors import WireError
from fognet.matching.bounds import StepBounds
from fognet.matching.game import deferred_acceptance, play
from fognet.matching.random_instance import random_instance
from fognet.matching.steps import Ledger, candidates
from fognet.net import codec
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.wire import Header
from fognet.peer.match.courier import Timing, player_columns, players_of
from fognet.peer.match.opening import open_body
from fognet.peer.match.phase2 import InOrder
from fognet.placement.instance import split_instance, states_instance
from fognet.testing.live_match import live_peers, play_open, play_round, round_outcome

TIMING = Timing(ask_timeout_s=1.0, open_s=2.0, phase1_s=2.0, settle_s=0.05, lock_timeout_s=1.0)


def test_a_frozen_roster_carries_every_players_figures_across_the_wire() -> None:
    states = list(split_instance(random_instance(2, 3, 2, seed=4, drop_links=0.3)).values())
    players = {st.name: (st.figures, bool(st.subtasks)) for st in states}
    split = (("car1", 0.25), ("car9", 0.5))  # one worker's backlog by source: it must reach every player
    worker = next(n for n, (f, _) in players.items() if f.quota)
    players[worker] = (replace(players[worker][0], backlog_by_source=split), players[worker][1])
    roster = {st.name: f"127.0.0.1:{5000 + k}" for k, st in enumerate(states)}
    body = replace(open_body(7, 1.0, roster, states[0].figures, False, ["car1", "car2"], True),
                   **player_columns(players))
    decoded = codec.decode(codec.encode(Header(body, sender="x")))[0].body
    assert decoded.players and players_of(decoded) == players
    assert players_of(decoded)[worker][0].backlog_by_source == split
    bad = replace(decoded, p_cap=(2.0,) * len(states))  # a cap no worker can lend
    with pytest.raises(WireError, match="cap"):
        players_of(bad)


def test_hopeful_steps_are_read_in_the_candidates_order_as_far_as_asked() -> None:
    inst = random_instance(3, 4, 3, seed=9)
    ledger, where = Ledger(inst), deferred_acceptance(inst).assignment
    for s in inst.subtasks:
        ledger.place(s, where[s.id])
    me = inst.sources[0]
    every = set(StepBounds(inst, ledger).hopeful(me))
    assert every  # after phase 1 some step may help
    lazy = InOrder(StepBounds(inst, ledger).hopeful(me))
    listed = candidates(inst, me, ledger)
    assert [step in lazy for step in listed] == [step in every for step in listed]
    assert all(step in lazy for step in every)  # asked again: still hopeful


async def test_the_opening_costs_messages_linear_in_the_peers() -> None:
    """Through the leader: each peer's figures once to it, its call and the frozen roster
    once to each peer (every peer announcing to every other was n(n-1) = 240 here). Phase
    1 ends with a HOSTED per worker and source that proposed to it, and one placement per
    pair of sources (it was one HOSTED per worker and source)."""
    inst = random_instance(4, 12, 4, seed=516)
    states = split_instance(inst).values()
    network = MemoryNetwork()
    async with asyncio.timeout(30), live_peers(
            states, lambda name: MemoryTransport(network, name), TIMING) as peers:
        out = await play_round(peers, 1, 10.0)
    n, sources = len(peers), len(inst.sources)
    assert out.completed and out.assignment == dict(play(states_instance(states)).assignment)
    assert out.sent["ROUND_OPEN"] <= 5 * n
    assert out.sent["HOSTED"] <= out.sent["PROPOSE"] + sources * (sources - 1)
    assert out.sent.get("MATCH_ACK", 0) <= out.sent["TURN"] + out.sent.get("REJECT", 0)


async def test_a_silent_leader_is_dropped_and_the_next_peer_by_name_leads() -> None:
    """The first roster peer by name never answers: after `open_s` without news each
    peer finds it dead for the round (alone: no PEER_GONE, it might only be slow), the
    next peer by name leads, and the round is the one `play` plays without it (a peer
    that adopted the frozen roster before judging it has it out of the round, not dead)."""
    inst = random_instance(2, 3, 3, seed=8)
    states = list(split_instance(inst).values())
    timing = replace(TIMING, open_s=0.4)
    network = MemoryNetwork()
    async with asyncio.timeout(30), live_peers(
            states, lambda name: MemoryTransport(network, name), timing) as peers:
        names = sorted(inst.sources)
        rosters = {n: ["a-ghost", *(st.name for st in states)] for n in names}
        results = await play_open(peers, names, 10.0, rosters)
        (number,) = {r.round for r in results.values()}
        out = await round_outcome(peers, number, 10.0)
    assert out.completed and set(out.results) == {st.name for st in states}
    assert all(r.dead == ("a-ghost",) for n, r in out.results.items() if n in names)
    assert all(set(r.dead) <= {"a-ghost"} for r in out.results.values())
    assert out.assignment == dict(play(states_instance(states)).assignment)
