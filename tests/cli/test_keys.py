"""`fognet keys`, and `fognet peer --config` with keys: a device's closed peer from one file."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fognet.cli import main
from fognet.errors import PeerUnreachable
from fognet.net import wire
from fognet.net.keys import (
    ClusterKeys,
    load_allow_list,
    load_keypair,
    write_allow_list,
    write_keypair,
)
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header

ENTRY = [sys.executable, "-c", "from fognet.cli import main; main()"]


def test_keys_new_then_show_prints_the_allow_list_line(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["keys", "new", "--out", str(tmp_path / "k"), "--name", "pi5"])
    assert made.exit_code == 0, made.output
    pair = load_keypair(tmp_path / "k" / "pi5.key_secret")
    shown = runner.invoke(main, ["keys", "show", str(tmp_path / "k" / "pi5.key")])
    assert shown.exit_code == 0 and pair.secret not in shown.output + made.output
    line = shown.output.splitlines()[-1]
    assert line == made.output.splitlines()[-1] and pair.fingerprint in shown.output
    (tmp_path / "allow.toml").write_text(f"[peers]\n{line}\n")
    assert load_allow_list(tmp_path / "allow.toml").key_of("pi5") == pair.public
    again = runner.invoke(main, ["keys", "new", "--out", str(tmp_path / "k"), "--name", "pi5"])
    assert again.exit_code == 2 and again.output.startswith("ConfigError: ") and "never overwritten" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keys", "x.key_secret"], "needs both --keys"),
        (["--config", "missing.toml"], "ConfigError: missing.toml: no such file"),
    ],
)
def test_peer_refuses_half_a_closed_setup(args, message, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["peer", "--name", "p", "--profile", "rpi4", *args])
    assert result.exit_code == 2 and message in result.output


def test_peer_config_file_with_unknown_field_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('name = "p"\nprofil = "rpi4"\n')
    result = CliRunner().invoke(main, ["peer", "--config", str(tmp_path / "p.toml")])
    assert result.exit_code == 2 and "p.toml: unknown field 'profil'" in result.output


def test_peer_from_config_file_runs_closed(tmp_path: Path) -> None:
    pairs = {n: write_keypair(tmp_path / "keys", n)[0] for n in ("fog1", "car1")}
    allow = write_allow_list(tmp_path / "keys" / "allow.toml", pairs)
    (tmp_path / "fog1.toml").write_text(
        'name = "someone-else"\nprofile = "rpi4"\nbind = "127.0.0.1:0"\ndiscovery = false\n'
        'heartbeat = 0.5\nkeys = "keys/fog1.key_secret"\nallow = "keys/allow.toml"\n'
    )
    proc = subprocess.Popen(  # --name on the command line wins over the file's
        [*ENTRY, "peer", "--config", str(tmp_path / "fog1.toml"), "--name", "fog1", "--cache", str(tmp_path / "c")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("fog1 listening on 127.0.0.1:"), proc.stderr.read() if proc.poll() else line
        address = line.rsplit(" ", 1)[-1].strip()
        asyncio.run(_hello_as(address, ClusterKeys(pairs["car1"], allow), tmp_path))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"closed cluster: key {pairs['fog1'].fingerprint}" in err and "runs OPEN" not in err


async def _hello_as(address: str, keys: ClusterKeys, tmp_path: Path) -> None:
    """car1 (listed) gets fog1's HELLO; a stranger's key gets nothing."""
    async with asyncio.timeout(30):
        car = ZmqTransport("car1", keys=keys)
        stranger = ZmqTransport("car1", keys=ClusterKeys(write_keypair(tmp_path / "s", "car1")[0], keys.allow))
        try:
            for t in (car, stranger):
                t.learn(address, "fog1")
            reply, _ = await car.request(address, Header(wire.Hello(car.address, name="car1")), timeout_s=10.0)
            assert reply.sender == "fog1" and reply.body.key == keys.allow.fingerprint_of("fog1")
            with pytest.raises(PeerUnreachable):
                await stranger.request(address, Header(wire.Ping()), timeout_s=1.0)
        finally:
            await car.aclose()
            await stranger.aclose()
