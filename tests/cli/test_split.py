"""`fognet split` / `fognet cuts` through the real CLI: the manifest, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from fognet.cli import main
from fognet.model.runtime import make_session, random_feeds, run, run_chain
from tests.graphs import residual_model


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "res.onnx"
    onnx.save(residual_model(), path)
    return path


def test_split_writes_parts_and_a_manifest_that_chain_to_the_whole(tmp_path) -> None:
    out = tmp_path / "parts"
    result = CliRunner().invoke(main, ["split", "squeezenet", "--parts", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["file"] for p in manifest["parts"]] == ["part_0.onnx", "part_1.onnx", "part_2.onnx"]
    assert manifest["inputs"][0]["shape"] == [1, 3, 224, 224] and len(manifest["model_sha256"]) == 64
    ends = [p["nodes"] for p in manifest["parts"]]
    assert ends[0][0] == 0 and all(a[1] + 1 == b[0] for a, b in zip(ends, ends[1:], strict=False))
    whole = onnx.load(manifest["model"])
    info = type("T", (), {})()
    info.name, info.shape, info.dtype = manifest["inputs"][0]["name"], manifest["inputs"][0]["shape"], "float32"
    feeds = random_feeds([info], seed=2)
    expected = run(make_session(whole), feeds)
    got = run_chain([str(out / p["file"]) for p in manifest["parts"]], feeds)
    for name in manifest["outputs"]:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5)


def test_split_at_explicit_positions(model_file, tmp_path) -> None:
    result = CliRunner().invoke(main, ["split", str(model_file), "--at", "1,3", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert [p["nodes"] for p in manifest["parts"]] == [[0, 0], [1, 2], [3, 3]]
    assert manifest["parts"][1]["inputs"] == ["a"] and manifest["parts"][2]["inputs"] == ["s"]


def test_cuts_lists_articulation_points(model_file) -> None:
    result = CliRunner().invoke(main, ["cuts", str(model_file)])
    assert result.exit_code == 0, result.output
    assert "3 cut positions (1..3), 2 articulation points" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["split", "{tmp}/missing.onnx", "--parts", "2", "--out", "{tmp}/o"], "ModelError: no such model file"),
        (["split", "{junk}", "--parts", "2", "--out", "{tmp}/o"], "ModelError: "),
        (["split", "{model}", "--parts", "9", "--out", "{tmp}/o"], "PartitionError: cannot split into 9 parts"),
        (["split", "{model}", "--at", "7", "--out", "{tmp}/o"], "PartitionError: cut position 7 is out of range"),
        (["split", "no-such-net", "--parts", "2", "--out", "{tmp}/o"], "ModelError: unknown model 'no-such-net'"),
        (["cuts", "{tmp}/missing.onnx"], "ModelError: no such model file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, model_file, tmp_path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 definitely not onnx \xff" * 40)
    args = [a.format(tmp=tmp_path, junk=junk, model=model_file) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert "Traceback" not in result.output
