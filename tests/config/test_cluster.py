"""Cluster files and device profiles: every shipped file loads, every mistake is named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fognet.config.cluster import LinkSpec, load_cluster
from fognet.config.emulation import Emulation
from fognet.errors import ConfigError

PEERS = Path(__file__).resolve().parents[2] / "peers"


@pytest.mark.parametrize("path", sorted(PEERS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_cluster_loads_with_links_to_every_worker(path):
    cluster = load_cluster(path)
    assert cluster.name == path.stem and cluster.emulation.enabled
    assert cluster.sources and cluster.workers
    for src in cluster.sources:
        for worker in cluster.workers:
            link = cluster.link(src.name, worker.name)
            assert link is not None and link.bandwidth > 0 and link.latency >= 0
            assert cluster.link(worker.name, src.name) == link


def test_shipped_cluster_sizes():
    sizes = {p.stem: (len(load_cluster(p).sources), len(load_cluster(p).workers))
             for p in PEERS.glob("local-*.toml")}
    assert sizes == {"local-2": (1, 1), "local-4": (1, 3), "local-8": (2, 6), "local-cars": (3, 2)}


def test_link_is_symmetric_falls_back_to_default_and_is_free_on_one_peer():
    cluster = load_cluster(PEERS / "local-4.toml")
    listed = cluster.link("fog-server", "car1")
    assert listed == LinkSpec("car1", "fog-server", 2.5e7, 0.002)
    assert listed.transfer_time(2.5e7) == pytest.approx(1.002)
    fallback = cluster.link("fog-nano", "fog-laptop")
    assert fallback == LinkSpec("fog-nano", "fog-laptop", 1.0e8, 0.0005)
    same = cluster.link("car1", "car1")
    assert same.bandwidth == math.inf and same.transfer_time(1e9) == 0.0
    with pytest.raises(ConfigError, match="no peer 'ghost'"):
        cluster.link("car1", "ghost")


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


PEER_A = '[[peers]]\nname = "a"\nprofile = "car"\n'
PEER_B = '[[peers]]\nname = "b"\nprofile = "rpi4"\n'
PEER_C = '[[peers]]\nname = "c"\nprofile = "laptop"\n'


def test_without_default_an_unlisted_pair_is_out_of_reach(tmp_path):
    path = _write(tmp_path, PEER_A + PEER_B + PEER_C + '[[links]]\na = "a"\nb = "b"\nbandwidth = 1e6\nlatency = 0.0\n')
    cluster = load_cluster(path)
    assert cluster.default_link is None
    assert cluster.link("b", "a") == LinkSpec("a", "b", 1e6, 0.0)
    assert cluster.link("a", "c") is None and cluster.link("c", "b") is None


def test_overrides_inline_profiles_and_paths(tmp_path):
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "odroid.toml").write_text('speed = 0.3\nquota = 1\nrole = "worker"\n')
    path = _write(tmp_path, PEER_A + """
[[peers]]
name = "b"
profile = "rpi4"
speed = 0.2
quota = 2
role = "both"
address = "127.0.0.1:5601"
[[peers]]
name = "c"
profile = "mine"
[[peers]]
name = "d"
profile = "boards/odroid.toml"
[profiles.mine]
speed = 3.0
quota = 4
role = "worker"
[[links]]
a = "a"
b = "b"
bandwidth = 1e6
latency = 0.01
""")
    cluster = load_cluster(path)
    b = cluster.peer("b")
    assert (b.speed, b.quota, b.role, b.address) == (0.2, 2, "both", "127.0.0.1:5601")
    assert b.profile.speed == 0.15 and b.nic == 1.0e8 and b.is_source and b.is_worker
    assert cluster.peer("c").speed == 3.0 and cluster.peer("c").nic is None
    assert cluster.peer("d").profile.name == "odroid"
    assert cluster.emulation == Emulation(enabled=False)
    assert cluster.link("a", "c") is None
    assert cluster.name == "c"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[[peers]]\nname = "a"\nprofile = "rpi5"\n', r"peers\[0\]\.profile: unknown profile 'rpi5'.*known: .*rpi4"),
        (PEER_A + PEER_B + '[[links]]\na = "a"\nb = "b"\nbandwidth = -5.0\nlatency = 0.0\n',
         r"links\[0\]\.bandwidth: must be positive"),
        (PEER_A + PEER_B + '[[links]]\na = "a"\nb = "b"\nbandwidth = 1e6\nlatency = -0.1\n',
         r"links\[0\]\.latency: must not be negative"),
        (PEER_A + PEER_B + '[[links]]\na = "a"\nb = "zed"\nbandwidth = 1e6\nlatency = 0.0\n',
         r"links\[0\]\.b: unknown peer 'zed'"),
        (PEER_A + PEER_B + '[[links]]\na = "a"\nb = "a"\nbandwidth = 1e6\nlatency = 0.0\n',
         r"links\[0\]: a link joins two different peers"),
        (PEER_A + PEER_B + '[[links]]\na = "a"\nb = "b"\nbandwidth = 1e6\nlatency = 0.0\n'
         '[[links]]\na = "b"\nb = "a"\nbandwidth = 2e6\nlatency = 0.0\n', r"links\[1\]: b - a is listed twice"),
        (PEER_A + PEER_B + '[[links]]\na = "a"\nb = "b"\nlatency = 0.0\n', r"links\[0\]\.bandwidth: missing"),
        (PEER_A + PEER_A, r"peers\[1\]\.name: duplicate peer name 'a'"),
        ('[[peers]]\nprofile = "car"\n', r"peers\[0\]\.name: missing"),
        ('[[peers]]\nname = "a"\n', r"peers\[0\]\.profile: missing"),
        ('[[peers]]\nname = "a"\nprofile = "car"\nsped = 1.0\n', r"peers\[0\]: unknown field 'sped'"),
        ('[[peers]]\nname = "a"\nprofile = "car"\nspeed = "fast"\n', r"peers\[0\]\.speed: must be a number"),
        ('[[peers]]\nname = "a"\nprofile = "car"\nrole = "boss"\n', r"peers\[0\]\.role: must be one of"),
        ('[[peers]]\nname = "a"\nprofile = "car"\nquota = 2\n', r"peers\[0\]\.quota: a source accepts no work"),
        ('[[peers]]\nname = "a"\nprofile = "rpi4"\nquota = 0\n', r"peers\[0\]\.quota: a worker must accept"),
        ('[[peers]]\nname = "a"\nprofile = "car"\naddress = 5601\n', r"peers\[0\]\.address"),
        ('[[peers]]\nname = "a"\nprofile = "nope/x.toml"\n', r"peers\[0\]\.profile: no profile file"),
        (PEER_A + '[default_link]\nbandwidth = 0\nlatency = 0.001\n', r"default_link\.bandwidth: must be positive"),
        (PEER_A + '[default_link]\nbandwidth = 1e6\nlatency = 0.0\na = "a"\n', r"default_link: unknown field 'a'"),
        (PEER_A + '[emulation]\nenabled = "yes"\n', r"emulation\.enabled: must be true or false"),
        (PEER_A + '[emulation]\nfast = true\n', r"emulation: unknown field 'fast'"),
        ('name = "x"\n', r"needs at least one \[\[peers\]\]"),
        ('peers = 3\n', r"array of tables"),
        ('colour = "red"\n' + PEER_A, r"c\.toml: unknown field 'colour'"),
        ('[[peers]]\nname = "a"\nprofile = "p"\n[profiles.p]\nspeed = 1.0\nrole = "worker"\n',
         r"profiles\.p\.quota: missing"),
        ('[[peers\nname = "a"\n', r"not valid TOML"),
    ],
)
def test_cluster_errors_name_file_and_field(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_cluster(path)
    assert str(path) in str(info.value)


def test_missing_cluster_file(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file"):
        load_cluster(tmp_path / "missing.toml")


def test_a_peer_lends_the_cap_its_entry_sets_over_its_profiles(tmp_path):
    """Half of a laptop: `cap` on the peer's entry, no new profile."""
    path = _write(tmp_path, PEER_A + '[[peers]]\nname = "half"\nprofile = "laptop"\ncap = 0.5\n' + PEER_C)
    cluster = load_cluster(path)
    assert cluster.peer("half").cap == 0.5
    assert cluster.peer("half").profile.cap == cluster.peer("c").cap == 0.9  # the profile's, untouched


@pytest.mark.parametrize("cap", ["1.0", "0", "-0.2", "1.5"])
def test_a_peers_cap_outside_what_a_worker_can_lend_names_file_peer_and_value(tmp_path, cap):
    path = _write(tmp_path, PEER_A + f'[[peers]]\nname = "fog"\nprofile = "rpi4"\ncap = {cap}\n')
    with pytest.raises(ConfigError) as info:
        load_cluster(path)
    message = str(info.value)
    assert message.startswith(f"{path}: peers[1].cap: ") and "\n" not in message
    assert "'fog'" in message and f"not {cap}" in message and "0.999" in message
