"""The bound that lets `play` skip steps: it keeps every step the parties would approve."""

from __future__ import annotations

from fognet.matching.bounds import StepBounds
from fognet.matching.game import _deferred_acceptance, _ledger, price
from fognet.matching.random_instance import random_instance
from fognet.matching.steps import candidates
from tests.matching.phase1_states import after_phase1, varied


def test_every_approvable_candidate_is_hopeful_and_in_order() -> None:
    approvable = 0
    for seed in range(40):
        inst = random_instance(1 + seed % 5, seed % 6, 1 + seed % 4, seed,
                               drop_links=(0.0, 0.3)[seed % 2],
                               arrival=("fixed", "poisson")[seed % 3 == 0])
        where, _ = _deferred_acceptance(inst)
        ledger = _ledger(inst, where)
        bounds = StepBounds(inst, ledger)
        for me in inst.sources:
            listed = candidates(inst, me, ledger)
            hopeful = list(bounds.hopeful(me))
            keys = [tuple((c.subtask.id, c.frm, c.to) for c in ch) for _, ch in listed]
            position = {k: n for n, k in enumerate(keys)}
            order = [position[tuple((c.subtask.id, c.frm, c.to) for c in ch)]
                     for _, ch in hopeful if tuple((c.subtask.id, c.frm, c.to) for c in ch) in position]
            assert order == sorted(order), seed
            kept = {tuple((c.subtask.id, c.frm, c.to) for c in ch) for _, ch in hopeful}
            for key, (_, changes) in zip(keys, listed, strict=True):
                if price(inst, ledger, changes, "welfare"):
                    approvable += 1
                    assert key in kept, (seed, key)
    assert approvable > 50


def _key(changes) -> tuple:
    return tuple((c.subtask.id, c.frm, c.to) for c in changes)


def test_the_first_approvable_step_stays_hopeful_all_through_the_game() -> None:
    """Played with the plain list (`candidates`, every step priced), at every Turn of every
    game the step the parties approve first is among the bound's hopeful ones: the bound
    holds on the states phase 2 passes through, not only after phase 1 (every queue,
    arrival, and stages of one or several slices; sites with single-slice pieces are where
    the bound is tightest)."""
    checked = 0
    for seed in range(24):
        inst = varied(seed, 8 + seed % 13, 3 + seed % 5, 1 + seed % 3, 900)
        ledger, bounds = after_phase1(inst)
        ring, idle, k = inst.sources, 0, 0
        while idle < len(ring):
            me, changed = ring[k], False
            while True:
                step = next((ch for _, ch in candidates(inst, me, ledger)
                             if price(inst, ledger, ch, inst.rule)), None)
                if step is None:
                    break
                assert _key(step) in {_key(ch) for _, ch in bounds.hopeful(me)}, (seed, step)
                checked += 1
                ledger.apply(step)
                changed = True
            idle = 1 if changed else idle + 1
            k = (k + 1) % len(ring)
    assert checked > 200



def test_under_fair_the_first_approvable_step_stays_hopeful_and_fewer_are_listed() -> None:
    """The fair bound (`StepBounds(..., "fair")`) also leaves out the steps where a moving
    source's own share must rise; played with the plain list under fair, the step the
    parties approve first at every Turn is among its hopeful ones, which are fewer than
    the welfare bound's."""
    checked = fewer = 0
    for seed in range(24):
        inst = varied(seed, 6 + seed % 11, 2 + seed % 5, 1 + seed % 3, 1300)
        ledger, welfare = after_phase1(inst)
        fair = StepBounds(inst, ledger, "fair")
        ring, idle, k = inst.sources, 0, 0
        while idle < len(ring):
            me, changed = ring[k], False
            while True:
                hopeful = {_key(ch) for _, ch in fair.hopeful(me)}
                fewer += len(hopeful) < len(list(welfare.hopeful(me)))
                step = next((ch for _, ch in candidates(inst, me, ledger)
                             if price(inst, ledger, ch, "fair")), None)
                if step is None:
                    break
                assert _key(step) in hopeful, (seed, step)
                checked += 1
                ledger.apply(step)
                changed = True
            idle = 1 if changed else idle + 1
            k = (k + 1) % len(ring)
    assert checked > 100 and fewer > 50
