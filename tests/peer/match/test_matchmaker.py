"""DINA-O between live peers: each peer its own transport, its own state, messages only."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import msgpack
import pytest
import zmq
import zmq.asyncio

from fognet.matching.check import check, feasibility
from fognet.matching.game import play
from fognet.matching.local_driver import run_local
from fognet.matching.random_instance import random_instance
from fognet.net import codec, wire
from fognet.net.memory import MemoryNetwork, MemoryTransport
from fognet.net.transport import ZmqTransport
from fognet.peer.match.live_round import Timing, without_worker
from fognet.placement.instance import (
    LinkFigure,
    PeerState,
    split_instance,
    states_instance,
    worker_id,
)
from fognet.testing.live_match import live_peers, play_round

# asks time out after the protocol's default 1 s: a slow answer on a loaded CI machine would make a
# peer dead for the round, and a round with a death is not play's
TIMING = Timing(ask_timeout_s=1.0, open_s=2.0, phase1_s=2.0, settle_s=0.05, lock_timeout_s=1.0)
DEADLINE_S = 10.0


def transports(kind: str):
    if kind == "zmq":
        return lambda name: ZmqTransport(name, host="127.0.0.1")
    network = MemoryNetwork()
    return lambda name: MemoryTransport(network, name)


@pytest.mark.parametrize("kind", ["zmq", "memory"])
async def test_two_sources_four_workers_reach_the_checked_matching(kind: str) -> None:
    states = split_instance(random_instance(2, 4, 4, seed=3)).values()
    async with asyncio.timeout(20), live_peers(states, transports(kind), TIMING) as peers:
        out = await play_round(peers, 1, DEADLINE_S)
    # the instance the peers' own states describe, assembled only here, in the test
    inst = states_instance(p.state for p in peers.values())
    assert out.completed
    assert check(inst, out.assignment).stable, check(inst, out.assignment).summary()
    local = run_local(inst)
    # deferred acceptance has one outcome whatever the message order, and a worker ends
    # phase 1 only once nothing is in flight: the live round plays the local driver's game
    assert out.phase1 == local.phase1
    assert out.assignment == local.assignment
    assert {s.id for s in inst.subtasks} == set(out.assignment)
    # every subtask on a worker after phase 1 was proposed there and accepted
    assert out.sent["ACCEPT"] >= sum(1 for site in out.phase1.values() if "#" in site)
    assert out.sent["PROPOSE"] >= out.sent["ACCEPT"]
    for kind_ in ("ROUND_OPEN", "HOSTED", "STEP_ASK", "STEP_VOTE", "STEP_COMMIT", "TURN",
                  "ROUND_DONE"):
        assert out.sent[kind_] > 0, kind_
    assert out.sent["STEP_ASK"] == out.sent["STEP_VOTE"]
    # where each peer's round time went: its view built, then phase 2 began, then it ended
    for result in out.results.values():
        assert 0 < result.opened_s <= result.phase2_s <= result.elapsed_s, result
    # what each worker says it hosts is what the sources say they placed on it
    for name, result in out.results.items():
        on_me = {sid for sid, site in out.assignment.items() if site == worker_id(name)}
        assert {s.id for s in result.hosted} == on_me


@pytest.mark.parametrize("batch", range(4))
async def test_live_rounds_reach_plays_matching_on_random_instances(batch: int) -> None:
    """20 random instances (5 per batch, 1 to 4 sources, 2 to 5 workers, some links cut):
    the live round's matching is exactly `play`'s, phase 1 and the end."""
    for k in range(5):
        seed = 100 + 5 * batch + k
        inst = random_instance(1 + seed % 4, 2 + seed % 4, 2 + seed % 3, seed=seed,
                               rule="fair" if seed % 3 == 0 else "welfare",
                               drop_links=0.2 if seed % 2 else 0.0)
        states = split_instance(inst).values()
        async with asyncio.timeout(20), live_peers(states, transports("memory"), TIMING) as peers:
            out = await play_round(peers, 1, DEADLINE_S)
        inst = states_instance(states)
        want = play(inst)
        assert out.completed, seed
        assert out.phase1 == run_local(inst).phase1, seed
        assert out.assignment == dict(want.assignment), seed
        # every source told the others where its subtasks are: a Turn holder asked only
        # the steps the game approves, the same ones `play` took
        assert out.sent.get("STEP_ABORT", 0) == 0, seed
        c = want.counts
        assert sum(r.commits for r in out.results.values()) == c.moves + c.swaps + c.displacements


def both_roles(rule: str) -> list[PeerState]:
    """car1 and car2 also take work (as car1#w, car2#w), reachable from both sources."""
    states = split_instance(random_instance(2, 3, 4, seed=11, rule=rule)).values()
    out = []
    for st in states:
        f = st.figures
        if st.subtasks:
            links = f.links + (LinkFigure("car1", 2e7, 0.001), LinkFigure("car2", 1.5e7, 0.002))
            f = replace(f, quota=2, speed=1.5, backlog_ref_s=0.005, links=links)
        out.append(PeerState(st.name, f, st.subtasks))
    return out


@pytest.mark.parametrize("rule", ["welfare", "fair"])
async def test_peers_both_source_and_worker_play_round_after_round(rule: str) -> None:
    states = both_roles(rule)
    async with asyncio.timeout(20), live_peers(states, transports("memory"), TIMING) as peers:
        first = await play_round(peers, 1, DEADLINE_S)
        second = await play_round(peers, 2, DEADLINE_S)
    inst = states_instance(states)
    assert {w.id for w in inst.workers} >= {"car1#w", "car2#w"}
    assert first.completed and second.completed
    assert check(inst, first.assignment).stable, check(inst, first.assignment).summary()
    local = run_local(inst)
    for out in (first, second):
        assert check(inst, out.assignment).stable
        assert (out.phase1, out.assignment) == (local.phase1, local.assignment)
    assert any(site.endswith("#w") and site.startswith("car") for site in first.assignment.values())


@pytest.mark.parametrize("kind", ["zmq", "memory"])
async def test_a_worker_killed_mid_round_leaves_a_valid_matching(kind: str) -> None:
    states = split_instance(random_instance(2, 4, 4, seed=3)).values()
    async with asyncio.timeout(20), live_peers(states, transports(kind), TIMING) as peers:
        playing = asyncio.create_task(play_round(peers, 1, DEADLINE_S))
        victim, source = peers["w2"], peers["car1"]
        for _ in range(1000):  # until the sources have w2's HOSTED: phase 2 is on
            live = source.matchmaker.in_play(1)
            if live is not None and live.phase2.is_set():
                break
            await asyncio.sleep(0.002)
        assert victim.matchmaker.in_play(1).worker.hosted, "the victim should hold subtasks"
        await victim.kill()
        out = await playing
    inst = states_instance(p.state for p in peers.values())
    survivors = without_worker(inst, worker_id("w2"))
    assert set(out.assignment) == {s.id for s in inst.subtasks}  # every subtask placed
    assert feasibility(survivors, out.assignment) == []  # quotas held, none on w2
    assert check(survivors, out.assignment).stable  # and the game went on without it
    assert all(r.dead == ("w2",) for r in out.results.values())
    assert all(r.elapsed_s < DEADLINE_S for r in out.results.values())


@pytest.mark.parametrize("kind", ["zmq", "memory"])
async def test_the_turn_holder_killed_its_successor_takes_over(kind: str) -> None:
    states = split_instance(random_instance(2, 4, 4, seed=3)).values()
    async with asyncio.timeout(20), live_peers(states, transports(kind), TIMING) as peers:
        playing = asyncio.create_task(play_round(peers, 1, DEADLINE_S))
        victim = peers["car1"]  # first of the ring: it holds the Turn when phase 2 starts
        for _ in range(1000):
            live = victim.matchmaker.in_play(1)
            if live is not None and live.phase2.is_set():
                break
            await asyncio.sleep(0.002)
        await victim.kill()
        out = await playing
    inst = states_instance(p.state for p in peers.values())
    survivors = replace(inst, subtasks=tuple(s for s in inst.subtasks if s.source == "car2"))
    assert out.completed  # car2 found car1 gone and played the game to its end
    assert set(out.assignment) == {s.id for s in survivors.subtasks}
    assert check(survivors, out.assignment).stable, check(survivors, out.assignment).summary()
    for result in out.results.values():  # nobody still hosts a dead source's subtasks
        assert all(s.source == "car2" for s in result.hosted)
        assert result.dead == ("car1",)


def renamed(states, old: str, new: str) -> list[PeerState]:
    """The same peers with `old` called `new` (its links too)."""
    out = []
    for st in states:
        links = tuple(replace(lk, peer=new) if lk.peer == old else lk for lk in st.figures.links)
        out.append(replace(st, name=new if st.name == old else st.name,
                           figures=replace(st.figures, links=links)))
    return out


@pytest.mark.parametrize(("kind", "leader"), [("zmq", "car1"), ("zmq", "a1"), ("memory", "a1")])
async def test_the_leader_killed_in_phase_1_leaves_a_valid_round_and_later_ones_play(kind, leader):
    """The round's leader (the first peer by name: a source, or a worker renamed to lead)
    dies once it froze the round: the next peer by name leads, the round ends valid on
    the survivors, every peer returns, and the next round is the survivors' game."""
    states = renamed(split_instance(random_instance(2, 3, 3, seed=3)).values(), "w1", "a1")
    async with asyncio.timeout(30), live_peers(states, transports(kind), TIMING) as peers:
        assert min(peers) == "a1"
        if leader == "car1":  # a source leads: the worker that would is gone before the round
            await peers["a1"].kill()
        playing = asyncio.create_task(play_round(peers, 1, DEADLINE_S))
        while (live := peers[leader].matchmaker.in_play(1)) is None:
            await asyncio.sleep(0)
        waits = [asyncio.ensure_future(e.wait()) for e in (live.ready, live.over)]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)  # frozen: phase 1 on
        for w in waits:
            w.cancel()
        await peers[leader].kill()
        out = await playing
        again = await play_round(peers, 2, DEADLINE_S)
    alive = states_instance(p.state for p in peers.values() if p.alive)
    assert set(out.results) == {n for n, p in peers.items() if p.alive}  # every peer returned
    assert all(r.dead == (leader,) for r in out.results.values())
    assert all(r.elapsed_s < DEADLINE_S for r in out.results.values())  # none waited it out
    assert set(out.assignment) == {s.id for s in alive.subtasks}
    assert feasibility(alive, out.assignment) == []
    assert check(alive, out.assignment).stable, check(alive, out.assignment).summary()
    assert again.completed and all(r.dead == () for r in again.results.values())
    assert again.assignment == dict(play(alive).assignment)


async def test_malformed_matching_messages_get_error_and_the_peer_keeps_serving() -> None:
    states = split_instance(random_instance(1, 2, 3, seed=5)).values()
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        async with asyncio.timeout(20), live_peers(states, transports("zmq"), TIMING) as peers:
            sock.connect(f"tcp://{peers['w1'].transport.address}")
            cases = {
                "STEP_ASK": {"round": "one"},  # mistyped field
                "HOSTED": {"round": 1, "subtasks": ["a", "b"], "sources": ["car1"],
                           "work_ref_s": [0.1], "in_bytes": [1], "out_bytes": [1]},
                "ROUND_OPEN": {"round": 1, "budget_s": 5.0, "roster": ["x", "w1"],
                               "addresses": ["127.0.0.1:1", "127.0.0.1:2"], "speed": -1.0},
                "TURN": {"round": 7, "idle": 0},  # a round w1 is not playing
            }
            for n, (kind, fields) in enumerate(cases.items(), start=1):
                head = {"v": 1, "type": kind, "id": n, "from": "x", "tensors": [], **fields}
                await sock.send_multipart([msgpack.packb(head)])
                reply, _ = codec.decode(await asyncio.wait_for(sock.recv_multipart(), 5))
                assert isinstance(reply.body, wire.Error), kind
                expected = wire.Reason.STALE_ROUND if kind == "TURN" else wire.Reason.MALFORMED
                assert reply.body.reason is expected, (kind, reply.body)
            out = await play_round(peers, 1, DEADLINE_S)
        assert out.completed and check(out.instance, out.assignment).stable
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize("deadline_s", [0.02, 0.1, 0.3])
async def test_a_round_cut_by_its_deadline_keeps_a_valid_matching(deadline_s: float) -> None:
    states = split_instance(random_instance(2, 4, 4, seed=3)).values()
    async with asyncio.timeout(20), live_peers(states, transports("memory"), TIMING) as peers:
        out = await play_round(peers, 1, deadline_s)
    inst = states_instance(p.state for p in peers.values())
    assert set(out.assignment) == {s.id for s in inst.subtasks}
    assert feasibility(inst, out.assignment) == []
