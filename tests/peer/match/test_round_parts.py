"""The live round's small parts: the frozen roster's figures, the hopeful steps asked, and
how many messages the leader's opening and phase 1's end cost."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fognet.errors import WireError
from fognet.matching.game import play
from fognet.matching.random_instance import random_instance
from fognet.net import codec, wire
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.wire import Header
from fognet.peer.match.courier import Timing, player_columns, players_of
from fognet.peer.match.opening import open_body
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
    # a bad link of one player among the flattened columns refuses the message, as its
    # own ROUND_OPEN's would: a source's links start at its offset in p_link_*
    k = next(i for i, n in enumerate(decoded.p_links) if n >= 2)
    first = sum(decoded.p_links[:k])
    for column, at, value, why in (("p_link_Bps", first + 1, float("nan"), "links"),
                                   ("p_link_latency_s", first + 1, -1.0, "links"),
                                   ("p_link_peers", first + 1, decoded.p_link_peers[first],
                                    "listed twice")):
        cut = list(getattr(decoded, column))
        cut[at] = value
        with pytest.raises(WireError, match=why):
            players_of(replace(decoded, **{column: tuple(cut)}))


@pytest.mark.parametrize("seed", [516, 9])
async def test_the_turn_holders_ask_only_the_steps_play_commits(seed: int) -> None:
    """Once every source's list of its subtasks at home is in, a Turn holder's agent walks
    the game's hopeful steps and drops unasked those the parties would refuse: every step
    asked is committed (no STEP_ABORT), and they are the steps `play` commits."""
    inst = random_instance(4, 12, 4, seed=seed)
    states = split_instance(inst).values()
    network = MemoryNetwork()
    async with asyncio.timeout(30), live_peers(
            states, lambda name: MemoryTransport(network, name), TIMING) as peers:
        out = await play_round(peers, 1, 10.0)
    played = play(states_instance(states))
    c = played.counts
    sources = [r for name, r in out.results.items() if name in r.sources]
    assert out.completed and out.assignment == dict(played.assignment)
    assert c.moves + c.swaps + c.displacements > 0  # phase 2 had steps to take
    assert sum(r.steps for r in sources) == sum(r.commits for r in sources)
    assert sum(r.commits for r in sources) == c.moves + c.swaps + c.displacements
    assert "STEP_ABORT" not in out.sent


async def test_the_opening_costs_messages_linear_in_the_peers() -> None:
    """Through the leader: each peer's figures once to it, its call and the frozen roster
    once to each peer (every peer announcing to every other was n(n-1) = 240 here). Phase
    1 ends with each source's PROPOSALS_DONE to the leader and the leader's to each worker
    (it was one per source and worker), a HOSTED per worker and source that proposed to it,
    and one placement per pair of sources (it was one HOSTED per worker and source)."""
    inst = random_instance(4, 12, 4, seed=516)
    states = split_instance(inst).values()
    network = MemoryNetwork()
    async with asyncio.timeout(30), live_peers(
            states, lambda name: MemoryTransport(network, name), TIMING) as peers:
        out = await play_round(peers, 1, 10.0)
    n, sources = len(peers), len(inst.sources)
    assert out.completed and out.assignment == dict(play(states_instance(states)).assignment)
    assert out.sent["ROUND_OPEN"] <= 5 * n
    assert out.sent["PROPOSALS_DONE"] <= 2 * (n - 1)  # 48 when each source told each worker
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


def late_homes(transport, delay_s: float) -> None:
    """`transport`'s source sends its HOSTED home (its subtasks' sites) `delay_s` late."""
    send = transport.send

    async def slow(addr, header, tensors=None, timeout_s=1.0):
        if isinstance(header.body, wire.Hosted) and header.body.home:
            await asyncio.sleep(delay_s)
        return await send(addr, header, tensors, timeout_s)

    transport.send = slow


@pytest.mark.parametrize("seed", [8, 14])
async def test_after_a_death_the_turn_holder_still_waits_for_the_live_sources_lists(seed):
    """A silent leader is a death at every source; car2's list of where its subtasks are
    comes 0.3 s late. car1, holding the Turn first, waits for it (up to ask_timeout_s) but
    not for the dead: car2's subtasks on a worker car1 did not propose to are only in that
    list, and without them a step's parties (read from car1's ledger) left car2 out."""
    inst = random_instance(2, 5, 3, seed=seed)
    states = list(split_instance(inst).values())
    network = MemoryNetwork()
    async with asyncio.timeout(30), live_peers(
            states, lambda name: MemoryTransport(network, name), replace(TIMING, open_s=0.4)) as peers:
        late_homes(peers["car2"].transport, 0.3)
        names = sorted(inst.sources)
        rosters = {n: ["a-ghost", *(st.name for st in states)] for n in names}
        results = await play_open(peers, names, 10.0, rosters)
        (number,) = {r.round for r in results.values()}
        out = await round_outcome(peers, number, 10.0)
    assert out.completed and all(out.results[n].dead == ("a-ghost",) for n in names)
    assert out.assignment == dict(play(states_instance(states)).assignment)
