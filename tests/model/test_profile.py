"""The profiler on real onnxruntime sessions: every compute node timed, JSON that round-trips."""

from __future__ import annotations

import hashlib
import socket
import tempfile
from pathlib import Path

import onnx
import pytest

from fognet.errors import ModelError
from fognet.model.flops import graph_node_flops
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.profile import (
    Profile,
    estimate_profile,
    load_profile,
    measured_rate,
    parse_trace,
    profile_model,
)
from tests.graphs import branches_model, constant_weights_model, residual_model

SQUEEZENET = Path(onnx.__file__).parent / "backend/test/data/light/light_squeezenet.onnx"


def _saved(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, path)
    return path


def test_every_compute_node_is_timed_and_json_round_trips(tmp_path: Path) -> None:
    path = _saved(residual_model(), tmp_path / "res.onnx")
    loaded = load_model(path)
    graph = analyse(loaded.model)
    profile = profile_model(loaded, runs=3, warmup=1)

    assert [r.name for r in profile.nodes] == [n.name for n in graph.nodes]
    assert [r.index for r in profile.nodes] == list(range(len(graph)))
    assert [r.op_type for r in profile.nodes] == ["Conv", "Conv", "Add", "Relu"]
    assert all(r.time_s >= 0 for r in profile.nodes)
    assert [r.flops for r in profile.nodes] == graph_node_flops(graph)
    assert [r.out_bytes for r in profile.nodes] == [8 * 16 * 16 * 4] * 4
    assert profile.whole_model_time_s > 0 and profile.runs == 3 and profile.threads == 1
    assert profile.model_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert profile.machine.hostname == socket.gethostname() and profile.machine.cpu_count >= 1
    assert profile.input_shapes == {"x": (1, 3, 16, 16)}
    assert profile.reference_times() == [r.time_s for r in profile.nodes]
    assert profile.times_for(graph) == profile.reference_times()

    assert Profile.from_json(profile.to_json()) == profile
    profile.save(tmp_path / "p.json")
    assert load_profile(tmp_path / "p.json") == profile


def test_constant_nodes_are_kept_apart(tmp_path: Path) -> None:
    loaded = load_model(_saved(constant_weights_model(), tmp_path / "cw.onnx"))
    profile = profile_model(loaded, runs=2, warmup=1)
    assert [r.name for r in profile.nodes] == ["conv", "muly"]
    assert profile.constant_time_s >= 0


def test_onnxruntime_trace_files_are_cleaned_up(tmp_path: Path, monkeypatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)  # onnxruntime's default trace location
    loaded = load_model(_saved(branches_model(), tmp_path / "br.onnx"))
    profile_model(loaded, runs=1, warmup=0)
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["br.onnx", "scratch"]


def test_trace_parsing_drops_warmups_and_sums_repeats() -> None:
    def node(name: str, us: int) -> dict:
        return {"cat": "Node", "name": f"{name}_kernel_time", "dur": us}

    run_end = {"cat": "Session", "name": "model_run", "dur": 99}
    events = [
        {"cat": "Session", "name": "session_initialization", "dur": 5000},
        node("a", 900), run_end,
        node("a", 10), node("b", 3), node("b", 4), {"cat": "Node", "name": "a_fence_before"}, run_end,
        node("a", 12), run_end,
    ]
    assert parse_trace(events, warmup=1) == [
        pytest.approx({"a": 10e-6, "b": 7e-6}),
        pytest.approx({"a": 12e-6}),
    ]


def test_estimated_profile_prices_flops_and_bytes(tmp_path: Path) -> None:
    loaded = load_model(_saved(residual_model(), tmp_path / "res.onnx"))
    profile = estimate_profile(loaded, flops_per_s=1e9, bytes_per_s=1e9, node_overhead_s=0.0)
    flops = graph_node_flops(analyse(loaded.model))
    assert profile.reference_times() == pytest.approx([f / 1e9 + 8192 / 1e9 for f in flops])
    assert profile.kind.startswith("estimated") and profile.runs == 0
    assert measured_rate(profile) == pytest.approx(sum(flops) / profile.node_time_sum_s)


def test_bad_profiles_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ModelError, match="not a fognet profile"):
        load_profile(bad)
    with pytest.raises(ModelError, match="cannot read"):
        load_profile(tmp_path / "missing.json")
    other = estimate_profile(load_model(_saved(residual_model(), tmp_path / "res.onnx")))
    with pytest.raises(ModelError, match="no time for node"):
        other.times_for(analyse(branches_model()))


@pytest.mark.skipif(not SQUEEZENET.exists(), reason="onnx's light squeezenet is not installed")
def test_squeezenet_profile_covers_every_node() -> None:
    loaded = load_model(SQUEEZENET)
    profile = profile_model(loaded, runs=2, warmup=1)
    graph = analyse(loaded.model)
    assert len(profile.nodes) == len(graph) > 50
    assert all(r.time_s >= 0 for r in profile.nodes)
    assert sum(r.time_s > 0 for r in profile.nodes) > len(graph) // 2
    assert 0.6e9 < profile.total_flops < 0.8e9  # SqueezeNet 1.0 at 224x224: ~0.35 G multiply-adds
