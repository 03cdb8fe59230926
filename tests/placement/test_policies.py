"""The placement policies by name, each made by the source's planner under one state."""

from __future__ import annotations

import pytest

from fognet.errors import PlanError
from fognet.model.graph import analyse
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.plan import Planner
from fognet.placement.policies import POLICIES, REFERENCES, equal_rows, make_plan, modnn_plan
from fognet.placement.pricing import HaloPricing
from tests import graphs


def _planner(spatial: bool = True) -> Planner:
    graph = analyse(graphs.conv_chain_model())
    state = ClusterState.of([PeerState("car", 0.2), PeerState("f1", 1.0), PeerState("f2", 2.0)],
                            default_link=LinkState(1e9, 1e-4))
    return Planner(graph, [0.01] * len(graph), state, "car", spatial=HaloPricing(graph) if spatial else None)


def test_every_policy_is_named_once_and_made_under_the_planners_state() -> None:
    assert set(POLICIES) == {"dina", *REFERENCES}
    planner = _planner()
    n = len(planner.graph)
    plans = {name: make_plan(name, planner, "ab" * 32) for name in POLICIES}
    assert all(p.model_sha256 == "ab" * 32 and p.source == "car" for p in plans.values())
    assert [(s.start, s.stop, s.peers) for s in plans["local"].stages] == [(0, n, ("car",))]
    assert [(s.start, s.stop, s.peers) for s in plans["best-node"].stages] == [(0, n, ("f2",))]
    for name, plan in plans.items():
        assert plan.predicted_s == pytest.approx(planner.price(plan).predicted_s), name
        assert plans["dina"].predicted_s <= plan.predicted_s + 1e-12, name
    with pytest.raises(PlanError, match="unknown placement policy 'greedy'"):
        make_plan("greedy", planner)


def test_modnn_splits_every_layer_between_single_tensor_cuts_equally_over_all_nodes() -> None:
    planner = _planner()
    plan = modnn_plan(planner)
    cuts = sorted(c.position for c in planner.graph.cuts() if len(c.crossing) == 1)
    assert [s.start for s in plan.stages] == [0, *cuts]  # the chain is one run: a stage per layer
    for stage in plan.stages:
        height = planner.spatial.out_rows(stage.start, stage.stop)
        assert stage.peers == ("car", "f1", "f2") and stage.rows == equal_rows(height, 3)
    # without slicing nothing can be split: all on the source
    assert [s.peers for s in modnn_plan(_planner(spatial=False)).stages] == [("car",)]


def test_the_matchers_are_the_game_phase_1_and_random_sites_within_quota_and_reach() -> None:
    from collections import Counter

    from fognet.matching.check import feasibility
    from fognet.matching.game import deferred_acceptance, play
    from fognet.matching.random_instance import random_instance
    from fognet.placement.policies import MATCHERS

    inst = random_instance(3, 2, 4, seed=7)
    game, latency = MATCHERS["fognet"](inst, 0)
    assert game == play(inst).assignment and latency == play(inst).latency
    assert MATCHERS["greedy"](inst, 0) == (deferred_acceptance(inst).assignment, None)
    drawn, none = MATCHERS["random"](inst, 5)
    assert none is None and drawn == MATCHERS["random"](inst, 5)[0]  # seeded
    assert set(drawn) == {s.id for s in inst.subtasks}
    load = Counter(site for site in drawn.values())
    by_id = {s.id: s for s in inst.subtasks}
    for sid, site in drawn.items():
        assert site == by_id[sid].source or inst.link(by_id[sid].source, site) is not None
    assert all(w.quota is None or load[w.id] <= w.quota for w in inst.workers)
    assert feasibility(inst, drawn) == []
