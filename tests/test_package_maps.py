"""Every package's docstring is its map: each module in it is named there, and nothing else is.

A newcomer opens `fognet/<package>/__init__.py` to learn which file does what; a module the
map forgets is invisible to them, and a name the map keeps after its module went sends them
looking for a file that is not there.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fognet"
# A map entry: a module name at the start of a line, then at least two spaces and its job.
_ENTRY = re.compile(r"^\s*([a-z_][a-z0-9_]*)(?:\.py)?/?\s{2,}\S", re.MULTILINE)
_PACKAGES = sorted(p.parent for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE)


def _members(package: Path) -> set[str]:
    modules = {p.stem for p in package.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    subpackages = {p.parent.name for p in package.glob("*/__init__.py")}
    return modules | subpackages


def _mapped(package: Path) -> set[str]:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    return set(_ENTRY.findall(doc))


@pytest.mark.parametrize("package", _PACKAGES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_package_docstring_maps_exactly_its_modules(package: Path) -> None:
    members, mapped = _members(package), _mapped(package)
    assert members - mapped == set(), "modules the map does not name"
    assert mapped - members == set(), "names in the map with no module"
