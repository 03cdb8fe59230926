"""partition/, matching/ and placement/ must stay pure: the peer and the simulator both drive them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fognet"
FORBIDDEN = {"zmq", "asyncio", "time", "threading", "socket", "fognet.net", "fognet.peer"}


@pytest.mark.parametrize("sub", ["partition", "matching", "placement"])
def test_pure_packages_import_no_io(sub: str) -> None:
    for path in sorted((PACKAGE / sub).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN and name not in FORBIDDEN and not any(
                    name.startswith(f + ".") for f in FORBIDDEN
                ), f"{path.relative_to(PACKAGE.parent)} imports {name}"


def test_matching_does_not_depend_on_partition() -> None:
    for path in sorted((PACKAGE / "matching").rglob("*.py")):
        text = path.read_text()
        assert "fognet.partition" not in text and "fognet.model" not in text, path


def _imports(sub: str) -> set[str]:
    names: set[str] = set()
    for path in sorted((PACKAGE / sub).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(node.module or "")
    return names


def test_placement_sits_between_partition_and_matching_and_their_users() -> None:
    """DESIGN.md: `placement` uses `partition` and `matching`; `peer`, `infer` and `sim` use
    it, never the other way round."""
    above = ("fognet.peer", "fognet.infer", "fognet.sim", "fognet.cli", "fognet.net", "fognet.testing")
    used = _imports("placement")
    assert {n for n in used if n.startswith(above)} == set()
    assert {"fognet.partition.plan", "fognet.matching.instance"} <= used
    for sub in ("partition", "matching"):
        assert not any(n.startswith("fognet.placement") for n in _imports(sub)), sub
