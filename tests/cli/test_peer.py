"""`fognet peer`, `fognet cluster` and `fognet infer` end to end: real processes on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner

from fognet.cli import main
from tests.graphs import branches_model

ENTRY = [sys.executable, "-c", "from fognet.cli import main; main()"]

CLUSTER = """
name = "tiny"
[emulation]
enabled = false
[default_link]
bandwidth = 1.0e8
latency = 0.0005
[[peers]]
name = "car"
profile = "car"
[[peers]]
name = "w1"
profile = "laptop"
[[peers]]
name = "w2"
profile = "laptop"
"""


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FOGNET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _cluster_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(CLUSTER)
    return path


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "branches.onnx"
    onnx.save(branches_model(), path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _first_line(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            return line
    raise AssertionError("no output")


def test_peer_prints_its_address_and_exits_cleanly_on_sigint(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*ENTRY, "peer", "--name", "p1", "--profile", "rpi4", "--no-discovery", "--heartbeat", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = _first_line(proc)
        assert line.startswith("p1 listening on 127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "p1 stopped" in out and "Traceback" not in err


def test_cluster_starts_every_peer_and_stops_them_all(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*ENTRY, "cluster", str(_cluster_file(tmp_path)), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out = ""
        deadline = time.monotonic() + 60
        while "join with:" not in out and time.monotonic() < deadline:
            out += proc.stdout.readline()
        assert "emulation: off" in out
        rows = [line.split("│") for line in out.splitlines() if "127.0.0.1:" in line and "│" in line]
        pids = [int(cells[-2]) for cells in rows]  # the last column is the pid
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped 3 peers" in rest
    time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def test_infer_with_cluster_file_runs_verifies_and_stops_peers(tmp_path: Path) -> None:
    from fognet.data.driving import DrivingStream
    from fognet.data.image import save_image

    images = tmp_path / "drive"
    images.mkdir()
    for frame in DrivingStream(3, size=(40, 60), seed=2):
        save_image(images / f"frame{frame.index}.png", frame.image)
    csv_path = tmp_path / "frames.csv"
    result = CliRunner().invoke(
        main,
        ["infer", "--model", str(_model(tmp_path)), "--cluster", str(_cluster_file(tmp_path)),
         "--frames", "5", "--source", str(images), "--verify", "--window", "2", "--csv", str(csv_path)],
    )
    assert result.exit_code == 0, result.output
    assert "3 frames" in result.output and "verified: 3/3 outputs match" in result.output
    assert "security: closed (CurveZMQ): a key per peer, 3 on the allow-list" in result.output
    assert "p50" in result.output and "transfer" in result.output and "stages ran on" in result.output
    rows = csv_path.read_text().splitlines()
    assert len(rows) == 4 and rows[1].split(",")[3] == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no-such-model", "--via", "127.0.0.1:9"], "ModelError"),
        (["--via", "127.0.0.1:9", "--join-timeout", "1"], "PeerUnreachable: only 0 worker(s) answered via 127.0.0.1:9"),
        (["--via", "nonsense"], "ConfigError"),
        (["--cluster", "BAD"], "ConfigError"),
        (["--cluster", "BAD", "--source", "/nonexistent-dir"], "DatasetError: /nonexistent-dir: no such file"),
        (["--cluster", "BAD", "--keys", "k.key_secret"], "Error: --keys/--allow go with --via"),
        (["--via", "w@127.0.0.1:9", "--keys", "/no/k.key_secret", "--allow", "/no/a.toml"],
         "ConfigError: /no/k.key_secret: cannot read key file"),
        (["--via", "w@127.0.0.1:9", "--keys", "/no/k.key_secret"], "Error: a closed peer needs both"),
    ],
)
def test_infer_bad_input_is_one_line_and_exit_2(tmp_path: Path, args, message) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[peers]]\nname = 'x'\nprofile = 'no-such-profile'\n")
    args = [str(bad) if a == "BAD" else a for a in args]
    if "--model" not in args:
        args = ["--model", str(_model(tmp_path)), *args]
    result = CliRunner().invoke(main, ["infer", "--frames", "1", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(message.split(":")[0]) and message in lines[-1]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "open"])
def test_infer_via_a_running_cluster_reports_which_peers_ran_what(tmp_path: Path, closed: bool) -> None:
    from fognet.infer.launch import LocalCluster

    local = LocalCluster(_cluster_file(tmp_path), names=["w1", "w2"], heartbeat_s=0.5, closed=closed,
                         extra_keys=["req"])
    with local:
        w2 = local.launched[1]
        via = ["--via", f"w2@{w2.address}"] if closed else ["--via", w2.address]
        if closed:
            via += ["--keys", str(local.keys_dir / "req.key_secret"), "--allow", str(local.keys_dir / "allow.toml")]
        result = CliRunner().invoke(
            main, ["infer", "--model", str(_model(tmp_path)), *via, "--frames", "3", "--verify", "--placement", "planner"],
        )
    assert result.exit_code == 0, result.output
    assert "joining via" in result.output and "verified: 3/3" in result.output
    ran = next(line for line in result.output.splitlines() if line.startswith("stages ran on"))
    assert "w1" in ran or "w2" in ran
