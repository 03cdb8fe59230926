"""config/ sits at the bottom of fognet (DESIGN.md, Layout): every layer reads files through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fognet"


def _fognet_imports(folder: Path) -> set[tuple[str, str]]:
    """(file, module) for every fognet module a package's files import, at any depth."""
    found = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found |= {(path.name, n) for n in names if n.startswith("fognet")}
    return found


def test_config_imports_nothing_of_fognet_but_errors() -> None:
    imports = _fognet_imports(PACKAGE / "config")
    assert imports, "config/ reads its fields through config.toml and raises fognet.errors"
    stray = {(f, m) for f, m in imports if m != "fognet.errors" and not m.startswith("fognet.config")}
    assert not stray


@pytest.mark.parametrize("package", ["sim", "placement"])
def test_the_simulator_and_placement_read_files_without_the_peer(package: str) -> None:
    stray = {(f, m) for f, m in _fognet_imports(PACKAGE / package) if m.startswith(("fognet.peer", "fognet.net"))}
    assert not stray
