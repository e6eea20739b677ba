"""A summarized backlog is loaded by its first pages only; opening it further reads the
next pages from the database on demand, and the header keeps the true totals while the
paged rows change and the backlog drains (real Postgres, the real LiveFeed)."""

from __future__ import annotations

import asyncpg
import psycopg
from backlog_support import header_text, tree_lines, tui_on, until

from limbo_tui.backlog import FIRST_LOADED, GROUP_MIN, PAGE
from limbo_tui.pg.triggers import channel_name
from limbo_tui.ui.workflow_tree import WorkflowTree

# Enough for two pages from the database beyond what the snapshot loads.
BACKLOG = FIRST_LOADED + 2 * PAGE + 50


def _fill(url: str) -> None:
    """BACKLOG ENQUEUED workflows on queue "bulk" (bulk-000001 the oldest), one SUCCESS."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
            "created_at, updated_at) SELECT 'bulk-' || lpad(i::text, 6, '0'), 'ENQUEUED', "
            "'bulk_job', 'bulk', 1000 + i, 1000 + i FROM generate_series(1, %s) AS i",
            (BACKLOG,),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('done-1', 'SUCCESS', 'done', 5, 5)"
        )


async def test_opening_a_summarized_backlog_reads_its_next_pages_from_the_database(
    dbos_url: str,
) -> None:
    assert FIRST_LOADED >= GROUP_MIN  # the snapshot's rows alone keep it one line
    _fill(dbos_url)
    app = tui_on(dbos_url, page_live=False)

    def header() -> str:
        return header_text(app)

    async with app.run_test(size=(160, 40)) as pilot:
        tree = app.query_one(WorkflowTree)
        await until(
            "showed the backlog's line",
            lambda: any("on queue bulk" in line for line in tree_lines(tree)),
            lambda: repr(tree_lines(tree)),
        )
        loaded = f"{BACKLOG + 1:,} workflows: {BACKLOG:,} ENQUEUED ({FIRST_LOADED:,} loaded)"
        assert loaded in header()
        group = next(line for line in tree_lines(tree) if "on queue bulk" in line)
        assert f"{FIRST_LOADED:,} on queue bulk, {BACKLOG:,} in the database" in group
        tree.cursor_line = tree_lines(tree).index(group)
        await pilot.press("enter")  # open it: its first page
        await pilot.pause()

        def more_line() -> str:
            return next(ln for ln in tree_lines(tree) if ln.lstrip().startswith("…"))

        async def enter_on_more() -> None:
            tree.cursor_line = tree_lines(tree).index(more_line())
            await pilot.press("enter")
            await pilot.pause()

        await enter_on_more()  # the second page, loaded with the snapshot
        assert sum("bulk_job" in line for line in tree_lines(tree)) == FIRST_LOADED
        older = BACKLOG - FIRST_LOADED
        assert f"{older:,} older in the database: enter loads the next {PAGE}" in more_line()
        for pages in (1, 2):
            await enter_on_more()  # read from the database
            shown = FIRST_LOADED + pages * PAGE
            await until(
                f"showed {shown} members",
                lambda shown=shown: sum("bulk_job" in ln for ln in tree_lines(tree)) == shown,
                more_line,
            )
        # The oldest shown is the next in the database's order: none skipped.
        assert any("bulk-000051" in ln for ln in tree_lines(tree))
        assert not any("bulk-000050" in ln for ln in tree_lines(tree))
        assert "50 older in the database" in more_line()
        # The header counts what is loaded now, and its totals stay exact.
        assert f"({FIRST_LOADED + 2 * PAGE:,} loaded)" in header() and "≈" not in header()

        # A new snapshot (a resync notice, here after a change the triggers never saw)
        # keeps what was opened: the pages read stay on screen.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("UPDATE dbos.workflow_status SET name = 'renamed' "
                         "WHERE workflow_uuid = 'done-1'")  # fmt: skip
            conn.execute(f"NOTIFY {channel_name('dbos')}, 'resync'")
        await until(
            "took a new snapshot",
            lambda: any("renamed" in ln for ln in tree_lines(tree)),
            lambda: repr(tree_lines(tree)[-3:]),
        )
        assert sum("bulk_job" in ln for ln in tree_lines(tree)) == FIRST_LOADED + 2 * PAGE
        assert "50 older in the database" in more_line()

        # A paged row dequeued is placed in the totals by the graph itself.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'PENDING' "
                "WHERE workflow_uuid = 'bulk-000100'"
            )
        await until(
            "counted the dequeued row",
            lambda: f"1 PENDING, {BACKLOG - 1:,} ENQUEUED" in header(),
            header,
        )
        assert "≈" not in header()
        # The whole backlog drains: the totals say so, though most rows were never loaded.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'SUCCESS' WHERE status <> 'SUCCESS'"
            )
        await until(
            "showed the drained backlog's totals",
            lambda: header().count("ENQUEUED") == 0 and f"{BACKLOG + 1:,} workflows" in header(),
            header,
        )
        assert "≈" not in header() and "PENDING" not in header()


async def test_a_backlog_page_is_read_in_the_snapshot_order(dbos_url: str) -> None:
    """The ENQUEUED rows of the queue older than (created_at, id), newest first, ties by
    id; other queues and statuses left out (as on a SQLite file, test_sqlite)."""
    from limbo_tui.pg import queries
    from limbo_tui.pg.connect import connect

    rows = [(f"b{i}", "ENQUEUED", "q", created) for i, created in enumerate([10, 20, 20, 30, 40])]
    rows += [("other-q", "ENQUEUED", "r", 15), ("done", "SUCCESS", "q", 25)]
    with psycopg.connect(dbos_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
            "created_at, updated_at) VALUES (%s, %s, 'job', %s, %s, 0)",
            rows,
        )
    conn = await connect(dbos_url)
    try:
        got = await queries.backlog_page(conn, "dbos", "q", (30, "b3"))
        assert [r.id for r in got] == ["b2", "b1", "b0"]
        got = await queries.backlog_page(conn, "dbos", "q", (20, "b2"))
        assert [r.id for r in got] == ["b1", "b0"]
    finally:
        await conn.close()


async def test_a_snapshot_read_on_two_connections_is_the_one_read_on_one(dbos_url: str) -> None:
    """The newest finished families and the count of the table read on a second
    connection in the same picture give the rows one connection reads; without a second
    connection (none can be opened), one connection reads it all."""
    from limbo_tui.model import Totals, Workflow
    from limbo_tui.pg import queries
    from limbo_tui.pg.connect import connect

    _fill(dbos_url)
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) SELECT 'fin-' || i, 'SUCCESS', 'done', 2000 + i, 2000 + i "
            "FROM generate_series(1, 300) AS i"
        )
        conn.execute("ANALYZE dbos.workflow_status")  # the planner's estimate, as autovacuum's
    opened: list[asyncpg.Connection] = []

    async def side() -> asyncpg.Connection:
        conn = await connect(dbos_url)
        opened.append(conn)
        return conn

    async def refused() -> asyncpg.Connection:
        raise OSError("no connection left")

    def picture(rows: list[object]) -> tuple[list[str], Totals]:
        ids = sorted(r.id for r in rows if isinstance(r, Workflow))
        totals = next(r for r in rows if isinstance(r, Totals))
        return ids, totals

    conn = await connect(dbos_url)
    try:
        alone = picture(await queries.snapshot(conn, "dbos", 200))
        shared = picture(await queries.snapshot(conn, "dbos", 200, side=side, shared_from=0))
        fallback = picture(await queries.snapshot(conn, "dbos", 200, side=refused, shared_from=0))
        # A small table is read on one connection.
        small = picture(await queries.snapshot(conn, "dbos", 200, side=side))
    finally:
        await conn.close()
    assert len(opened) == 1 and opened[0].is_closed()
    for got in (shared, fallback, small):
        assert got[0] == alone[0]
        assert got[1].workflows == alone[1].workflows == BACKLOG + 301
        assert got[1].groups == alone[1].groups
    # 200 finished families and the backlog's first pages.
    assert sum(i.startswith("fin-") for i in alone[0]) == 200
    assert sum(i.startswith("bulk-") for i in alone[0]) == FIRST_LOADED
