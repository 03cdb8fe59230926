"""A device's peer file: fields checked, paths relative to the file, one error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.config.peerfile import read_peer_file
from fognet.errors import ConfigError


def test_peer_file_fields_and_paths(tmp_path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "peer.toml"
    path.write_text(
        'name = "pi5"\nprofile = "rpi4"\nbind = "0.0.0.0:5555"\nbootstrap = ["car1@10.0.0.2:5555"]\n'
        'heartbeat = 0.5\ndiscovery = false\nkeys = "pi5.key_secret"\nallow = "/srv/allow.toml"\n'
    )
    got = read_peer_file(path)
    assert got == {
        "name": "pi5", "profile": "rpi4", "bind": "0.0.0.0:5555", "bootstrap": ("car1@10.0.0.2:5555",),
        "heartbeat": 0.5, "discovery": False, "keys": tmp_path / "etc" / "pi5.key_secret",
        "allow": Path("/srv/allow.toml"),  # an absolute path stays itself
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heartbeat = 0\n", "peer.toml: heartbeat: must be positive"),
        ('bootstrap = "car1@10.0.0.2:5555"\n', "bootstrap: must be a list"),
        ("discovery = 1\n", "discovery: must be true or false"),
        ('nmae = "x"\n', "unknown field 'nmae'"),
    ],
)
def test_peer_file_mistakes_name_the_field(tmp_path, text, message) -> None:
    path = tmp_path / "peer.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_peer_file(path)
