"""Session-wide test set-up: one private fognet cache, so tests never touch ~/.cache/fognet
and each zoo model is built once however many tests use it; small hand-made models saved as
real .onnx files for the peer and infer tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import graphs
from tests.graphs import save


@pytest.fixture(scope="session", autouse=True)
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("fognet-cache")
    previous = os.environ.get("FOGNET_CACHE")
    os.environ["FOGNET_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("FOGNET_CACHE", None)
    else:
        os.environ["FOGNET_CACHE"] = previous

@pytest.fixture
def residual_file(tmp_path: Path) -> tuple[Path, str]:
    return save(graphs.residual_model(), tmp_path / "residual.onnx")


@pytest.fixture
def branches_file(tmp_path: Path) -> tuple[Path, str]:
    return save(graphs.branches_model(), tmp_path / "branches.onnx")
