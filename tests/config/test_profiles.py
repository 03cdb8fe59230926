"""Device profiles: every shipped profile loads, names are found where documented, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.config.cluster import load_cluster
from fognet.config.profiles import REPO_PROFILES, load_profile, profile_dirs
from fognet.errors import ConfigError

PROFILE_NAMES = ["rpi4", "jetson-nano", "laptop", "fog-server", "car"]
PEER_A = '[[peers]]\nname = "a"\nprofile = "car"\n'


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_shipped_profile_loads(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.speed > 0 and profile.threads >= 1
    assert profile.nic is None or profile.nic > 0
    assert (profile.quota == 0) == (profile.role == "source")


def test_shipped_speeds_are_the_documented_assumptions():
    speeds = {n: load_profile(n).speed for n in PROFILE_NAMES}
    assert speeds == {"rpi4": 0.15, "jetson-nano": 0.4, "laptop": 1.0, "fog-server": 2.5, "car": 0.25}


def test_profiles_next_to_the_cluster_file_win_then_fognet_peers(tmp_path, monkeypatch):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "car.toml").write_text('speed = 0.5\nquota = 0\nrole = "source"\n')
    assert load_cluster(_write(tmp_path, PEER_A)).peer("a").speed == 0.5
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "tiny.toml").write_text('speed = 0.01\nquota = 1\nrole = "worker"\n')
    monkeypatch.setenv("FOGNET_PEERS", str(elsewhere))
    assert load_profile("tiny").speed == 0.01
    dirs = profile_dirs(tmp_path)
    assert dirs[0] == tmp_path / "profiles" and dirs.index(elsewhere) < dirs.index(REPO_PROFILES)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('quota = 1\nrole = "worker"\n', r"bad\.toml: speed: missing"),
        ('speed = -1\nquota = 1\nrole = "worker"\n', r"bad\.toml: speed: must be positive"),
        ('speed = 1\nquota = 1.5\nrole = "worker"\n', r"bad\.toml: quota: must be an integer"),
        ('speed = 1\nquota = 1\nrole = "worker"\nnic = -3\n', r"bad\.toml: nic: must be positive"),
        ('speed = 1\nquota = 1\nrole = "worker"\nthreads = 0\n', r"bad\.toml: threads: must be an integer >= 1"),
        ('speed = 1\nquota = 1\nrole = "worker"\nram = 4\n', r"bad\.toml: unknown field 'ram'"),
        ('speed = 1\nquota = 1\n', r"bad\.toml: role: missing"),
    ],
)
def test_profile_errors_name_file_and_field(tmp_path, text, match):
    path = _write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError, match=match):
        load_profile(path)


def test_unknown_profile_name_lists_where_it_looked():
    with pytest.raises(ConfigError, match=r"unknown profile 'rpi5' \(looked in .*profiles"):
        load_profile("rpi5")
