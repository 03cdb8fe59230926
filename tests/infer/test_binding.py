"""A plan a round made is taken as it comes (issue 11): a round's matching is not left
because the current plan, priced by the source alone, looks better. A plan no round made
(a placement that plans alone, or the expected plan a failed round falls back to) replaces
the current one only if it is clearly better.

Live: a source session and two workers on 127.0.0.1 (real ZeroMQ, real onnxruntime); the
placement settles each plan whole on the next peer of its list, as a round might."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fognet.infer.matched import FAILED, MatchedPlacement
from fognet.infer.placement import FixedPlan, Matched, Placement
from fognet.infer.session import run_session
from fognet.model.load import load_model
from fognet.partition.stages import Plan, Stage
from tests.infer.test_matched import _broken, images, options, plan_sites, workers


class Settled(Placement):
    """The whole model on `order[k]` at its k-th plan (the last one after that); `settles`:
    whether its `match` says a round made the plan."""

    def __init__(self, order: list[str], settles: bool) -> None:
        self.order, self.settles, self.made = order, settles, 0

    def place(self, costs, state, source, input_shapes) -> Plan:
        peer = self.order[min(self.made, len(self.order) - 1)]
        self.made += 1
        whole = Plan(costs.sha256, source, (Stage(0, len(costs.times), (peer,)),))
        return FixedPlan(whole).place(costs, state, source, input_shapes)

    async def match(self, peer, costs, state, plan) -> Matched:
        return Matched(plan, settled=self.settles)


SPECS = [("fast", 4.0, 4), ("slow", 0.25, 4)]


@pytest.mark.parametrize("settles", [True, False])
async def test_a_settled_plan_replaces_a_better_looking_current_one(tmp_path, settles) -> None:
    loaded = load_model("squeezenet")
    placement = Settled(["fast", "slow"], settles)  # the second plan is worse, priced alone
    async with asyncio.timeout(60), workers(tmp_path, SPECS) as (peers, _):
        report = await run_session(loaded, images(2), placement, replace(options(peers, tmp_path), warmup=2))
    assert placement.made == 2 and report.verified == 2  # planned before and after warm-up
    expected = {"slow"} if settles else {"fast"}
    assert [plan_sites(p) for p in report.plans] == [expected]
    assert all({t.peer for t in r.timings} == expected for r in report.results)


async def test_a_failed_rounds_fallback_does_not_bind(tmp_path) -> None:
    """Every round fails (the workers' figures cannot be read): the second round's fallback,
    the expected plan on the slow peer, is the source's own plan priced alone, so the margin
    keeps the frames on the fast one."""
    loaded = load_model("squeezenet")
    placement = MatchedPlacement(use_source=False, expect=Settled(["fast", "slow"], False), deadline_s=2.0)
    async with asyncio.timeout(60), workers(tmp_path, SPECS) as (peers, _):
        for p in peers:
            p.matching_state = _broken
        report = await run_session(loaded, images(2), placement,
                                   replace(options(peers, tmp_path), warmup=2))
    assert [r.status for r in placement.rounds] == [FAILED, FAILED]  # before and after warm-up
    assert plan_sites(placement.rounds[1].plan) == {"slow"}
    assert report.verified == 2 and [plan_sites(p) for p in report.plans] == [{"fast"}]
    assert all({t.peer for t in r.timings} == {"fast"} for r in report.results)
