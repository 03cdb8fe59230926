"""`fognet peer --cap/--memory/--max-members` (and the same keys in `--config FILE`) reach
the running peer: a real peer process on loopback, seen by a real peer in this process; and
`fognet infer --max-lag` sheds stale frames without failing the run."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fognet.cli import main
from fognet.config.peerfile import read_peer_file
from fognet.errors import ConfigError, RemoteError
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Hello, Reason
from fognet.peer.node import Peer, PeerConfig
from tests.cli.test_peer import ENTRY, _cluster_file, _first_line, _model


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FOGNET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _start(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*ENTRY, "peer", "--no-discovery", "--heartbeat", "0.2", "--exit-with-parent", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = _first_line(proc)
    assert " listening on " in line, line
    return proc, line.split(" listening on ")[1].strip()


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        return proc.communicate(timeout=15)[1]
    finally:
        proc.kill()


async def _see(address: str, tmp_path: Path) -> tuple[float, list[Reason]]:
    """The memory a bootstrapped member hears the peer advertise, and the answers of the
    peer to HELLOs from two more newcomers."""
    member = Peer(PeerConfig("car", cache_dir=tmp_path / "car", heartbeat_s=0.2, bootstrap=(address,)))
    refused: list[Reason] = []
    async with asyncio.timeout(30), member.running(), ZmqTransport("x") as newcomer:
        await member.wait_for_peers(2, timeout=15.0)
        memory = member.membership.table.get("fog1").memory_bytes
        for name in ("n1", "n2"):
            try:
                await newcomer.request(address, Header(Hello(newcomer.address, name=name, quota=1)), timeout_s=5.0)
            except RemoteError as exc:
                refused.append(exc.reason)
    return memory, refused


def test_peer_flags_reach_the_running_peer(tmp_path: Path) -> None:
    proc, address = _start(["--name", "fog1", "--profile", "rpi4", "--memory", "2.5e8", "--cap", "0.5",
                            "--max-members", "1"])
    try:
        memory, refused = asyncio.run(_see(address, tmp_path))
    finally:
        err = _stop(proc)
    assert memory == 2.5e8  # not the profile's 4e9: what memory-limited placement plans with
    assert refused == [Reason.BUSY, Reason.BUSY]  # one member (car) fills a table of 1
    assert "fog1: lends at most 0.5 of its time and 250 MB to partitions" in err
    assert "tracks at most 1 peers" in err


def test_peer_file_limits_and_the_profile_default(tmp_path: Path) -> None:
    config = tmp_path / "peer.toml"
    config.write_text('name = "fog1"\nprofile = "rpi4"\ncap = 0.7\nmemory = 1.0e8\nmax_members = 5\n')
    proc, _ = _start(["--config", str(config), "--cap", "0.6"])  # a flag wins over the file
    err = _stop(proc)
    assert "lends at most 0.6 of its time and 100 MB to partitions" in err and "tracks at most 5 peers" in err
    proc, _ = _start(["--name", "fog2", "--profile", "rpi4"])
    err = _stop(proc)
    assert "fog2: lends at most 0.9 of its time and 4000 MB to partitions" in err  # rpi4.toml's
    assert "tracks at most 128 peers" in err


@pytest.mark.parametrize(("line", "field"), [
    ("cap = 0", "cap"), ("cap = 1.0", "cap"), ('cap = "half"', "cap"),
    ("memory = 0", "memory"), ("memory = -1e9", "memory"), ('memory = "4GB"', "memory"),
    ("max_members = 0", "max_members"), ("max_members = 2.5", "max_members"),
])
def test_peer_file_refuses_bad_limits(tmp_path: Path, line: str, field: str) -> None:
    config = tmp_path / "peer.toml"
    config.write_text(f'name = "fog1"\n{line}\n')
    with pytest.raises(ConfigError, match=f"{field}: must"):
        read_peer_file(config)
    result = CliRunner().invoke(main, ["peer", "--config", str(config)])
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1].startswith("ConfigError: "), result.output


def test_max_lag_skips_stale_frames_and_the_run_still_passes(tmp_path: Path) -> None:
    """Frames every 1 ms, one in flight, at most 1 ms late: most are skipped, every one that
    ran is verified, and skipping is not failing."""
    result = CliRunner().invoke(main, [
        "infer", "--model", str(_model(tmp_path)), "--cluster", str(_cluster_file(tmp_path)), "--frames", "12",
        "--fps", "1000", "--max-lag", "0.001", "--window", "1", "--verify", "--warmup", "1"])
    assert result.exit_code == 0, result.output
    skipped = int(result.output.split("skipped ")[1].split(" of 12")[0])
    assert 1 <= skipped <= 12
    assert f"verified: {12 - skipped}/{12 - skipped} outputs match" in result.output


def test_a_peers_memory_flag_bites_live_placement(tmp_path: Path) -> None:
    """Two equal laptops, one lending 1 byte: every stage runs on the other; with only the
    small one left, the requester (no limit) runs the model itself rather than place a
    stage where it does not fit."""
    model = str(_model(tmp_path))
    small, small_at = _start(["--name", "w1", "--profile", "laptop", "--memory", "1"])
    big, _ = _start(["--name", "w2", "--profile", "laptop", "--bootstrap", small_at])
    try:
        result = CliRunner().invoke(main, ["infer", "--model", model, "--via", small_at, "--frames", "3",
                                           "--verify", "--placement", "planner"])
        _stop(big)
        alone = CliRunner().invoke(main, ["infer", "--model", model, "--via", small_at, "--frames", "2",
                                          "--verify", "--placement", "planner"])
    finally:
        _stop(small)
        _stop(big)
    assert result.exit_code == 0, result.output
    ran = next(line for line in result.output.splitlines() if line.startswith("stages ran on"))
    assert "w2" in ran and "w1" not in ran and "verified: 3/3" in result.output
    assert alone.exit_code == 0, alone.output
    ran = next(line for line in alone.output.splitlines() if line.startswith("stages ran on"))
    assert "w1" not in ran and "infer-" in ran and "verified: 2/2" in alone.output
