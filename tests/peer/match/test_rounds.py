"""Rounds cluster-wide: every source that re-plans while a round is open plays in it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from fognet.matching.check import check, feasibility
from fognet.matching.game import deferred_acceptance, play
from fognet.matching.instance import Instance
from fognet.matching.random_instance import random_instance
from fognet.net import wire
from fognet.peer.match.live_round import Timing
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
DEADLINE_S = 10.0


def of_sources(inst: Instance, sources: set[str]) -> Instance:
    """The instance with only these sources' subtasks (the others did not play)."""
    return replace(inst, subtasks=tuple(s for s in inst.subtasks if s.source in sources))


@pytest.mark.parametrize(("kind", "n_sources"), [("zmq", 2), ("memory", 3), ("zmq", 3)])
async def test_sources_opening_at_once_play_one_round_with_one_matching(kind, n_sources) -> None:
    inst = random_instance(n_sources, 4, 3, seed=21 + n_sources)
    states = split_instance(inst).values()
    names = sorted(inst.sources)
    # each source knows a different part of the cluster: the round is the union
    rosters = {src: [p.name for p in states if p.name != f"w{k + 1}"]
               for k, src in enumerate(names)}
    async with asyncio.timeout(30), live_peers(states, transports(kind), TIMING) as peers:
        results = await play_open(peers, names, DEADLINE_S, rosters)
        (number,) = {r.round for r in results.values()}  # one round
        out = await round_outcome(peers, number, DEADLINE_S)
    inst = states_instance(states)
    assert all(r.sources == tuple(names) for r in out.results.values())
    assert set(out.results) == {p.name for p in states}  # every peer played it
    assert out.completed
    assert set(out.assignment) == {s.id for s in inst.subtasks}
    assert feasibility(inst, out.assignment) == []  # no worker over its cap or quota
    assert check(inst, out.assignment).stable, check(inst, out.assignment).summary()
    assert out.assignment == dict(play(inst).assignment)  # one matching: the joint game's


async def test_a_source_replanning_while_the_round_is_open_joins_it() -> None:
    inst = random_instance(2, 3, 3, seed=8)
    states = list(split_instance(inst).values())
    timing = replace(TIMING, open_s=0.6)  # a silent roster peer keeps the round open 0.6 s
    async with asyncio.timeout(30), live_peers(states, transports("memory"), timing) as peers:
        roster = {"car1": [p.name for p in states] + ["ghost"]}
        first = asyncio.create_task(play_open(peers, ["car1"], DEADLINE_S, roster))
        while (live := peers["car2"].matchmaker.in_play(1)) is None:  # car2 heard of round 1
            await asyncio.sleep(0.005)
        assert not live.frozen  # still open: car2 re-plans now
        second = await play_open(peers, ["car2"], DEADLINE_S)
        results = {**await first, **second}
        out = await round_outcome(peers, 1, DEADLINE_S)
    assert {r.round for r in results.values()} == {1}
    inst = states_instance(states)
    assert all(r.sources == ("car1", "car2") for r in out.results.values())
    assert set(out.assignment) == {s.id for s in inst.subtasks}
    assert out.assignment == dict(play(inst).assignment)


async def test_a_source_arriving_once_the_round_is_settled_plays_the_next() -> None:
    inst = random_instance(3, 3, 3, seed=12)
    states = list(split_instance(inst).values())
    async with asyncio.timeout(30), live_peers(states, transports("memory"), TIMING) as peers:
        early = asyncio.create_task(play_open(peers, ["car1", "car3"], DEADLINE_S))
        while (live := peers["car2"].matchmaker.in_play(1)) is None or not live.frozen:
            await asyncio.sleep(0.001)
        late = await play_open(peers, ["car2"], DEADLINE_S)
        first = await early
        one = await round_outcome(peers, 1, DEADLINE_S)
        two = await round_outcome(peers, 2, DEADLINE_S)
    inst = states_instance(states)
    assert {r.round for r in first.values()} == {1} and late["car2"].round == 2
    assert all(r.sources == ("car1", "car3") for r in one.results.values())
    assert all(r.sources == ("car2",) for r in two.results.values())
    assert peers["car2"].matchmaker.result(2).elapsed_s < DEADLINE_S
    for out, sources in ((one, {"car1", "car3"}), (two, {"car2"})):
        sub = of_sources(inst, sources)
        assert set(out.assignment) == {s.id for s in sub.subtasks}
        assert feasibility(sub, out.assignment) == []
        assert out.assignment == dict(play(sub).assignment)


async def slow_proposals(peer, number: int, delay_s: float) -> None:
    """`peer` answers round `number`'s PROPOSEs `delay_s` late (its other messages at once)."""
    serving = peer.tasks[0]
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    handler = serve_matching(peer.matchmaker)

    async def slow(header, tensors):
        if isinstance(header.body, wire.Propose) and header.body.round == number:
            await asyncio.sleep(delay_s)
        return await handler(header, tensors)

    peer.tasks[0] = asyncio.ensure_future(peer.transport.serve(slow))


@pytest.mark.parametrize("how", ["cut by its deadline", "its leader killed"])
async def test_a_late_source_plays_the_next_round_once_the_one_it_waits_for_ends(how) -> None:
    """car2 comes once car1's round 1 froze without it, so it waits for that round's end.
    Cut by its deadline, the round sent no ROUND_DONE, and car2 waited out its own 20 s;
    now the peers that froze it tell car2 at their deadline, and car2, told the round's
    budget when it was left out, waits no longer than that if none of them can."""
    inst = random_instance(2, 3, 3, seed=6)
    states = list(split_instance(inst).values())
    workers = [st.name for st in states if st.figures.quota > 0]
    async with asyncio.timeout(30), live_peers(states, transports("zmq"), TIMING) as peers:
        for w in workers:  # round 1 cannot finish phase 1 within car1's 1.5 s
            await slow_proposals(peers[w], 1, 3.0)
        alone = {"car1": [st.name for st in states if st.name != "car2"]}  # car2 hears of none
        first = asyncio.create_task(play_open(peers, ["car1"], 1.5, alone))
        while not first.done() and (
                (live := peers["car1"].matchmaker.in_play(1)) is None or not live.frozen):
            await asyncio.sleep(0.001)  # (a machine too slow to freeze it in time: car2 is
            # then not late, and plays round 2 all the same)
        loop = asyncio.get_running_loop()
        start = loop.time()
        late = asyncio.create_task(play_open(peers, ["car2"], 20.0))
        if how == "its leader killed":  # car1 (the leader, which told car2) can tell it nothing
            while not late.done() and (
                    (mine := peers["car2"].matchmaker.in_play(1)) is None or not mine.left_out):
                await asyncio.sleep(0.001)
            await peers["car1"].kill()
        late = (await late)["car2"]
        waited = loop.time() - start
        one = await first
        out = await round_outcome(peers, late.round, DEADLINE_S)
    assert one.get("car1") is None or not one["car1"].completed  # round 1 was cut (or car1 killed)
    assert late.round == 2 and not late.left_out and late.completed
    assert waited < 10.0  # not its own 20 s deadline (round 1 had 1.5 s)
    sub = of_sources(states_instance(states), {"car2"})
    assert out.assignment == dict(play(sub).assignment)


async def test_a_source_new_to_a_cluster_that_played_many_rounds_plays_the_next_at_once() -> None:
    from fognet.peer.match.matchmaker import KEEP_RESULTS

    inst = random_instance(2, 2, 2, seed=5)
    states = list(split_instance(inst).values())
    async with asyncio.timeout(60), live_peers(states, transports("memory"), TIMING) as peers:
        alone = {"car1": [p.name for p in states if p.name != "car2"]}  # car2 hears of none
        for _ in range(KEEP_RESULTS):
            await play_open(peers, ["car1"], DEADLINE_S, alone)
        assert peers["car2"].matchmaker.result(1) is None  # it never heard of them
        late = await play_open(peers, ["car2"], DEADLINE_S)
    # told which rounds the workers have played (the over-reply's `latest`), car2 plays
    # the next one, not each it missed in turn (then, past KEEP_RESULTS of them, none)
    assert late["car2"].round == KEEP_RESULTS + 1 and not late["car2"].left_out
    assert late["car2"].sources == ("car2",) and late["car2"].completed


async def test_a_round_opened_with_a_gather_window_takes_sources_replanning_within_it() -> None:
    inst = random_instance(2, 3, 2, seed=31)
    states = list(split_instance(inst).values())
    async with asyncio.timeout(30), live_peers(states, transports("memory"), TIMING) as peers:
        roster = {n: p.transport.address for n, p in peers.items()}
        car1 = peers["car1"].matchmaker
        first = asyncio.create_task(car1.play(None, roster, peers["car1"].state.subtasks,
                                              DEADLINE_S, gather_s=0.3))
        while car1.in_play(1) is None:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # car2 re-plans 0.1 s later: every peer holds round 1 open
        assert not any(p.matchmaker.in_play(1).frozen for p in peers.values())
        second = await play_open(peers, ["car2"], DEADLINE_S)
        results = {"car1": await first, **second}
        out = await round_outcome(peers, 1, DEADLINE_S)
    assert {r.round for r in results.values()} == {1}
    assert all(r.sources == ("car1", "car2") for r in out.results.values())
    assert out.assignment == dict(play(states_instance(states)).assignment)


async def test_sources_playing_greedy_end_the_round_after_phase_1() -> None:
    inst = random_instance(3, 4, 3, seed=5)
    states = list(split_instance(inst).values())
    inst = states_instance(states)
    greedy = dict(deferred_acceptance(inst).assignment)
    assert greedy != dict(play(inst).assignment)  # phase 2 would move something
    async with asyncio.timeout(30), live_peers(states, transports("zmq"), TIMING) as peers:
        roster = {n: p.transport.address for n, p in peers.items()}
        played = await asyncio.gather(*(
            peers[n].matchmaker.play(None, roster, peers[n].state.subtasks, DEADLINE_S,
                                     gather_s=0.2, steps=False) for n in sorted(inst.sources)))
        out = await round_outcome(peers, played[0].round, DEADLINE_S)
    assert out.completed and {r.round for r in played} == {played[0].round}
    assert out.sent.get("STEP_ASK", 0) == 0 and out.sent.get("STEP_COMMIT", 0) == 0
    assert out.assignment == out.phase1 == greedy


def ended_in(matchmaker, number: int) -> int:
    """The round that round `number` ended in here, following merges."""
    while (into := matchmaker.result(number).merged_into) is not None:
        number = into
    return number


@pytest.mark.parametrize(("kind", "numbers"), [("zmq", (5, 7)), ("zmq", (3, 8, 5)),
                                               ("memory", (9, 2, 4))])
async def test_sources_opening_rounds_numbered_apart_at_once_play_the_highest(kind, numbers):
    """Their views of the round count disagree (clocks, missed rounds): one round still."""
    inst = random_instance(len(numbers), 4, 3, seed=40 + sum(numbers))
    states = list(split_instance(inst).values())
    names, top = sorted(inst.sources), max(numbers)
    async with asyncio.timeout(30), live_peers(states, transports(kind), TIMING) as peers:
        roster = {n: p.transport.address for n, p in peers.items()}
        played = await asyncio.gather(*(
            peers[n].matchmaker.play(k, roster, peers[n].state.subtasks, DEADLINE_S)
            for n, k in zip(names, numbers, strict=True)))
        out = await round_outcome(peers, top, DEADLINE_S)
        merged = {(n, k): ended_in(peers[n].matchmaker, k)
                  for n, k in zip(names, numbers, strict=True) if k != top}
    assert [r.round for r in played] == [top] * len(names)
    assert merged == {key: top for key in merged}  # the lower rounds ended in it (maybe
    # through another: 3 in 5 at a peer that had not heard of 8 yet, then 5 in 8)
    inst = states_instance(states)
    assert set(out.results) == {p.name for p in states}  # every peer played it
    assert all(r.sources == tuple(names) for r in out.results.values())
    assert out.completed
    assert set(out.assignment) == {s.id for s in inst.subtasks}
    assert feasibility(inst, out.assignment) == []
    assert check(inst, out.assignment).stable
    assert out.assignment == dict(play(inst).assignment)


# A cold cluster of 8 peers on a loaded 2-core machine: connecting can take over a second,
# and then a leader not heard from within 0.75 * open_s, or an ask unanswered within
# ask_timeout_s, is a death. Generous clocks keep those out; a lost announcement still
# makes the round wait out open_s, however long, and freeze without agreement.
LOADED = Timing(ask_timeout_s=4.0, open_s=8.0, phase1_s=4.0, settle_s=0.05, lock_timeout_s=4.0)


async def test_every_peer_agrees_on_who_plays_without_waiting_out_open_s(caplog) -> None:
    """Knowledge learnt before a peer's round has started is announced too (it once was
    lost, and the round waited `open_s` and froze without agreement)."""
    inst = random_instance(2, 6, 4, seed=500 + 8)
    states = list(split_instance(inst).values())
    caplog.set_level(logging.WARNING, logger="fognet.peer.match")
    async with asyncio.timeout(90), live_peers(states, transports("zmq"), LOADED) as peers:
        outs = [await play_round(peers, k, 2 * LOADED.open_s) for k in (1, 2, 3)]
    assert [r.message for r in caplog.records if "without agreement" in r.message] == []
    assert all(out.completed and not any(r.dead for r in out.results.values()) for out in outs)
