from __future__ import annotations

from pathlib import Path

import pytest

from fognet.peer import clusterfile
from fognet.peer.config import load_cluster
from fognet.peer.membership import EventKind, Member, MemberEvent

REPO = Path(__file__).resolve().parents[2]


def _member(name: str, address: str) -> Member:
    return Member(name, address, name, "laptop", 1.0, 0.0, 1, (), 1, 0.0)


def test_local4_is_emulated_in_time_scaled_by_its_fastest_device() -> None:
    cluster = load_cluster(REPO / "peers" / "local-4.toml")
    assert clusterfile.time_scale(cluster) == 2.5
    config = clusterfile.config_from_cluster(cluster, "car1")
    assert config.emulate and config.speed == 0.25 and config.quota == 0 and config.time_scale == 2.5
    pacer = clusterfile.pacer_for(cluster, "car1")
    assert pacer.nic_Bps == pytest.approx(2.5e7 / 2.5)
    hook = clusterfile.link_setter(cluster, "car1", pacer)
    hook(MemberEvent(EventKind.JOIN, _member("fog-server", "127.0.0.1:7000"), 0.0))
    for key in ("fog-server", "127.0.0.1:7000"):
        link = pacer.link_for(key)
        assert link.bandwidth_Bps == pytest.approx(2.5e7 / 2.5) and link.latency_s == pytest.approx(0.002 * 2.5)
    links, default = clusterfile.planning_links(cluster)
    assert links[("car1", "fog-server")].bandwidth == pytest.approx(1e7)
    assert default.latency == pytest.approx(0.0005 * 2.5)
    assert "time scale 2.5" in clusterfile.describe_emulation(cluster)


def test_emulation_off_means_real_time_and_no_pacing() -> None:
    cluster = load_cluster(REPO / "peers" / "local-4.toml")
    assert clusterfile.time_scale(cluster, emulate=False) == 1.0
    assert clusterfile.pacer_for(cluster, "car1", emulate=False) is None
    assert not clusterfile.config_from_cluster(cluster, "fog-server", emulate=False).emulate
    assert "off" in clusterfile.describe_emulation(cluster, emulate=False)
