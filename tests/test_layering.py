"""partition/, matching/ and placement/ must stay pure: the peer and the simulator both drive them.

The dependency direction between packages and the absence of import cycles are in
test_dependencies.py."""

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
