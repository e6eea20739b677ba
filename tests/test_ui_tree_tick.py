"""The tree's once-a-second tick repaints the screen only when an age on a visible line
reads otherwise: an idle screen of old workflows (ages in minutes) costs nothing most
seconds."""

from __future__ import annotations

from test_ui_support import NOW_MS
from textual.app import App, ComposeResult

from limbo_tui.model import Workflow, WorkflowGraph
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui.workflow_tree import WorkflowTree

MINUTE = 60_000


class TreeApp(App[None]):
    def __init__(self, now: list[int]) -> None:
        super().__init__()
        self.now = now

    def compose(self) -> ComposeResult:
        yield WorkflowTree(lambda: self.now[0])


async def test_the_tick_repaints_only_when_an_age_reads_otherwise() -> None:
    now = [NOW_MS]
    app = TreeApp(now)
    async with app.run_test(size=(120, 20)) as pilot:
        tree = app.query_one(WorkflowTree)
        graph = WorkflowGraph()
        rows = [
            Workflow(f"old-{i}", "PENDING", name="job", created_at_ms=NOW_MS - 20 * MINUTE - i)
            for i in range(5)
        ]
        graph.replace_all(rows)
        tree.sync(graph, TreeFacts(), [r.id for r in rows], True)
        await pilot.pause()
        painted: list[int] = []
        repaint = tree.repaint_lines

        def counted() -> None:
            painted.append(now[0])
            repaint()

        tree.repaint_lines = counted  # type: ignore[method-assign]
        tree.tick()  # the first tick paints what it then compares with
        painted.clear()
        for second in range(1, 30):
            now[0] = NOW_MS + second * 1_000
            tree.tick()
        assert painted == []
        assert "20m" in tree.line_text("old-0")
        now[0] = NOW_MS + MINUTE
        tree.tick()
        assert painted == [NOW_MS + MINUTE]
        assert "21m" in tree.line_text("old-0")
