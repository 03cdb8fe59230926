"""A binding placement's plan is taken as it comes (issue 11): a round's matching is not
left because the current plan, priced by the source alone, looks better. A placement that
plans alone keeps its current plan unless the new one is clearly better.

Live: a source session and two workers on 127.0.0.1 (real ZeroMQ, real onnxruntime); the
placement settles each plan whole on the next peer of its list, as a round might."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fognet.infer.placement import FixedPlan, Placement
from fognet.infer.session import run_session
from fognet.model.load import load_model
from fognet.partition.stages import Plan, Stage
from tests.infer.test_matched import images, options, plan_sites, workers


class Settled(Placement):
    """The whole model on `order[k]` at its k-th plan (the last one after that)."""

    def __init__(self, order: list[str], binding: bool) -> None:
        self.order, self.binding, self.made = order, binding, 0

    def place(self, costs, state, source, input_shapes) -> Plan:
        peer = self.order[min(self.made, len(self.order) - 1)]
        self.made += 1
        whole = Plan(costs.sha256, source, (Stage(0, len(costs.times), (peer,)),))
        return FixedPlan(whole).place(costs, state, source, input_shapes)


@pytest.mark.parametrize("binding", [True, False])
async def test_a_binding_plan_replaces_a_better_looking_current_one(tmp_path, binding) -> None:
    loaded = load_model("squeezenet")
    placement = Settled(["fast", "slow"], binding)  # the second plan is worse, priced alone
    specs = [("fast", 4.0, 4), ("slow", 0.25, 4)]
    async with asyncio.timeout(60), workers(tmp_path, specs) as (peers, _):
        report = await run_session(loaded, images(2), placement, replace(options(peers, tmp_path), warmup=2))
    assert placement.made == 2 and report.verified == 2  # planned before and after warm-up
    expected = {"slow"} if binding else {"fast"}
    assert [plan_sites(p) for p in report.plans] == [expected]
    assert all({t.peer for t in r.timings} == expected for r in report.results)
