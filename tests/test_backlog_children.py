"""A parent of 10,000 children is loaded by its first children: opened, it pages through
them, reading the next ones from the database on demand, and says how many there are by
status, the oldest and the newest; the counts follow rows never loaded, in the TUI and in
`snapshot --json` (real Postgres, the real LiveFeed)."""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from backlog_support import header_text, tree_lines, tui_on, until

from limbo_tui.backlog import FIRST_LOADED, PAGE
from limbo_tui.config import Overrides, load_settings
from limbo_tui.pg.triggers import channel_name
from limbo_tui.scripting import run_snapshot
from limbo_tui.ui.workflow_tree import WorkflowTree

CHILDREN = 10_000
FAILED = CHILDREN // 10


def _fill(url: str) -> None:
    """A finished parent `big` and its children big-00001 (the first) .. big-10000, every
    tenth in ERROR."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('big', 'SUCCESS', 'fan_out', 500, 500)"
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at, parent_workflow_id) SELECT 'big-' || lpad(i::text, 5, '0'), "
            "CASE WHEN i %% 10 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, 'child', 1000 + i, "
            "1000 + i, 'big' FROM generate_series(1, %s) AS i",
            (CHILDREN,),
        )


def _children_shown(tree: WorkflowTree) -> list[int]:
    return [int(m.group(1)) for ln in tree_lines(tree) if (m := re.search(r"…-(\d{5})\b", ln))]


async def test_a_parent_of_ten_thousand_children_pages_through_the_database(
    dbos_url: str,
) -> None:
    _fill(dbos_url)
    app = tui_on(dbos_url, page_live=True)

    def header() -> str:
        return header_text(app)

    def more_line() -> str:
        return next((ln for ln in tree_lines(tree) if "children in the database" in ln), "")

    async with app.run_test(size=(200, 40)) as pilot:
        tree = app.query_one(WorkflowTree)
        await until("showed the parent", lambda: tree.node_for("big") is not None, header)
        assert f"{CHILDREN + 1:,} workflows" in header() and "≈" not in header()
        assert app.state.graph.workflows.keys() >= {"big", "big-00001"}
        assert len(app.state.graph.workflows) == 1 + FIRST_LOADED  # not all 10,000
        assert tree.select_workflow("big")
        await pilot.press("right")  # open it: its first page
        await until("opened the parent", lambda: bool(more_line()), lambda: repr(tree_lines(tree)))
        assert _children_shown(tree) == list(range(1, PAGE + 1))
        line = more_line()
        assert f"… {CHILDREN:,} children in the database" in line
        assert f"{FAILED:,} ERROR, {CHILDREN - FAILED:,} SUCCESS" in line
        assert f"{CHILDREN - FIRST_LOADED:,} not loaded: enter shows the next {PAGE}" in line

        async def enter_on_more() -> None:
            tree.cursor_line = tree_lines(tree).index(more_line())
            await pilot.press("enter")

        await enter_on_more()  # the second page, loaded with the snapshot
        await until(
            "showed the second page",
            lambda: _children_shown(tree) == list(range(1, FIRST_LOADED + 1)),
            lambda: repr(_children_shown(tree)[-3:]),
        )
        assert f"enter loads the next {PAGE}" in more_line()
        for pages in (1, 2):
            await enter_on_more()  # read from the database
            shown = FIRST_LOADED + pages * PAGE
            # In order, none skipped.
            await until(
                f"showed {shown} children",
                lambda shown=shown: _children_shown(tree) == list(range(1, shown + 1)),
                lambda: repr(_children_shown(tree)[-3:]),
            )
            assert f"{CHILDREN - shown:,} not loaded" in more_line()

        # A new snapshot (a resync notice, after a change the triggers never saw) keeps
        # the children read so far.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("UPDATE dbos.workflow_status SET name = 'renamed' "
                         "WHERE workflow_uuid = 'big'")  # fmt: skip
            conn.execute(f"NOTIFY {channel_name('dbos')}, 'resync'")
        await until(
            "took a new snapshot",
            lambda: any("renamed" in ln for ln in tree_lines(tree)),
            lambda: repr(tree_lines(tree)[:3]),
        )
        assert _children_shown(tree) == list(range(1, FIRST_LOADED + 2 * PAGE + 1))
        assert f"{CHILDREN - FIRST_LOADED - 2 * PAGE:,} not loaded" in more_line()

        # Children never loaded change: the counts follow (the feed counts again).
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'SUCCESS' WHERE status = 'ERROR'"
            )
        await until(
            "counted the changed children",
            lambda: f"({CHILDREN:,} SUCCESS" in more_line() and "ERROR" not in more_line(),
            more_line,
        )
        assert "≈" not in header()


def test_snapshot_json_counts_the_children_of_a_parent_loaded_by_its_first(
    dbos_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(dbos_url)
    settings = load_settings(Overrides(db_url=dbos_url, worker="none"), {})
    run_snapshot(dbos_url, settings, as_json=True)
    out = json.loads(capsys.readouterr().out)
    assert len(out["workflows"]) == 1 + FIRST_LOADED
    totals = out["totals"]
    assert totals["exact"] is True and totals["workflows"] == CHILDREN + 1
    assert totals["families"] == [
        {
            "parent_id": "big",
            "children": CHILDREN,
            "loaded": FIRST_LOADED,
            "by_status": {"ERROR": FAILED, "SUCCESS": CHILDREN - FAILED},
            "oldest_created_at": "1970-01-01T00:00:01.001Z",
            "newest_created_at": "1970-01-01T00:00:11.000Z",
        }
    ]
