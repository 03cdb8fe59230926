"""`fognet bench`: --compare on hand-written files, and one quick real run on local-2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fognet.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _bench(p95_fognet: float, throughput_fognet: float, p50_local: float) -> dict:
    return {"suite": "quick", "machine": {"cores": 2}, "emulation": "emulation: ON", "models": {
        "resnet18": {
            "local": {"p50_ms": p50_local, "p95_ms": 500.0, "p99_ms": 510.0, "throughput_fps": 2.0},
            "fognet": {"p50_ms": 120.0, "p95_ms": p95_fognet, "p99_ms": 140.0, "throughput_fps": throughput_fognet},
        }}}


def _files(tmp_path: Path) -> tuple[str, str]:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_bench(130.0, 8.0, 480.0)))
    b.write_text(json.dumps(_bench(195.0, 6.0, 300.0)))  # fognet p95 +50%, throughput -25%; local faster
    return str(a), str(b)


def test_compare_flags_the_regression(tmp_path):
    a, b = _files(tmp_path)
    result = CliRunner().invoke(main, ["bench", "--compare", a, b])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("REGRESSION resnet18 fognet p95_ms: 130.00 -> 195.00 (+50%)") for line in lines)
    assert any(line.startswith("REGRESSION resnet18 fognet throughput_fps") for line in lines)
    assert any(line.startswith("improved") and "local p50_ms" in line for line in lines)
    assert not any("p99_ms" in line for line in lines)  # unchanged figures are not listed
    assert "2 regression(s), 1 improvement(s)" in lines[-1]


def test_compare_exits_non_zero_only_if_asked(tmp_path):
    a, b = _files(tmp_path)
    assert CliRunner().invoke(main, ["bench", "--compare", a, b, "--fail-on-regression"]).exit_code == 1
    assert CliRunner().invoke(main, ["bench", "--compare", b, b, "--fail-on-regression"]).exit_code == 0


def test_compare_bad_file_is_one_line(tmp_path):
    a, _ = _files(tmp_path)
    (tmp_path / "junk.json").write_text("{not json")
    for other in (str(tmp_path / "missing.json"), str(tmp_path / "junk.json")):
        result = CliRunner().invoke(main, ["bench", "--compare", a, other])
        assert result.exit_code == 2, result.output
        assert result.output.splitlines()[-1].startswith("ConfigError: "), result.output


def test_quick_bench_on_a_launched_cluster(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--suite", "quick", "--frames", "2", "--cluster",
                                       str(ROOT / "peers" / "local-2.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    entry = data["models"]["pilotnet"]
    for mode in ("local", "fognet"):
        assert entry[mode]["frames"] == 2 and entry[mode]["failed"] == 0
        assert 0 < entry[mode]["p50_ms"] <= entry[mode]["p99_ms"]
    assert data["emulation"].startswith("emulation: ON")
    assert data["machine"]["cores"] >= 1


TINY = """
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
"""


def test_quick_bench_joins_a_closed_cluster_with_its_keys(tmp_path):
    """`bench --via` a running closed cluster: without the requester's keys nothing could
    join it (its peers refuse every key not on the list), so frames that ran are the proof."""
    from fognet.infer.launch import LocalCluster

    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "bench.json"
    with LocalCluster(path, names=["w1"], heartbeat_s=0.5, closed=True, extra_keys=["req"]) as local:
        keys = local.keys_dir
        result = CliRunner().invoke(main, [
            "bench", "--suite", "quick", "--frames", "2", "--via", local.via, "--out", str(out),
            "--keys", str(keys / "req.key_secret"), "--allow", str(keys / "allow.toml")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["closed"] is True and data["via"] == [local.via]
    for mode in ("local", "fognet"):
        assert data["models"]["pilotnet"][mode]["frames"] == 2
        assert data["models"]["pilotnet"][mode]["failed"] == 0


def test_bench_keys_need_via_and_both_files(tmp_path):
    secret = tmp_path / "x.key_secret"
    secret.write_text("not a key")
    for args in (["--keys", str(secret), "--allow", str(secret)], ["--via", "a@127.0.0.1:9", "--keys", str(secret)]):
        result = CliRunner().invoke(main, ["bench", "--suite", "quick", *args])
        assert result.exit_code == 2, result.output
        assert "--keys" in result.output.strip().splitlines()[-1]
    result = CliRunner().invoke(main, ["bench", "--suite", "quick", "--via", "a@127.0.0.1:9",
                                       "--keys", str(secret), "--allow", str(secret)])
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1].startswith("ConfigError: "), result.output
