"""The relief credit (`relief.Reliefs`): never short of what the other sources can gain."""

from __future__ import annotations

from fognet.matching.game import price
from fognet.matching.steps import affected, candidates
from tests.matching.phase1_states import after_phase1, varied


def _key(changes) -> tuple:
    return tuple((c.subtask.id, c.frm, c.to) for c in changes)


def test_the_credit_is_at_least_what_the_other_sources_gain() -> None:
    """`StepBounds.credit` (what the other sources' part of J can fall by, each piece's gain
    capped by how far its stage can fall) is never short of their exact fall, for every
    candidate of every source on states phase 2 passes through (a move credited with its
    own site alone, a swap or displacement with both) whose arrivals join no piece of their
    stage under SJF: the credit's premise is that arrivals only slow the others down, and a
    merge can lift a piece past others in SJF order, which then wait less."""
    checked = gaining = 0
    for seed in range(16):
        inst = varied(seed, 6 + seed % 7, 2 + seed % 4, 2 + seed % 3, 500)
        ledger, bounds = after_phase1(inst)
        for turn, me in enumerate(inst.sources * 2):
            list(bounds.hopeful(me))  # the credit is as of the last listing
            listed = candidates(inst, me, ledger)
            for _, changes in listed:
                if inst.queue == "sjf" and any(
                        (c.subtask.source, c.subtask.stage) in ledger.site_pieces(c.to)
                        for c in changes if c.to in inst._workers):
                    continue
                movers = {c.subtask.source for c in changes}
                others = sum(ledger.delta(u, changes) for u in affected(inst, ledger, changes)
                             if u not in movers)
                assert others >= -bounds.credit(changes) - 1e-12, (seed, _key(changes))
                checked += 1
                gaining += others < -1e-9
            step = next((ch for _, ch in listed if price(inst, ledger, ch, inst.rule)), None)
            if step is not None and turn % 2 == 0:
                ledger.apply(step)
    assert checked > 2000 and gaining > 100
