"""The bound that lets `play` skip steps: it keeps every step the parties would approve."""

from __future__ import annotations

from fognet.matching.bounds import StepBounds
from fognet.matching.game import _deferred_acceptance, _ledger, price
from fognet.matching.random_instance import random_instance
from fognet.matching.steps import candidates


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
