"""The site table's wait is the site's own formula: a subtask joining a worker (merging with
no piece there) waits what `cost.finish_pieces` says it would, on every queue and arrival."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fognet.matching.bounds import StepBounds
from fognet.matching.game import _deferred_acceptance, _ledger
from fognet.matching.random_instance import random_instance


@pytest.mark.parametrize("queue", ["sjf", "fifo"])
@pytest.mark.parametrize("arrival", ["fixed", "poisson"])
def test_a_joining_subtask_waits_what_the_cost_model_says(queue: str, arrival: str) -> None:
    compared = 0
    for seed in range(6):
        inst = random_instance(8, 3, 2, 70 + seed, arrival=arrival, queue=queue)
        where, _ = _deferred_acceptance(inst)
        ledger = _ledger(inst, where)
        bounds = StepBounds(inst, ledger)
        list(bounds.hopeful(inst.sources[0]))  # brings the table up to date
        for w in inst.workers:
            j = bounds.col[w.id]
            for s in inst.subtasks:
                i = bounds.index[s.id]
                if ledger.site_of[s.id] == w.id or (s.source, s.stage) in ledger.site_pieces(w.id):
                    continue
                room, merges = bounds.table.room(bounds.work[[i]], bounds.rate[[i]],
                                                 bounds.key[[i]], np.array([j]), None)
                assert not merges[0]
                after = ledger.finish_after(ledger.site_after(w.id, [], [s]))
                x = s.work / w.speed
                want = after[(s.source, s.stage)] - x
                second = bounds.second[j]
                mine = bounds.second_of[j, bounds.scol[s.source]]
                r = (second + inst.local_of(s.source).rate * x * x) / 2 if arrival == "poisson" \
                    else max(0.0, second - mine) / 2
                got = r / room[0] if room[0] > 0 else math.inf
                assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (seed, w.id, s.id)
                compared += 1
    assert compared > 50
