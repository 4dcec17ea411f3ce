"""The runtime knows no flow: `sluice/` reaches the app's code (tasks, schemas, devkit) only
through the registration interface (`sluice.devkit`, entry points), and its own modules
import each other without circles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "sluice"
APP_PACKAGES = ("tasks", "schemas", "devkit")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in RUNTIME.rglob("*.py")}


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module PATH imports (at any depth: top level, functions, TYPE_CHECKING)."""
    package = (
        module_name(path)
        if path.name == "__init__.py"
        else module_name(path)[: -1 - len(path.stem)]
    )
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # `from sluice.console import pages` imports the module sluice.console.pages
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else base))
    return found


def test_the_runtime_imports_no_app_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in MODULES.values()
        for line, name in imports(path)
        if name.split(".")[0] in APP_PACKAGES
    ]
    assert offenders == []


def test_no_import_circles_inside_the_runtime() -> None:
    graph = {
        name: {
            imported for _, imported in imports(path) if imported in MODULES and imported != name
        }
        for name, path in MODULES.items()
    }
    circles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert [" -> ".join(c) for c in circles] == []


def test_the_check_sees_imports_of_every_kind() -> None:
    """The checks above would pass vacuously if the parser missed imports."""
    edges = {name for _, name in imports(RUNTIME / "cli.py")}
    assert "sluice.client" in edges  # module level
    assert "sluice.history" in edges  # inside a function
    assert "sluice.console.pages" in {n for _, n in imports(RUNTIME / "console" / "app.py")}
