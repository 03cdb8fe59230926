"""The game's instance, built one way from peers' figures (live rounds, a peer's view, the simulator)."""

from __future__ import annotations

import pytest

from fognet.matching.instance import DefaultLink, PeerId, Subtask, SubtaskId
from fognet.matching.random_instance import random_instance
from fognet.partition import cost
from fognet.placement.instance import (
    Figures,
    LinkFigure,
    backlog_without,
    figures_from_cluster,
    game_instance,
    peer_of,
    split_instance,
    states_instance,
    worker_id,
)


def _sub(sid: str, source: str, work: float = 0.01) -> Subtask:
    return Subtask(SubtaskId(sid), PeerId(source), work, 100, 10)


def test_states_round_trip_to_the_instance_with_worker_ids() -> None:
    inst = random_instance(2, 3, 2, seed=1)
    got = states_instance(split_instance(inst).values())
    assert [w.id for w in got.workers] == [worker_id(w.id) for w in inst.workers]
    assert got.subtasks == inst.subtasks and got.local == inst.local
    for lk in inst.links:
        assert got.link(lk.a, worker_id(lk.b)).bandwidth == lk.bandwidth


def test_figures_from_a_nodes_cluster_state() -> None:
    cluster = cost.ClusterState.of(
        [cost.PeerState("car1", 0.5, 0.01, 0), cost.PeerState("w1", 2.0, 0.0, 3),
         cost.PeerState("w2", 1.0)],
        {("car1", "w1"): cost.LinkState(1e7, 0.002)}, default_link=cost.LinkState(5e6, 0.004),
    )
    f = figures_from_cluster("car1", cluster)
    assert (f.quota, f.local_speed, f.local_backlog_ref_s) == (0, 0.5, 0.01)
    assert f.links == (LinkFigure("w1", 1e7, 0.002), LinkFigure("w2", 5e6, 0.004))
    assert figures_from_cluster("w1", cluster).quota == 3
    assert f.rate == 1.0 and figures_from_cluster("car1", cluster, rate=4.0).rate == 4.0
    streaming = cost.ClusterState({**cluster.peers, "car1": cost.PeerState("car1", 0.5, rate=12.5)},
                                  cluster.links, cluster.default_link)
    assert figures_from_cluster("car1", streaming).rate == 12.5  # the rate the source measured


def test_a_peer_in_both_roles_plays_as_its_source_and_its_worker_id() -> None:
    figures = {
        "car1": Figures(quota=2, speed=0.5, backlog_ref_s=0.1, local_speed=0.5, local_backlog_ref_s=0.1,
                        links=(LinkFigure("car2", 1e7, 0.001), LinkFigure("idle", 1e7, 0.001)), rule="fair"),
        "car2": Figures(quota=1, speed=0.25, local_speed=0.25, links=(LinkFigure("car1", 2e7, 0.003),)),
        "idle": Figures(quota=0),  # takes no work: not a worker, and no link leads to it
    }
    inst = game_instance(figures, [_sub("car1.f.s0", "car1"), _sub("car2.f.s0", "car2")],
                         default_link=DefaultLink(1e6, 0.01))
    assert [(w.id, w.speed, w.backlog, w.quota) for w in inst.workers] == [
        ("car1#w", 0.5, 0.1, 2), ("car2#w", 0.25, 0.0, 1)]
    assert [(d.source, d.speed, d.backlog) for d in inst.local] == [("car1", 0.5, 0.1), ("car2", 0.25, 0.0)]
    assert {(lk.a, lk.b, lk.bandwidth) for lk in inst.links} == {("car1", "car2#w", 1e7), ("car2", "car1#w", 2e7)}
    assert inst.link(PeerId("car1"), PeerId("car1#w")) == DefaultLink(1e6, 0.01)  # not listed: the default
    assert inst.rule == "fair"  # the first source's rule
    assert peer_of("car1#w") == peer_of("car1") == "car1"


def test_a_peers_view_has_every_announced_source_but_only_its_own_subtasks() -> None:
    figures = {"car1": Figures(links=(LinkFigure("w1", 1e7, 0.001),)), "car2": Figures(local_speed=0.3),
               "w1": Figures(quota=3, speed=2.0)}
    view = game_instance(figures, [_sub("car1.f.s0", "car1")], sources=["car2", "car1"], rule="welfare")
    assert view.sources == ("car1", "car2") and [s.id for s in view.subtasks] == ["car1.f.s0"]
    assert view.local_of(PeerId("car2")).speed == 0.3
    assert view.link(PeerId("car2"), worker_id("w1")) is None  # car2 announced no link: out of reach


def test_a_round_leaves_its_own_sources_backlog_out_and_keeps_the_others() -> None:
    split = (("car1", 0.03), ("car3", 0.02))  # car3 streams to w1 but is not re-planning
    figures = {
        "car1": Figures(local_backlog_ref_s=0.01, links=(LinkFigure("w1", 1e7, 0.001),),
                        backlog_by_source=(("car1", 0.01),)),
        "car2": Figures(links=(LinkFigure("w1", 1e7, 0.001),)),
        "w1": Figures(quota=3, speed=2.0, backlog_ref_s=0.05, backlog_by_source=split),
    }
    inst = game_instance(figures, [_sub("car1.f.s0", "car1"), _sub("car2.f.s0", "car2")])
    assert [w.backlog for w in inst.workers] == [pytest.approx(0.02)]  # car3's only
    assert inst.local_of(PeerId("car1")).backlog == 0.0  # its own stages are its stream
    alone = game_instance(figures, [_sub("car2.f.s0", "car2")])
    assert alone.workers[0].backlog == 0.05  # car1 is not in this round: its frames are backlog
    assert backlog_without(0.05, split, ("car1", "car3")) == 0.0
    assert backlog_without(0.01, split, ("car1",)) == 0.0  # never below nothing (stale totals)
