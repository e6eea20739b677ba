"""The queue view live: real dbos 3.x workers, the real LiveFeed, the TUI through Pilot.

Executor a holds q_one's only slot and is killed; executor b is alive; work waits behind.
The TUI diagnoses the blocked queue from the feed alone, `Q` shows it BLOCKED, enter
filters the tree to q_one, and `c` on the holder frees the slot: DBOS runs the waiting
work on b, and the screen follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import until
from test_fleet_real import QUICK, Fleet

from limbo_tui.pg.feed import LiveFeed
from limbo_tui.settings import Settings
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.screens.queue_view import QueueScreen
from limbo_tui.ui.workflow_tree import WorkflowTree


@pytest.fixture
def fleet(dbos_url: str, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(dbos_url, tmp_path)
    try:
        yield f
    finally:
        f.close()


async def test_a_blocked_queue_seen_live_in_Q_and_freed_with_c(fleet: Fleet) -> None:
    fleet.start("a", "v1", hang=True)
    holder = fleet.enqueue("fleet_hang", "q_one", "v1")
    fleet.wait_status(holder, "PENDING")
    fleet.start("b", "v1")
    fleet.kill("a")
    waiting = [fleet.enqueue("fleet_quick", "q_one", "v1", i) for i in range(2)]
    settings = Settings(limbo=QUICK)
    app = LimboApp(
        settings,
        "fleet",
        feed_factory=lambda b, s: LiveFeed(fleet.url, settings, b, s),
        actions=fleet.actions,
    )

    def blocked() -> bool:
        return any(d.kind == "queue-blocked" and d.workflow_id == holder for d in app.diagnoses)

    async with app.run_test(size=(100, 30)) as pilot:
        # b shows it is alive by running work; a stays silent past the threshold.
        for _ in range(20):
            await asyncio.to_thread(fleet.busy, "b", "v1")
            await pilot.pause(0.5)
            if blocked():
                break
        await until(blocked, 10, "queue-blocked on the holder")
        await pilot.press("Q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, QueueScreen)
        table = app.screen.query_one("#queues")
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert rows["q_one"][6] == "BLOCKED" and rows["q_one"][3] == "2"
        table.move_cursor(row=list(rows).index("q_one"))
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.filter_text == "queue:q_one"
        tree = app.query_one(WorkflowTree)
        for _ in range(10):
            # The tree reports a selection when its cursor moves; after the filter rebuilt
            # it the cursor may already stand on the holder's line: step off and back.
            tree.action_cursor_down()
            await pilot.pause(0.1)
            tree.select_workflow(holder)
            await pilot.pause(0.1)
            if app.selected_id == holder:
                break
        assert app.selected_id == holder
        await pilot.press("c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen), (
            app.focused,
            app.selected_id,
            [str(n.message) for n in app._notifications],
        )
        await pilot.press("y")
        await until(
            lambda: all(
                (w := app.graph.workflows.get(wid)) is not None and w.status == "SUCCESS"
                for wid in waiting
            ),
            30,
            "the waiting work run by b",
        )
        assert app.graph.workflows[holder].status == "CANCELLED"
        await pilot.pause(0.3)
        assert not blocked()
