"""One cluster file, one ClusterState: the planner, `fognet infer` and the simulator price alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.config.cluster import load_cluster
from fognet.errors import ConfigError
from fognet.infer.launch import source_identity
from fognet.partition.cost import LinkState, PeerState, transfer_time
from fognet.placement.state import cluster_state, link_state, peer_state

PEERS = Path(__file__).resolve().parents[2] / "peers"


def test_device_time_is_the_file_as_written() -> None:
    cluster = load_cluster(PEERS / "local-4.toml")
    state = cluster_state(cluster, backlogs={"fog-nano": 0.03})
    assert state.peer("car1") == PeerState("car1", 0.25, 0.0, 0, 2.5e7, memory=8.0e9)  # the car profile's memory
    assert state.peer("fog-nano").backlog == 0.03 and state.peer("fog-nano").quota == cluster.peer("fog-nano").quota
    assert state.link("fog-server", "car1") == LinkState(2.5e7, 0.002)
    assert state.link("fog-nano", "fog-laptop") == LinkState(1.0e8, 0.0005)  # the default link


def test_emulated_time_slows_links_and_nics_but_not_speeds() -> None:
    cluster = load_cluster(PEERS / "local-4.toml")
    real, slow = cluster_state(cluster), cluster_state(cluster, 2.5)
    for name in cluster.names:
        assert slow.peer(name).speed == real.peer(name).speed
        if real.peer(name).nic is not None:
            assert slow.peer(name).nic == pytest.approx(real.peer(name).nic / 2.5)
        for other in cluster.names:
            if other != name:
                moved = transfer_time(slow, name, other, 1e6)
                assert moved == pytest.approx(2.5 * transfer_time(real, name, other, 1e6)), (name, other)


def test_a_file_without_default_link_leaves_unlisted_pairs_out_of_reach(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("".join(f'[[peers]]\nname = "{n}"\nprofile = "{p}"\n' for n, p in
                            (("a", "car"), ("b", "rpi4"), ("c", "laptop")))
                    + '[[links]]\na = "a"\nb = "b"\nbandwidth = 1e6\nlatency = 0.01\n')
    state = cluster_state(load_cluster(path), 2.0)
    assert state.default_link is None and state.link("a", "c") is None
    assert transfer_time(state, "a", "c", 10) == float("inf")
    assert state.link("b", "a") == LinkState(5e5, 0.02)


def test_infer_plans_with_the_links_plan_prices() -> None:
    for path in sorted(PEERS.glob("local-*.toml")):
        cluster = load_cluster(path)
        for emulate in (None, False):
            identity = source_identity(cluster, emulate)
            state = cluster_state(cluster, cluster.emulated(emulate).link_scale)
            assert dict(identity.links) == dict(state.links) and identity.default_link == state.default_link
            assert identity.config.time_scale == cluster.emulated(emulate).scale
            assert identity.nics == {p.id: p.nic for p in state.peers.values() if p.nic is not None}
            assert identity.nics  # every shipped file gives NICs


def test_a_scale_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="time scale is at least 1"):
        link_state(1e6, 0.0, 0.5)
    assert peer_state("p", 2.0, 3, None, 0.1, 4.0) == PeerState("p", 2.0, 0.1, 3, None)


def test_a_worker_lends_its_entrys_or_profiles_cap_and_a_source_never_refuses(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[peers]]\nname = "car"\nprofile = "car"\n'
                    '[[peers]]\nname = "w"\nprofile = "board"\n'
                    '[[peers]]\nname = "both"\nprofile = "laptop"\nrole = "both"\n'
                    '[[peers]]\nname = "half"\nprofile = "laptop"\ncap = 0.5\n'
                    '[profiles.board]\nspeed = 1.0\nquota = 2\nrole = "worker"\ncap = 0.6\n'
                    '[default_link]\nbandwidth = 1e7\nlatency = 0.001\n')
    cluster = load_cluster(path)
    state = cluster_state(cluster, 2.0)
    assert state.peer("w").cap == 0.6
    assert state.peer("both").cap == cluster.peer("both").profile.cap < 1.0
    assert state.peer("half").cap == 0.5  # the entry's cap, not its profile's 0.9
    assert state.peer("car").cap == 1.0
    # the planner's wait on the worker: a stream loading it to 0.65 is refused there, not queued
    assert state.peer("w").stream_wait(0.13, 5.0) == float("inf")
    assert state.peer("w").stream_wait(0.11, 5.0) < float("inf")
