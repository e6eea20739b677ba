"""The TUI's snapshot loads the newest live families only; the tree's last line reads the
older ones a page at a time from the database, none skipped, and the header keeps the
true totals throughout and once they finish (real Postgres, the real LiveFeed)."""

from __future__ import annotations

import re

import psycopg
from backlog_support import header_text, tree_lines, tui_on, until
from release_support import old_database

from limbo_tui.backlog import LIVE_FIRST, PAGE
from limbo_tui.config import Overrides, load_settings
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.limbo_bar import LimboBar
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests.pg_support import drop_database

# Families of a PENDING parent, a PENDING child and a SUCCESS child: two live rows each.
# The snapshot loads LIVE_FIRST live rows (their families), each page PAGE more; the last
# page is a partial one.
FAMILIES = LIVE_FIRST // 2 + PAGE // 2 + 30
PENDING = 2 * FAMILIES


def _fill(url: str) -> None:
    """fam-0001 the oldest family, fam-NNNN the newest; one older finished workflow."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at, parent_workflow_id) "
            "SELECT 'fam-' || lpad(f::text, 4, '0') || k.suffix, k.status, 'family', "
            "1000 + 10 * f + k.n, 1000 + 10 * f + k.n, "
            "CASE WHEN k.n = 0 THEN NULL ELSE 'fam-' || lpad(f::text, 4, '0') END "
            "FROM generate_series(1, %s) AS f, (VALUES (0, '', 'PENDING'), "
            "(1, '-1', 'PENDING'), (2, '-2', 'SUCCESS')) AS k(n, suffix, status)",
            (FAMILIES,),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('done-1', 'SUCCESS', 'done', 5, 5)"
        )


def _families_shown(tree: WorkflowTree) -> set[int]:
    return {
        int(m.group(1)) for ln in tree_lines(tree) if (m := re.search(r"fam-(\d{4})\b(?!-)", ln))
    }


async def test_older_live_families_are_read_a_page_at_a_time(dbos_url: str) -> None:
    _fill(dbos_url)
    app = tui_on(dbos_url, page_live=True)

    def header() -> str:
        return header_text(app)

    def limbo_bar() -> str:
        return str(app.query_one(LimboBar).render())

    def more_line() -> str | None:
        return next((ln for ln in tree_lines(tree) if "older families" in ln), None)

    async with app.run_test(size=(160, 40)) as pilot:
        tree = app.query_one(WorkflowTree)
        await until("showed the families", lambda: more_line() is not None, header)
        total = f"{3 * FAMILIES + 1:,} workflows: {PENDING:,} PENDING"
        assert f"{total} ({LIVE_FIRST:,} loaded)" in header()
        # The newest families, whole: the snapshot's LIVE_FIRST live rows.
        first = set(range(FAMILIES - LIVE_FIRST // 2 + 1, FAMILIES + 1))
        assert _families_shown(tree) == first
        assert f"… {PENDING - LIVE_FIRST:,} live workflows in older families" in str(more_line())
        # The limbo bar speaks only for what is loaded, and says so.
        assert limbo_bar().startswith("nothing in limbo")
        assert f", {PENDING - LIVE_FIRST:,} older live workflows not diagnosed (not loaded)" in (
            limbo_bar()
        )
        # The more line is the top level's last.
        assert tree.root.children[-1].data is not None
        assert tree.root.children[-1].data.endswith("families\x00")

        async def enter_on_more() -> None:
            line = more_line()
            assert line is not None
            tree.cursor_line = tree_lines(tree).index(line)
            await pilot.press("enter")

        shown = first
        for loaded in (LIVE_FIRST + PAGE, PENDING):
            await enter_on_more()
            await until(
                f"loaded {loaded} live rows",
                lambda loaded=loaded: f"({loaded:,} loaded)" in header() or loaded == PENDING,
                header,
            )
            # Each page is the next families in the database's order: none skipped.
            older = set(range(FAMILIES - loaded // 2 + 1, FAMILIES + 1))
            await until(
                f"showed {len(older)} families",
                lambda older=older: _families_shown(tree) == older,
                lambda: repr(sorted(_families_shown(tree))[:5]),
            )
            assert shown < older
            shown = older
        await until("dropped the more line", lambda: more_line() is None, lambda: repr(more_line()))
        assert f"{total}" in header() and "loaded)" not in header() and "≈" not in header()
        assert limbo_bar().startswith("nothing in limbo") and "diagnosed" not in limbo_bar()

        # Every family finishes: the totals say so.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute("UPDATE dbos.workflow_status SET status = 'SUCCESS'")
        await until(
            "showed the finished totals",
            lambda: "PENDING" not in header() and f"{3 * FAMILIES + 1:,} workflows" in header(),
            header,
        )
        assert "≈" not in header()


async def test_a_first_snapshot_left_older_families_counted_until_they_finish(
    dbos_url: str,
) -> None:
    """Never opened, the older families stay counted: the totals follow them finishing in
    the database (rows never loaded), and the more line goes once none is left."""
    _fill(dbos_url)
    app = tui_on(dbos_url, page_live=True)

    def header() -> str:
        return header_text(app)

    def more_line() -> str | None:
        return next((ln for ln in tree_lines(tree) if "older families" in ln), None)

    async with app.run_test(size=(160, 40)):
        tree = app.query_one(WorkflowTree)
        await until("showed the families", lambda: more_line() is not None, header)
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'SUCCESS' "
                "WHERE workflow_uuid < 'fam-0050'"
            )
        left = PENDING - 2 * 49
        await until("counted the finished rows", lambda: f"{left:,} PENDING" in header(), header)
        assert "≈" not in header()
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'SUCCESS' "
                f"WHERE workflow_uuid < 'fam-{FAMILIES - LIVE_FIRST // 2 + 1:04d}'"
            )
        await until("dropped the more line", lambda: more_line() is None, lambda: repr(more_line()))
        assert f"{LIVE_FIRST:,} PENDING" in header() and "loaded)" not in header()


async def test_an_older_family_waiting_for_a_dead_child_is_loaded_with_the_first(
    dbos_url: str,
) -> None:
    """Past the first page, a running parent whose child DBOS dead-lettered (in limbo) is
    loaded with the snapshot all the same: folding never hides it."""
    _fill(dbos_url)
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE dbos.workflow_status SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' "
            "WHERE workflow_uuid = 'fam-0001-2'"
        )
    settings = load_settings(Overrides(db_url=dbos_url, worker="none"), {})
    app = LimboApp(
        settings,
        "test",
        feed_factory=lambda on_batch, on_state: LiveFeed(
            dbos_url, settings, on_batch, on_state, page_live=True
        ),
    )
    async with app.run_test(size=(160, 40)):
        tree = app.query_one(WorkflowTree)
        await until(
            "showed the families",
            lambda: any("older families" in ln for ln in tree_lines(tree)),
            lambda: repr(tree_lines(tree)[:3]),
        )
        first = set(range(FAMILIES - LIVE_FIRST // 2 + 1, FAMILIES + 1))
        assert _families_shown(tree) == first | {1}
        assert {"fam-0001", "fam-0001-1", "fam-0001-2"} <= app.state.graph.workflows.keys()


async def test_on_a_dbos_28_schema_older_live_workflows_are_read_a_page_at_a_time(
    pg_server: EmbeddedServer,
) -> None:
    """dbos 2.8 writes no parent column: the paged snapshot, its count in the header,
    the limbo bar's note and `enter` on the last line work there as on 3.x."""
    name = old_database(pg_server)
    url = pg_server.url(name)
    live = LIVE_FIRST + PAGE // 2
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
                "updated_at) SELECT 'old-' || lpad(i::text, 4, '0'), 'PENDING', 'old', "
                "1000 + i, 1000 + i FROM generate_series(1, %s) AS i",
                (live,),
            )
        app = tui_on(url, page_live=True)

        def header() -> str:
            return header_text(app)

        def limbo_bar() -> str:
            return str(app.query_one(LimboBar).render())

        def more_line() -> str | None:
            return next((ln for ln in tree_lines(tree) if "older families" in ln), None)

        def shown() -> int:
            return sum(bool(re.search(r"\bold-\d{4}\b", ln)) for ln in tree_lines(tree))

        async with app.run_test(size=(160, 40)) as pilot:
            tree = app.query_one(WorkflowTree)
            await until("showed the more line", lambda: more_line() is not None, header)
            assert f"{live:,} PENDING ({LIVE_FIRST:,} loaded)" in header()
            assert shown() == LIVE_FIRST
            assert f"{live - LIVE_FIRST:,} older live workflows not diagnosed" in limbo_bar()
            line = more_line()
            assert line is not None
            tree.cursor_line = tree_lines(tree).index(line)
            await pilot.press("enter")
            await until("loaded the rest", lambda: shown() == live, lambda: repr(header()))
            await until("dropped the more line", lambda: more_line() is None, header)
            assert "loaded)" not in header() and "diagnosed" not in limbo_bar()
    finally:
        drop_database(pg_server, name)
