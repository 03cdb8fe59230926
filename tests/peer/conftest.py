"""Models on disk for the peer tests: small hand-made graphs, saved as real .onnx files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import pytest

from tests import graphs


def save(model: onnx.ModelProto, path: Path) -> tuple[Path, str]:
    onnx.save(model, str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def residual_file(tmp_path: Path) -> tuple[Path, str]:
    return save(graphs.residual_model(), tmp_path / "residual.onnx")


@pytest.fixture
def branches_file(tmp_path: Path) -> tuple[Path, str]:
    return save(graphs.branches_model(), tmp_path / "branches.onnx")
