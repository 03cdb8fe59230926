"""A round in play against messages that pass the codec but name what the round does not
have (a site, a round number far ahead), and against a leader that is slow, not dead."""

from __future__ import annotations

import asyncio

import pytest

from fognet.errors import WireError
from fognet.matching import messages as m
from fognet.matching.game import play
from fognet.matching.instance import PeerId
from fognet.matching.random_instance import random_instance
from fognet.net import wire
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.wire import Header
from fognet.peer.match.courier import Timing
from fognet.peer.match.wire_bodies import placement_to_wire, to_wire
from fognet.placement.instance import split_instance, states_instance
from fognet.testing.live_match import live_peers, play_round

TIMING = Timing(ask_timeout_s=1.0, open_s=2.0, phase1_s=2.0, settle_s=0.05, lock_timeout_s=1.0)


def memory():
    network = MemoryNetwork()
    return lambda name: MemoryTransport(network, name)


def forged(car1_subtasks, site: str) -> list[wire.Body]:
    """Round-1 messages from car1 naming `site` for its subtasks."""
    s = car1_subtasks[0]
    change = m.Change(s, PeerId("car1"), PeerId(site))
    return [
        placement_to_wire(1, "car1", car1_subtasks, {t.id: site for t in car1_subtasks}),
        to_wire(1, m.SwapCommit(PeerId("car1"), 1, "move", (change,))),
        to_wire(1, m.SwapAsk(PeerId("car1"), 2, "move", (change,)), party="car2"),
    ]


@pytest.mark.parametrize("site", ["ghost#w", "car9"])
async def test_a_message_naming_a_site_outside_the_round_is_malformed_and_the_round_is_plays(
        site: str) -> None:
    """A HOSTED home naming a worker that does not play put another source's subtasks on
    it in the ledger, and the Turn holder's bounds then raised KeyError out of the peer."""
    inst = random_instance(2, 3, 3, seed=11)
    states = list(split_instance(inst).values())
    car1 = next(st for st in states if st.name == "car1").subtasks
    async with asyncio.timeout(30), live_peers(states, memory(), TIMING) as peers:
        playing = asyncio.ensure_future(play_round(peers, 1, 10.0))
        mm = peers["car2"].matchmaker
        while mm.in_play(1) is None or not mm.in_play(1).ready.is_set():
            await asyncio.sleep(0.001)
        for body in forged(car1, site):
            with pytest.raises(WireError, match=site):
                await mm.handle(Header(body, sender="car1"))
        hosted = to_wire(1, m.RoundDone(PeerId("car1#w"), 1, (car1[0],)))
        with pytest.raises(WireError, match="car1#w"):  # a worker's HOSTED: car1 is none
            await mm.handle(Header(hosted, sender="car1"))
        out = await playing
    assert out.completed and all(r.dead == () for r in out.results.values())
    assert out.assignment == dict(play(states_instance(states)).assignment)
