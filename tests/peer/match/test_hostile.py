"""A round in play against messages that pass the codec but name what the round does not
have (a site, a round number far ahead), and against a leader that is slow, not dead."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from fognet.errors import WireError
from fognet.matching import messages as m
from fognet.matching.game import play
from fognet.matching.instance import PeerId
from fognet.matching.random_instance import random_instance
from fognet.net import wire
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header
from fognet.peer.match.opening import open_body
from fognet.peer.match.wire_bodies import placement_to_wire, to_wire
from fognet.placement.instance import split_instance, states_instance
from fognet.testing.live_match import (
    TEST_TIMING,
    live_peers,
    play_open,
    play_round,
    round_outcome,
    serve_matching,
    transports,
)

TIMING = TEST_TIMING


def memory():
    return transports("memory")


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


async def test_a_round_number_far_ahead_or_with_bad_figures_is_refused_before_it_counts() -> None:
    """`latest` = 2**64 - 1 decoded, numbered the next round 2**64, which cannot be encoded:
    the peer never opened a round again (and its over-replies spread the number)."""
    inst = random_instance(1, 2, 2, seed=3)
    states = list(split_instance(inst).values())
    async with asyncio.timeout(30), live_peers(states, memory(), TIMING) as peers:
        await play_round(peers, 1, 10.0)
        roster = {n: p.transport.address for n, p in peers.items()}
        good = open_body(1, 1.0, roster, peers["car1"].state.figures, True, ["car1"])
        for bad in (replace(good, latest=2**40), replace(good, round=2**40),
                    replace(good, latest=1000, speed=-1.0)):
            with pytest.raises(WireError):
                await peers["w1"].matchmaker.handle(Header(bad, sender="car1"))
        again = await play_open(peers, ["car1"], 10.0)
        out = await round_outcome(peers, again["car1"].round, 10.0)
    assert again["car1"].round == 2 and out.completed
    assert all(r.round == 2 for r in out.results.values())


async def test_a_frozen_roster_past_the_round_bound_is_refused_not_adopted() -> None:
    """A header may now carry a roster of every member (`codec.header_cap`): a frozen one
    naming more than MAX_ROSTER peers was adopted by a peer whose round was still open, and
    its round then had thousands of peers to call."""
    from fognet.peer.match.matchmaker import MAX_ROSTER

    inst = random_instance(1, 2, 2, seed=3)
    states = list(split_instance(inst).values())
    async with asyncio.timeout(30), live_peers(states, memory(), replace(TIMING, open_s=0.6)) as peers:
        roster = {n: p.transport.address for n, p in peers.items()}
        playing = asyncio.ensure_future(peers["car1"].matchmaker.play(
            1, {**roster, "ghost": "127.0.0.1:9"}, peers["car1"].state.subtasks, 10.0))
        while (live := peers["w1"].matchmaker.in_play(1)) is None:  # open: ghost is silent
            await asyncio.sleep(0.001)
        many = {**roster, **{f"p{k}": f"127.0.0.1:{2000 + k}" for k in range(MAX_ROSTER)}}
        huge = open_body(1, 5.0, many, peers["car1"].state.figures, True, ["car1"], True)
        with pytest.raises(WireError, match="roster"):
            await peers["w1"].matchmaker.handle(Header(huge, sender="car1"))
        assert len(live.roster) <= len(roster) + 1  # (+ ghost)
        result = await playing
    assert result.completed and result.dead == ("ghost",)


async def test_a_late_source_waits_for_the_round_in_play_and_rounds_never_overlap() -> None:
    """Told the highest round heard of (one still in play), a source new to the cluster
    opened the next at once, and the workers played both together, granting their capacity
    twice. Told the highest finished, it asks to join the one in play, is answered frozen,
    and plays the next once that one is over."""
    inst = random_instance(2, 3, 3, seed=6)
    states = list(split_instance(inst).values())
    workers = [st.name for st in states if st.figures.quota > 0]
    overlaps: list[tuple[str, list[int]]] = []

    async def watch(peers) -> None:
        while True:
            for w in workers:
                playing = [n for n in (4, 5) if peers[w].matchmaker.in_play(n) is not None]
                if len(playing) > 1:
                    overlaps.append((w, playing))
            await asyncio.sleep(0)

    async with asyncio.timeout(60), live_peers(states, memory(), TIMING) as peers:
        alone = {"car1": [st.name for st in states if st.name != "car2"]}  # car2 hears of none
        for _ in range(3):
            await play_open(peers, ["car1"], 10.0, alone)
        fourth = asyncio.ensure_future(play_open(peers, ["car1"], 10.0, alone))
        while (live := peers["car1"].matchmaker.in_play(4)) is None or not live.frozen:
            await asyncio.sleep(0.001)
        watching = asyncio.ensure_future(watch(peers))
        late = await play_open(peers, ["car2"], 10.0)
        watching.cancel()
        assert (await fourth)["car1"].round == 4
        out = await round_outcome(peers, late["car2"].round, 10.0)
    assert overlaps == []
    assert late["car2"].round == 5 and not late["car2"].left_out and out.completed
    assert late["car2"].elapsed_s < TIMING.deadline_s  # it did not wait out a deadline
    whole = states_instance(states)
    sub = replace(whole, subtasks=tuple(s for s in whole.subtasks if s.source == "car2"))
    assert out.assignment == dict(play(sub).assignment)


async def test_a_leader_slow_to_hear_of_the_round_is_waited_for_not_dropped() -> None:
    """The first peer by name handles nothing for 1.2 s (a cold or busy peer, longer than
    a request's timeout): the others wait for it (it leads), and the round is play's with
    every peer in it. It was dropped after `ask_timeout_s`, and PEER_GONE told the rest."""
    inst = random_instance(2, 3, 3, seed=8)
    states = list(split_instance(inst).values())
    async with asyncio.timeout(30), live_peers(states, memory(), TIMING) as peers:
        leader = min(peers)
        serving = peers[leader].tasks[0]
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        loop = asyncio.get_running_loop()
        busy_until = loop.time() + 1.2
        handler = serve_matching(peers[leader].matchmaker)

        async def slow(header, tensors):
            await asyncio.sleep(busy_until - loop.time())
            return await handler(header, tensors)

        peers[leader].tasks[0] = asyncio.ensure_future(peers[leader].transport.serve(slow))
        results = await play_open(peers, sorted(inst.sources), 10.0)
        (number,) = {r.round for r in results.values()}
        out = await round_outcome(peers, number, 10.0)
    assert all(r.dead == () for r in out.results.values()), {
        n: r.dead for n, r in out.results.items()}
    assert out.completed and set(out.results) == set(peers)
    assert out.assignment == dict(play(states_instance(states)).assignment)


def lying_hosted(transport, victim: str, subtask: str, source: str) -> None:
    """`transport`'s worker lists one more subtask (`subtask` of `source`, heavy) in the
    HOSTED it sends to `victim` (an address)."""
    send = transport.send

    async def forged(addr, header, tensors=None, timeout_s=1.0):
        b = header.body
        if isinstance(b, wire.Hosted) and not b.home and addr == victim:
            header = replace(header, body=replace(
                b, subtasks=(*b.subtasks, subtask), sources=(*b.sources, source),
                work_ref_s=(*b.work_ref_s, 5.0), in_bytes=(*b.in_bytes, 0),
                out_bytes=(*b.out_bytes, 0), stages=(*b.stages, 0)))
        return await send(addr, header, tensors, timeout_s)

    transport.send = forged


@pytest.mark.parametrize("whose", ["car2", "car1"])
async def test_a_worker_listing_a_made_up_subtask_in_its_hosted_changes_nothing(whose, caplog):
    """w1's HOSTED to car1 lists a subtask no source has. Of car1 itself: refused at once
    (one ERROR reply to w1). Of car2, whose list car1 learns only from car2's HOSTED home:
    it went into car1's ledger, whose prices then moved car1's subtasks elsewhere than
    `play`; now it leaves the ledger when car2's list comes. Either way the round is
    `play`'s, with every peer in it."""
    inst = random_instance(2, 3, 3, seed=2)
    states = list(split_instance(inst).values())
    caplog.set_level(logging.WARNING, logger="fognet.peer.match")
    zmq = lambda name: ZmqTransport(name, host="127.0.0.1")  # noqa: E731
    async with asyncio.timeout(30), live_peers(states, zmq, TIMING) as peers:
        car1 = peers["car1"].transport
        lying_hosted(peers["w1"].transport, car1.address, f"{whose}/made-up", whose)
        out = await play_round(peers, 1, 10.0)
        errors = car1.stats().errors_sent
    assert out.completed and all(r.dead == () for r in out.results.values())
    assert out.assignment == dict(play(states_instance(states)).assignment)
    assert errors == (1 if whose == "car1" else 0)
    assert any(f"{whose}/made-up" in r.getMessage() for r in caplog.records)  # one line
