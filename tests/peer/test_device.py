"""A cluster file's peer as the daemon runs it: config, pacer and the links it paces."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.config.cluster import load_cluster
from fognet.config.profiles import load_profile
from fognet.peer import device
from fognet.peer.membership import EventKind, Member, MemberEvent
from fognet.placement.state import cluster_state

REPO = Path(__file__).resolve().parents[2]


def _member(name: str, address: str) -> Member:
    return Member(name, address, name, "laptop", 1.0, 0.0, 1, (), 1, 0.0)


def test_local4_is_emulated_in_time_scaled_by_its_fastest_device() -> None:
    cluster = load_cluster(REPO / "peers" / "local-4.toml")
    config = device.config_from_cluster(cluster, "car1")
    assert config.emulate and config.speed == 0.25 and config.quota == 0 and config.time_scale == 2.5
    pacer = device.pacer_for(cluster, "car1")
    assert pacer.nic_Bps == pytest.approx(2.5e7 / 2.5)
    assert pacer.default.bandwidth_Bps == pytest.approx(1.0e8 / 2.5)
    hook = device.link_setter(cluster, "car1", pacer)
    hook(MemberEvent(EventKind.JOIN, _member("fog-server", "127.0.0.1:7000"), 0.0))
    for key in ("fog-server", "127.0.0.1:7000"):
        link = pacer.link_for(key)
        assert link.bandwidth_Bps == pytest.approx(2.5e7 / 2.5) and link.latency_s == pytest.approx(0.002 * 2.5)


def test_the_pacer_paces_the_links_the_source_plans_with() -> None:
    cluster = load_cluster(REPO / "peers" / "local-8.toml")
    source = cluster.sources[0].name
    planned = cluster_state(cluster, cluster.emulated().link_scale)
    pacer = device.pacer_for(cluster, source)
    hook = device.link_setter(cluster, source, pacer)
    others = [n for n in cluster.names if n != source]
    for port, name in enumerate(others, start=7000):
        hook(MemberEvent(EventKind.JOIN, _member(name, f"127.0.0.1:{port}"), 0.0))
    for name in others:
        paced, link = pacer.link_for(name), planned.link(source, name)
        assert (paced.bandwidth_Bps, paced.latency_s) == pytest.approx((link.bandwidth, link.latency)), name
    assert pacer.nic_Bps == planned.peer(source).nic


def test_a_stranger_joining_is_not_paced() -> None:
    cluster = load_cluster(REPO / "peers" / "local-4.toml")
    pacer = device.pacer_for(cluster, "car1")
    device.link_setter(cluster, "car1", pacer)(MemberEvent(EventKind.JOIN, _member("ghost", "127.0.0.1:7001"), 0.0))
    assert pacer.default is not None and pacer.link_for("ghost") is pacer.default
    assert pacer.link_for("127.0.0.1:7001") is pacer.default


def test_emulation_off_means_real_time_and_no_pacing() -> None:
    cluster = load_cluster(REPO / "peers" / "local-4.toml")
    assert device.pacer_for(cluster, "car1", emulate=False) is None
    config = device.config_from_cluster(cluster, "fog-server", emulate=False)
    assert not config.emulate and config.time_scale == 1.0


def test_a_profile_peer_takes_the_profiles_figures() -> None:
    config = device.config_from_profile("n1", load_profile("jetson-nano"), emulate=True)
    assert (config.name, config.speed, config.quota, config.profile, config.emulate) == ("n1", 0.4, 2, "jetson-nano", True)
    assert device.profile_pacer(load_profile("jetson-nano"), emulate=True).nic_Bps == load_profile("jetson-nano").nic
    assert device.profile_pacer(load_profile("jetson-nano"), emulate=False) is None


def test_a_cluster_peer_lends_the_cap_its_entry_sets(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[peers]]\nname = "car"\nprofile = "car"\n[[peers]]\nname = "half"\nprofile = "laptop"\ncap = 0.5\n')
    assert device.config_from_cluster(load_cluster(path), "half", emulate=False).cap == 0.5
