"""The tree's once-a-second tick repaints only the age cells that read otherwise, over
the lines the tree keeps: no line is laid out again, a line whose age reads the same is
not touched (an idle screen of old workflows, ages in minutes, costs nothing most
seconds), and what the screen shows is the new age in its column."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from rich.style import Style
from rich.text import Text
from test_ui_support import NOW_MS, screen_lines
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot

from limbo_tui.model import Workflow, WorkflowGraph
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui.workflow_tree import WorkflowNode, WorkflowTree

MINUTE = 60_000


class TreeApp(App[None]):
    def __init__(self, now: list[int]) -> None:
        super().__init__()
        self.now = now

    def compose(self) -> ComposeResult:
        yield WorkflowTree(lambda: self.now[0])


class Watched:
    """What a tick asks of the tree: the regions it repaints, the lines it lays out."""

    def __init__(self, tree: WorkflowTree) -> None:
        self.regions: list[Region] = []
        self.laid_out: list[str | None] = []
        refresh, render_label = tree.refresh, tree.render_label

        def refreshed(*regions: Region, **kw: Any) -> Any:
            self.regions.extend(regions)
            return refresh(*regions, **kw)

        def rendered(node: WorkflowNode, base: Style, style: Style) -> Text:
            self.laid_out.append(node.data)
            return render_label(node, base, style)

        tree.refresh = refreshed  # type: ignore[method-assign]
        tree.render_label = rendered  # type: ignore[method-assign]

    def clear(self) -> None:
        self.regions.clear()
        self.laid_out.clear()


def _rows(prefix: str, created_ms: int, n: int) -> list[Workflow]:
    return [
        Workflow(f"{prefix}-{i}", "PENDING", name="job", created_at_ms=created_ms - i)
        for i in range(n)
    ]


@contextlib.asynccontextmanager
async def tree_showing(
    rows: list[Workflow],
) -> AsyncIterator[tuple[TreeApp, Pilot[None], WorkflowTree]]:
    """A tree on screen with these rows, its clock at NOW_MS (app.now[0] moves it)."""
    app = TreeApp([NOW_MS])
    async with app.run_test(size=(120, 20)) as pilot:
        tree = app.query_one(WorkflowTree)
        graph = WorkflowGraph()
        graph.replace_all(rows)
        tree.sync(graph, TreeFacts(), [r.id for r in rows], True)
        await pilot.pause()
        yield app, pilot, tree


async def test_the_tick_repaints_only_the_age_cells_that_read_otherwise() -> None:
    # Ages in minutes (one reading for a minute) and in seconds (another each second).
    old, young = _rows("old", NOW_MS - 20 * MINUTE, 5), _rows("young", NOW_MS - 30_000, 2)
    async with tree_showing([*old, *young]) as (app, pilot, tree):
        now = app.now
        tree.tick()
        await pilot.pause()
        watched = Watched(tree)
        rows = {wid: row for row, wid in enumerate(tree.shown_ids())}
        span = tree.age_span()
        assert span is not None

        now[0] = NOW_MS + 1_000
        tree.tick()
        await pilot.pause()
        # Only the young lines' age cells, nothing else of the screen, no line laid out.
        assert sorted(watched.regions) == sorted(
            Region(span[0], rows[w.id], span[1], 1) for w in young
        )
        assert watched.laid_out == []
        screen = "\n".join(screen_lines(app))
        assert "31s" in screen and "20m" in screen
        assert "31s" in tree.line_text("young-0") and "20m" in tree.line_text("old-0")

        # The same second again: nothing reads otherwise, nothing is repainted.
        watched.clear()
        tree.tick()
        await pilot.pause()
        assert watched.regions == [] and watched.laid_out == []

        # A minute on: every age reads otherwise, each one's cell is repainted.
        watched.clear()
        now[0] = NOW_MS + MINUTE
        tree.tick()
        await pilot.pause()
        assert len(watched.regions) == len(old) + len(young)
        assert watched.laid_out == []
        assert "21m" in "\n".join(screen_lines(app)) and "21m" in tree.line_text("old-0")


async def test_the_age_painted_over_a_line_sits_in_its_column_as_the_line_reads() -> None:
    rows = [
        Workflow("parent", "PENDING", name="job", created_at_ms=NOW_MS - 5 * MINUTE),
        Workflow("kid", "PENDING", name="step", parent_id="parent", created_at_ms=NOW_MS - 65_000),
    ]
    async with tree_showing(rows) as (app, _pilot, tree):
        screen = screen_lines(app)
        for wid in ("parent", "kid"):
            line = tree.line_text(wid).rstrip()
            # The painted line ends as line_text does (guides and toggle before it).
            assert any(s.rstrip().endswith(line) for s in screen), (line, screen)
        assert "5m00s" in tree.line_text("parent") and "1m05s" in tree.line_text("kid")
