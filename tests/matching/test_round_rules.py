"""The live round's pure rules, on hand-built states (no sockets, no clocks)."""

from __future__ import annotations

from fognet.matching.bounds import StepBounds
from fognet.matching.game import _deferred_acceptance, _ledger, price
from fognet.matching.instance import Instance, Link, LocalDevice, PeerId, Subtask, Worker
from fognet.matching.messages import Change
from fognet.matching.random_instance import random_instance
from fognet.matching.round_rules import (
    Phase1,
    hopeless,
    made_up,
    next_holder,
    phase1_over,
    reconcile,
    refused_unasked,
    turn_idle,
    winning_round,
)
from fognet.matching.steps import Ledger, candidates

A, B, W, SLOW = PeerId("car1"), PeerId("car2"), PeerId("w1#w"), PeerId("w2#w")


def two_cars() -> tuple[Instance, Ledger, Subtask, Subtask]:
    """car1's subtask at home; car2's on w1 (quota 1); w2 is reachable but very slow."""
    mine = Subtask("car1.0", A, 0.2, 1000, 100)
    theirs = Subtask("car2.0", B, 0.1, 1000, 100)
    inst = Instance(
        workers=(Worker(W, 4.0, 0.0, quota=1), Worker(SLOW, 0.01, 0.0)),
        links=tuple(Link(src, w, 1e7, 0.001) for src in (A, B) for w in (W, SLOW)),
        subtasks=(mine, theirs),
        local=(LocalDevice(A, 0.5, 0.0), LocalDevice(B, 0.5, 0.0)),
    )
    ledger = Ledger(inst)
    ledger.place(mine, A)
    ledger.place(theirs, W)
    return inst, ledger, mine, theirs


def test_a_step_onto_a_full_worker_is_refused_unasked() -> None:
    inst, ledger, mine, _ = two_cars()
    assert hopeless(inst, ledger, A, (Change(mine, A, W),), "welfare")  # w1's quota is 1


def test_a_step_that_only_slows_me_is_refused_unasked_and_one_that_helps_is_asked() -> None:
    inst, ledger, mine, theirs = two_cars()
    assert hopeless(inst, ledger, A, (Change(mine, A, SLOW),), "welfare")
    ledger.forget(theirs)  # w1 empty: moving there is 10x faster for me
    assert not hopeless(inst, ledger, A, (Change(mine, A, W),), "welfare")


def test_a_step_moving_another_sources_subtask_is_left_to_its_parties() -> None:
    inst, ledger, mine, theirs = two_cars()
    swap = (Change(mine, A, W), Change(theirs, W, A))  # a displacement-like step
    assert not hopeless(inst, ledger, A, swap, "welfare")
    assert not hopeless(inst, ledger, A, (Change(mine, A, PeerId("gone#w")),), "welfare")


def test_hopeless_never_drops_a_step_the_parties_would_approve() -> None:
    """On random instances after phase 1, every candidate of every source: hopeless
    implies `price` (the parties' exact answer) refuses; and it does drop some."""
    dropped = 0
    for seed in range(12):
        inst = random_instance(3, 3, 3, seed=seed, rule="fair" if seed % 2 else "welfare")
        where, _ = _deferred_acceptance(inst)
        ledger = _ledger(inst, where)
        for me in inst.sources:
            for _, changes in candidates(inst, me, ledger):
                if hopeless(inst, ledger, me, changes, inst.rule):
                    dropped += 1
                    assert not price(inst, ledger, changes, inst.rule), (seed, changes)
    assert dropped > 0


def p1(**kw) -> Phase1:
    base = dict(sources=frozenset({A, B}), done=frozenset({A, B}), ends_at=2.0,
                last_propose=1.0, settle_s=0.05, deaths=0)
    return Phase1(**(base | kw))


def test_a_worker_ends_phase1_once_every_live_source_is_done() -> None:
    assert phase1_over(p1(), now=1.0)  # no wait for quiet without a death
    assert not phase1_over(p1(done=frozenset({A})), now=1.5)
    assert phase1_over(p1(done=frozenset({A})), now=2.0)  # its latest end


def test_after_a_death_a_worker_also_waits_for_quiet() -> None:
    assert not phase1_over(p1(deaths=1), now=1.01)
    assert phase1_over(p1(deaths=1), now=1.06)


def test_reconcile_brings_home_what_no_hosted_lists() -> None:
    s1, s2, s3 = (Subtask(f"car1.{k}", A, 0.1, 1, 1) for k in range(3))
    placed = {s1.id: W, s2.id: SLOW, s3.id: A}
    kept = reconcile(placed, {W: [s1], SLOW: []}, A)
    assert kept == {s1.id: W, s2.id: A, s3.id: A}
    assert reconcile(placed, {}, A) == {s1.id: A, s2.id: A, s3.id: A}  # no HOSTED at all


def test_the_turn_goes_to_the_next_live_source() -> None:
    ring = [PeerId("a"), PeerId("b"), PeerId("c")]
    assert next_holder(ring, PeerId("b"), set()) == "c"
    assert next_holder(ring, PeerId("b"), {"c"}) == "a"
    assert next_holder(ring, PeerId("c"), {"a"}) == "b"
    assert next_holder(ring, PeerId("b"), {"a", "c"}) == "b"  # alone: keeps it


def test_a_death_since_my_last_turn_restarts_the_idle_count() -> None:
    assert turn_idle(2, 1, idle=3) == 0
    assert turn_idle(1, 1, idle=3) == 3


def test_rounds_open_at_once_end_in_the_highest_whatever_the_order() -> None:
    assert winning_round([5, 7]) == winning_round([7, 5]) == 7
    assert winning_round({3, 9, 4}) == 9
    assert winning_round([2]) == 2
    assert winning_round([]) is None


def test_with_everything_known_a_step_is_refused_unasked_exactly_when_the_game_refuses_it() -> None:
    """The bounds only skip steps `price` would refuse; the fallback is `hopeless`."""
    refused = asked = 0
    for seed in range(6):
        inst = random_instance(3, 4, 3, seed=70 + seed, rule="fair" if seed % 2 else "welfare")
        ledger = _ledger(inst, _deferred_acceptance(inst)[0])
        bounds = StepBounds(inst, ledger)
        for me in inst.sources:
            hopeful = set(bounds.hopeful(me))
            for kind, changes in candidates(inst, me, ledger):
                exact = not price(inst, ledger, changes, inst.rule)
                assert refused_unasked(inst, ledger, me, kind, changes, inst.rule, hopeful) == exact
                assert refused_unasked(inst, ledger, me, kind, changes, inst.rule, None) == \
                    hopeless(inst, ledger, me, changes, inst.rule)
                refused += exact
                asked += not exact
    assert refused > 0 and asked > 0  # both kinds of step were met


def test_a_hosted_entry_its_source_does_not_have_is_made_up() -> None:
    mine = Subtask("car1.0", A, 0.2, 1000, 100)
    theirs = Subtask("car2.0", B, 0.1, 1000, 100)
    lists = {A: {mine.id: mine}, B: {theirs.id: theirs}}
    heavier = Subtask("car2.0", B, 9.0, 1000, 100)  # a real id, other figures
    invented = Subtask("car2.9", B, 0.1, 1000, 100)
    stolen = Subtask("car1.0", B, 0.2, 1000, 100)  # my subtask's id under another source
    unknown = Subtask("car3.0", PeerId("car3"), 0.1, 1000, 100)  # no list of car3 yet
    hosted = (mine, theirs, heavier, invented, stolen, unknown)
    assert made_up(hosted, lists) == [heavier, invented, stolen]
    assert made_up(hosted, {A: lists[A]}) == [stolen]  # car2's entries wait for its list
    assert made_up((mine, theirs), lists) == []
