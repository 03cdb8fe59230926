from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from fognet.errors import ModelError
from fognet.model import zoo
from fognet.model.flops import model_flops
from fognet.model.load import load_model

BUILT = ["pilotnet", "alexnet", "vgg16", "resnet18", "resnet34", "nin", "mobilenetv2", "yolov3-tiny"]
LIGHT = [
    "bvlc-alexnet", "densenet121", "inception-v1", "inception-v2", "resnet50", "shufflenet",
    "squeezenet", "vgg19", "zfnet512",
]
SHAPES = {"pilotnet": [(1, 1)], "yolov3-tiny": [(1, 255, 13, 13), (1, 255, 26, 26)]}


def _session(path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, seed: int) -> list[np.ndarray]:
    feed = session.get_inputs()[0]
    x = np.random.default_rng(seed).random(feed.shape, dtype=np.float32)
    return session.run(None, {feed.name: x})


def test_registry_names_sources_and_unknown_names() -> None:
    assert zoo.names() == BUILT + LIGHT
    assert {zoo.entry(n).source for n in BUILT} == {"built"}
    assert {zoo.entry(n).source for n in LIGHT} == {"onnx"}
    assert zoo.entry("bvlc-alexnet").origin == "light_bvlc_alexnet"
    assert zoo.entry("yolov3-tiny").input_shape == (1, 3, 416, 416)
    assert zoo.entry("vgg16:slim") == zoo.entry("vgg16")
    with pytest.raises(ModelError, match=r"unknown model 'resnt18'; known: pilotnet, .*did you mean 'resnet18'"):
        zoo.build("resnt18")
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        zoo.entry("nope")


@pytest.mark.parametrize("name", BUILT + LIGHT)
def test_every_model_is_valid_and_gives_sane_input_dependent_outputs(name, zoo_cache) -> None:
    entry = zoo.entry(name)
    path = zoo.build(name, slim=entry.slimmable, cache_dir=zoo_cache)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    assert model.ir_version >= 8
    assert "ConstantOfShape" not in {n.op_type for n in graph.node}
    weights = {t.name for t in graph.initializer}
    assert [i.name for i in graph.input if i.name in weights] == []
    assert len(graph.input) == 1
    assert tuple(d.dim_value for d in graph.input[0].type.tensor_type.shape.dim) == entry.input_shape

    session = _session(path)
    first, second = _run(session, 1), _run(session, 2)
    expected = SHAPES.get(name)
    assert [o.shape for o in first] == (expected or [o.shape for o in first])
    for a, b in zip(first, second, strict=True):
        assert np.isfinite(a).all() and np.isfinite(b).all()
        if expected is None:
            assert a.size == 1000
        assert np.std(a) > 0 or a.size == 1
        assert not np.allclose(a, b, rtol=1e-3, atol=1e-6), f"{name}: output ignores the input"


def test_light_weights_follow_their_roles(zoo_cache) -> None:
    model = onnx.load(str(zoo.build("resnet50", cache_dir=zoo_cache)))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = values[node.input[1]]
            fan_in = math.prod(w.shape[1:])
            assert 0.5 / math.sqrt(fan_in) < np.std(w) < 1.6 / math.sqrt(fan_in)
        if node.op_type == "BatchNormalization":
            scale, bias, mean, var = (values[n] for n in node.input[1:])
            assert 0.2 < scale.min() and scale.max() < 1.1
            assert np.abs(bias).max() < 0.1 and np.abs(mean).max() < 0.1
            assert 0.85 < var.min() and var.max() < 1.15


def test_builds_are_deterministic_per_seed(tmp_path) -> None:
    for name in ("pilotnet", "squeezenet"):
        a = zoo.build(name, 0, cache_dir=tmp_path / "a").read_bytes()
        b = zoo.build(name, 0, cache_dir=tmp_path / "b").read_bytes()
        other = zoo.build(name, 1, cache_dir=tmp_path / "a").read_bytes()
        assert a == b
        assert other != a and len(other) == len(a)


def test_cache_hit_does_not_rebuild_and_leaves_no_temp_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FOGNET_CACHE", str(tmp_path / "cache"))
    assert zoo.cache_dir() == tmp_path / "cache"
    path = zoo.build("pilotnet")
    assert path.parent == tmp_path / "cache" / "zoo"
    stamp = path.stat().st_mtime_ns
    assert zoo.build("pilotnet") == path
    assert path.stat().st_mtime_ns == stamp
    # slim means nothing for pilotnet, so it shares the file; seeds and slimmable models do not
    assert zoo.build("pilotnet", slim=True) == path
    assert zoo.build("pilotnet", 3) != path
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert load_model("pilotnet").path == path  # a model argument resolves names through the zoo


def test_slim_variant_has_its_own_cache_entry(zoo_cache) -> None:
    slim = zoo.build("vgg16", slim=True, cache_dir=zoo_cache)
    assert zoo.build("vgg16:slim", cache_dir=zoo_cache) == slim
    assert "slim" in slim.name
    model = onnx.load(str(slim))
    fc = [t for t in model.graph.initializer if len(t.dims) == 2]
    assert [tuple(t.dims) for t in fc] == [(256, 25088), (256, 256), (1000, 256)]


def test_summary_counts_params_nodes_and_flops(zoo_cache) -> None:
    info = zoo.summary("pilotnet", cache_dir=zoo_cache)
    convs = [(3, 24, 5), (24, 36, 5), (36, 48, 5), (48, 64, 3), (64, 64, 3)]
    fcs = [(1152, 100), (100, 50), (50, 10), (10, 1)]
    expected = sum(o * i * k * k + o for i, o, k in convs) + sum(i * o + o for i, o in fcs)
    assert info.params == expected
    assert info.nodes == 5 * 2 + 1 + 4 + 3  # conv+relu, flatten, gemms, relus between gemms
    assert info.flops == model_flops(onnx.load(str(info.path)))
    assert zoo.summary("pilotnet", cache_dir=zoo_cache) == info  # from the stats file


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in BUILT + LIGHT if zoo.entry(n).slimmable])
def test_full_size_heavy_models_run(name, tmp_path) -> None:
    path = zoo.build(name, cache_dir=tmp_path)
    onnx.checker.check_model(str(path), full_check=True)
    (out,) = _run(_session(path), 1)
    assert out.size == 1000 and np.isfinite(out).all()
