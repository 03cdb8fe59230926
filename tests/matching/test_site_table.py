"""The site table's wait is the site's own formula: a subtask joining a worker (merging with
no piece there) waits what `cost.finish_pieces` says it would, on every queue and arrival."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fognet.matching.bounds import StepBounds
from fognet.matching.cost import transfer
from fognet.matching.game import _deferred_acceptance, _ledger
from fognet.matching.messages import Change
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


def _stage_caps(inst, ledger, source, stage, site) -> tuple[float, float]:
    """How far the stage can fall when its piece on `site` does, by hand: to the highest of
    its other pieces' transfers-and-service floors and their second-highest latency now
    (after any step), or their highest latency now (after a move)."""
    lats = ledger.piece_latencies(source)[stage]
    top = ledger.stage_latencies(source)[stage]
    others = sorted((v for q, v in lats.items() if q != site), reverse=True)
    floors = [0.0]
    for q in lats:
        if q != site:
            p = ledger.site_pieces(q)[(source, stage)]
            t_in, t_out = transfer(inst, source, q, p.in_bytes, p.out_bytes, p.in_bytes)
            speed = (inst.worker(q) if q in inst._workers else inst.local_of(q)).speed
            floors.append(t_in + t_out + p.work / speed)
    second = others[1] if len(others) > 1 else 0.0
    first = others[0] if others else 0.0
    return max(0.0, top - max(max(floors), second)), max(0.0, top - max(max(floors), first))


@pytest.mark.parametrize("queue", ["sjf", "fifo"])
@pytest.mark.parametrize("arrival", ["fixed", "poisson"])
def test_the_relief_credit_is_the_cost_models_gain_never_less(queue: str, arrival: str) -> None:
    """`SiteTable.relief` (a subtask leaving a worker: what the other pieces there gain) is
    the gain `cost.finish_pieces` gives each piece, capped by how far the piece's stage can
    fall (`_stage_caps`), shaded up a hair, for a leaving slice alone in its piece and for
    one that leaves a smaller piece behind; the cap bites on some (a piece that is not its
    stage's slowest)."""
    compared = shrunk = gained = capped = 0
    for seed in range(6):
        inst = random_instance(10, 3, 3, 170 + seed, arrival=arrival, queue=queue)
        where, _ = _deferred_acceptance(inst)
        ledger = _ledger(inst, where)
        bounds = StepBounds(inst, ledger)
        list(bounds.hopeful(inst.sources[0]))  # brings the table up to date
        for w in inst.workers:
            for s in ledger.hosted(w.id):
                now = ledger.finish(w.id)
                after = ledger.finish_after(ledger.site_after(w.id, [s], []))
                want = want1 = raw = 0.0
                for key, f in after.items():
                    if key != (s.source, s.stage):
                        rate = inst.local_of(key[0]).rate
                        drop, drop1 = _stage_caps(inst, ledger, key[0], key[1], w.id)
                        want += rate * max(0.0, min(now[key] - f, drop))
                        want1 += rate * max(0.0, min(now[key] - f, drop1))
                        raw += rate * max(0.0, now[key] - f)
                got, got1 = bounds.relief[bounds.index[s.id]], bounds.relief1[bounds.index[s.id]]
                assert got >= want and got1 >= want1, (seed, w.id, s.id)
                assert got == pytest.approx(want, rel=1e-6, abs=1e-9), (seed, w.id, s.id)
                assert got1 == pytest.approx(want1, rel=1e-6, abs=1e-9), (seed, w.id, s.id)
                compared += 1
                shrunk += (s.source, s.stage) in after
                gained += want > 0
                capped += want1 < raw * (1 - 1e-6)
    assert compared > 40 and shrunk > 5 and gained > compared // 2 and capped > 0


@pytest.mark.parametrize("queue", ["sjf", "fifo"])
@pytest.mark.parametrize("arrival", ["fixed", "poisson"])
def test_a_merging_subtask_waits_the_merged_pieces_wait(queue: str, arrival: str) -> None:
    """A subtask joining a worker where its stage has a piece merges into it: the table's
    room is the merged piece's, so r over it is the cost model's wait for that piece (a
    fixed-rate stream's residual leaves out its own source, merged or not; Poisson's
    residual as the table takes it is a floor), and the floor on its latency there is
    never above the merged piece's latency with the least NIC share."""
    compared = 0
    for seed in range(8):
        inst = random_instance(6, 3, 4, 270 + seed, arrival=arrival, queue=queue)
        where, _ = _deferred_acceptance(inst)
        ledger = _ledger(inst, where)
        bounds = StepBounds(inst, ledger)
        list(bounds.hopeful(inst.sources[0]))  # brings the table up to date
        for w in inst.workers:
            j = bounds.col[w.id]
            for s in inst.subtasks:
                key = (s.source, s.stage)
                if ledger.site_of[s.id] == w.id or key not in ledger.site_pieces(w.id):
                    continue
                i = bounds.index[s.id]
                room, merges = bounds.table.room(bounds.work[[i]], bounds.rate[[i]],
                                                 bounds.key[[i]], np.array([j]), None)
                assert merges[0]
                p = ledger.site_after(w.id, [], [s]).pieces[key]
                finish = ledger.finish_after(ledger.site_after(w.id, [], [s]))[key]
                want = finish - p.work / w.speed
                x = s.work / w.speed
                second, mine = bounds.second[j], bounds.second_of[j, bounds.scol[s.source]]
                r = (second + inst.local_of(s.source).rate * x * x) / 2 if arrival == "poisson" \
                    else max(0.0, second - mine) / 2
                got = r / room[0] if room[0] > 0 else math.inf
                assert got <= want * (1 + 1e-12), (seed, w.id, s.id)
                if arrival == "fixed":
                    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (seed, w.id, s.id)
                t_in, t_out = transfer(inst, s.source, w.id, p.in_bytes, p.out_bytes, p.in_bytes)
                floor = bounds.lbw[i, j] + bounds._wait_floor(i, s.source, np.array([j]), None)[0]
                assert floor <= t_in + finish + t_out, (seed, w.id, s.id)
                compared += 1
    assert compared > 10


def test_the_floor_without_the_wait_counts_the_nic_share_and_never_overshoots() -> None:
    """`WaitFloors._alone`: a slice moved to a worker takes there at least its transfers
    (its input sharing the source's NIC with its stage's other remote pieces) and service,
    the merged piece's wait aside; on split stages the NIC share lifts it above `lbw`."""
    compared = lifted = 0
    for seed in range(10):
        inst = random_instance(6, 4, 5, 370 + seed)
        where, _ = _deferred_acceptance(inst)
        ledger = _ledger(inst, where)
        bounds = StepBounds(inst, ledger)
        list(bounds.hopeful(inst.sources[0]))  # brings the floors up to date
        for s in inst.subtasks:
            a = ledger.site_of[s.id]
            for w in inst.workers:
                if w.id == a or inst.link(s.source, w.id) is None:
                    continue
                i, j = bounds.index[s.id], bounds.col[w.id]
                floor = bounds._alone(i, np.array([j]), np.array([j]))[0]
                step = [Change(s, a, w.id)]
                after = ledger.after(step)
                fa = {p: ledger.finish_after(x) for p, x in after.items()}
                sites = {w.id if t.id == s.id else ledger.site_of[t.id]
                         for t in ledger.mine[s.source].values() if t.stage == s.stage}
                def pieces_of(q, after=after, ledger=ledger):
                    return after[q].pieces if q in after else ledger.site_pieces(q)

                def finish_of(q, fa=fa, ledger=ledger):
                    return fa[q] if q in fa else ledger.finish(q)

                lat = ledger._lats(s.source, s.stage, sites, pieces_of, finish_of)[w.id]
                p = after[w.id].pieces[(s.source, s.stage)]
                wait = fa[w.id][(s.source, s.stage)] - p.work / w.speed
                if not math.isfinite(wait):
                    continue  # past its cap: the worker would refuse it
                assert floor <= lat - wait + 1e-12, (seed, s.id, w.id)
                compared += 1
                lifted += floor > bounds.lbw[i, j] * (1 + 1e-9)
    assert compared > 200 and lifted > 10
