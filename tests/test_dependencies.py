"""DESIGN.md's dependency direction, and no import cycle anywhere in fognet.

Every import counts, also one inside a function: a lazy import hides a cycle from Python, not
from a reader. Only imports under `if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fognet"

_BOTTOM = {"errors"}
# What each package may import from fognet (besides itself), as DESIGN.md's Layout draws it.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": _BOTTOM,
    "model": _BOTTOM,
    "data": _BOTTOM,
    "partition": _BOTTOM | {"model"},
    "matching": _BOTTOM,
    "placement": _BOTTOM | {"config", "model", "partition", "matching"},
    "net": _BOTTOM | {"config"},
    "sim": _BOTTOM | {"config", "model", "partition", "matching", "placement"},
    "peer": _BOTTOM | {"config", "model", "partition", "matching", "placement", "net"},
    "testing": _BOTTOM | {"config", "model", "partition", "matching", "placement", "net", "peer"},
    "infer": _BOTTOM | {"config", "model", "partition", "matching", "placement", "net", "peer", "data"},
    "experiment": _BOTTOM
    | {"config", "model", "partition", "matching", "placement", "net", "peer", "infer", "sim", "data"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # a name inside a module -> the module
                target = target.rpartition(".")[0]
            if target.startswith("fognet") and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_is_in_the_dependency_table() -> None:
    areas = {_area(m) for m in _modules()} - {"", "cli", "__main__"}
    assert areas <= set(ALLOWED), f"packages missing from ALLOWED: {sorted(areas - set(ALLOWED))}"


def test_imports_follow_the_dependency_direction() -> None:
    wrong = []
    for module, targets in sorted(_graph().items()):
        area = _area(module)
        if area in ("", "cli", "__main__"):
            continue  # the CLI sits on top and may use everything
        for target in sorted(targets):
            other = _area(target)
            if other and other != area and other not in ALLOWED[area]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state[node] == 0 and (found := visit(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    graph = _graph()
    # a package's __init__ is not a dependency of its own modules' imports of siblings
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    found = _cycle(graph)
    assert found is None, " -> ".join(found)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
