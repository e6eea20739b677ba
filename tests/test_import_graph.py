"""The package's import graph has no circle: every module can be read (and imported)
after the modules it names, with nothing imported "only for type checking" to hide a
loop (issue 12: the app's mixins were the one circle). And the core (the monitor's state,
the graph, the diagnoses, the scripting commands on them) reaches neither ui/ nor
Textual through any chain of imports: only the commands that run the TUI do."""

from __future__ import annotations

import ast
from pathlib import Path

import limbo_tui

PACKAGE = Path(limbo_tui.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# The modules that start or serve the TUI: the only ones outside ui/ that may reach it.
TUI_ENTRIES = frozenset(
    {
        "limbo_tui.__main__",
        "limbo_tui.cli",
        "limbo_tui.launch",
        "limbo_tui.replay",
        "limbo_tui.serve",
    }
)


def is_ui(module: str) -> bool:
    return module == "limbo_tui.ui" or module.startswith("limbo_tui.ui.")


def imports_textual(path: Path) -> bool:
    """Whether this file imports textual (or one of its modules) anywhere."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.append(node.module or "")
    return any(name.split(".")[0] == "textual" for name in names)


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


def package_files() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    files = package_files()
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def ui_reached(graph: dict[str, set[str]], textual: set[str]) -> dict[str, list[str]]:
    """For each module outside ui/ and TUI_ENTRIES that reaches ui/ or textual: one chain
    of imports from it to the first module of ui/ or the first that imports textual."""
    found: dict[str, list[str]] = {}
    for start in sorted(graph):
        if is_ui(start) or start in TUI_ENTRIES:
            continue
        # Breadth first: the shortest chain is the one a reader fixes first.
        came_from: dict[str, str | None] = {start: None}
        queue = [start]
        while queue:
            node = queue.pop(0)
            if is_ui(node) or node in textual:
                chain = [node]
                while (back := came_from[chain[-1]]) is not None:
                    chain.append(back)
                found[start] = chain[::-1]
                break
            for nxt in sorted(graph[node]):
                if nxt not in came_from:
                    came_from[nxt] = node
                    queue.append(nxt)
    return found


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


def test_the_core_reaches_neither_ui_nor_textual() -> None:
    files = package_files()
    textual = {name for name, path in files.items() if imports_textual(path)}
    reached = ui_reached(import_graph(), textual)
    assert not reached, "; ".join(" -> ".join(chain) for chain in reached.values())


def test_the_core_check_follows_chains_and_reads_textual_imports() -> None:
    # A core module that reaches ui/ through another core module is named with the chain.
    graph = {
        "limbo_tui.monitor_state": {"limbo_tui.search"},
        "limbo_tui.search": {"limbo_tui.ui.status_style"},
        "limbo_tui.ui.status_style": set(),
        "limbo_tui.launch": {"limbo_tui.ui.status_style"},
        "limbo_tui.model": {"limbo_tui.clock"},
        "limbo_tui.clock": set(),
    }
    assert ui_reached(graph, set()) == {
        "limbo_tui.monitor_state": [
            "limbo_tui.monitor_state",
            "limbo_tui.search",
            "limbo_tui.ui.status_style",
        ],
        "limbo_tui.search": ["limbo_tui.search", "limbo_tui.ui.status_style"],
    }
    assert ui_reached(graph, {"limbo_tui.clock"})["limbo_tui.model"] == [
        "limbo_tui.model",
        "limbo_tui.clock",
    ]
    files = package_files()
    assert imports_textual(files["limbo_tui.ui.app"])
    assert not imports_textual(files["limbo_tui.monitor_state"])
    # The named core modules are in the graph the check walks (a rename would hide them).
    graph = import_graph()
    for core in (
        "model",
        "diagnose",
        "live_diagnoses",
        "monitor_state",
        "search",
        "view_sort",
        "backlog",
        "tree_facts",
        "status_style",
        "scripting",
    ):
        assert f"limbo_tui.{core}" in graph
