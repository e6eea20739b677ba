"""The package's import graph has no circle: every module can be read (and imported)
after the modules it names, with nothing imported "only for type checking" to hide a
loop (issue 12: the app's mixins were the one circle)."""

from __future__ import annotations

import ast
from pathlib import Path

import limbo_tui

PACKAGE = Path(limbo_tui.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every limbo_tui module this file imports, wherever the import statement is (at
    the top, in a function, under TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # `from limbo_tui.ui import app` imports the module limbo_tui.ui.app.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    # A module imports its own package first; that is no edge of a circle.
    return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (circle := visit(nxt)) is not None:
                return circle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (circle := visit(start)) is not None:
            return circle
    return None


def test_the_import_graph_has_no_circle() -> None:
    circle = find_circle(import_graph())
    assert circle is None, " -> ".join(circle or [])


def test_the_check_finds_a_circle_and_reads_every_kind_of_import() -> None:
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    # A plain import, a from-import of a module and one inside a function all count.
    assert "limbo_tui.ui.app" in graph["limbo_tui.launch"]
    assert "limbo_tui.monitor_state" in graph["limbo_tui.scripting"]
    assert "limbo_tui.scripting" in graph["limbo_tui.cli"]
