"""A backlog larger than a snapshot loads is never cut silently: the true totals are in
`snapshot --json`, the text snapshot and the TUI's header, and stay true as rows change."""

from __future__ import annotations

import asyncio
import json
import time

import psycopg
import pytest

from limbo_tui.backlog import FIRST_LOADED, totals_line
from limbo_tui.config import Overrides, load_settings
from limbo_tui.model import (
    ChildrenTotal,
    GroupTotal,
    Totals,
    Workflow,
    WorkflowGraph,
    WorkflowRemoved,
)
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.scripting import run_snapshot
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.status_header import StatusHeader

# A backlog the tree summarizes: a snapshot loads only its first pages (FIRST_LOADED).
BACKLOG = 2_000
COUNTED_AT = 1_000_000


def _fill(url: str, enqueued: int) -> None:
    """`enqueued` ENQUEUED workflows on queue "bulk", one PENDING and one SUCCESS."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
            "created_at, updated_at) SELECT 'bulk-' || lpad(i::text, 6, '0'), 'ENQUEUED', "
            "'bulk_job', 'bulk', 1000 + i, 1000 + i FROM generate_series(1, %s) AS i",
            (enqueued,),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('busy-1', 'PENDING', 'busy', 5, 5), "
            "('done-1', 'SUCCESS', 'done', 6, 6)"
        )


def test_snapshot_json_gives_true_totals_of_a_backlog_larger_than_loaded(
    dbos_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(dbos_url, BACKLOG)
    settings = load_settings(Overrides(db_url=dbos_url, worker="none"), {})
    run_snapshot(dbos_url, settings, as_json=True)
    out = json.loads(capsys.readouterr().out)
    loaded_enqueued = sum(1 for w in out["workflows"] if w["status"] == "ENQUEUED")
    assert loaded_enqueued == FIRST_LOADED
    totals = out["totals"]
    assert totals["exact"] is True
    assert totals["workflows"] == BACKLOG + 2
    assert totals["unfinished"] == {"PENDING": 1, "ENQUEUED": BACKLOG, "DELAYED": 0}
    bulk = next(g for g in totals["groups"] if g["queue"] == "bulk")
    assert bulk["count"] == BACKLOG and bulk["loaded"] == FIRST_LOADED
    assert bulk["oldest_created_at"] == "1970-01-01T00:00:01.001Z"

    run_snapshot(dbos_url, settings, as_json=False)
    text = capsys.readouterr().out
    loaded = f"({FIRST_LOADED:,} loaded)"
    assert f"{BACKLOG + 2:,} workflows: 1 PENDING, {BACKLOG:,} ENQUEUED {loaded}" in text
    assert f"ENQUEUED on queue bulk: {FIRST_LOADED:,} newest of {BACKLOG:,} loaded" in text


async def test_header_states_the_true_totals_and_follows_changes(dbos_url: str) -> None:
    _fill(dbos_url, BACKLOG)
    settings = load_settings(Overrides(db_url=dbos_url, worker="none"), {})
    app = LimboApp(
        settings,
        "test",
        feed_factory=lambda on_batch, on_state: LiveFeed(dbos_url, settings, on_batch, on_state),
    )

    async def header_shows(text: str) -> str:
        header = ""
        for _ in range(600):
            await asyncio.sleep(0.05)
            header = str(app.query_one(StatusHeader).render())
            if text in header:
                return header
        raise AssertionError(f"header never showed {text!r}: {header!r}")

    async with app.run_test(size=(160, 30)):
        await header_shows(f"{BACKLOG + 2:,} workflows: 1 PENDING, {BACKLOG:,} ENQUEUED")
        # A new enqueue, and the PENDING one finishing: counted without a new count.
        now = int(time.time() * 1000)
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
                "created_at, updated_at) VALUES ('late-1', 'ENQUEUED', 'bulk_job', 'bulk', "
                "%s, %s)",
                (now + 60_000, now + 60_000),
            )
            conn.execute("UPDATE dbos.workflow_status SET status = 'SUCCESS' WHERE "
                         "workflow_uuid = 'busy-1'")  # fmt: skip
        header = await header_shows(f"{BACKLOG + 3:,} workflows: {BACKLOG + 1:,} ENQUEUED")
        assert "PENDING" not in header and "≈" not in header
        # The oldest backlog rows were never loaded: two of them are dequeued. Which
        # group they left the graph cannot tell; the feed counts again.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'PENDING' "
                "WHERE workflow_uuid IN ('bulk-000001', 'bulk-000002')"
            )
        header = await header_shows(f"2 PENDING, {BACKLOG - 1:,} ENQUEUED")
        assert "≈" not in header and f"{BACKLOG + 3:,} workflows" in header


def _graph_with(rows: list[Workflow], totals: Totals) -> WorkflowGraph:
    graph = WorkflowGraph()
    graph.replace_all([*rows, totals])
    return graph


def test_totals_follow_rows_exactly_while_everything_unfinished_is_loaded() -> None:
    rows = [Workflow("a", "ENQUEUED", queue="q", created_at_ms=10)]
    graph = _graph_with(rows, Totals(100, (GroupTotal("ENQUEUED", "q", 1, 10, 10),), COUNTED_AT))
    # Dequeued: ENQUEUED -> PENDING on the same queue.
    graph.apply([Workflow("a", "PENDING", queue="q", created_at_ms=10)])
    assert graph.totals == Totals(100, (GroupTotal("PENDING", "q", 1, 10, 10),), COUNTED_AT)
    # An old finished workflow, never loaded, resumed: it was counted already.
    graph.apply([Workflow("old", "ENQUEUED", queue="q", created_at_ms=5)])
    assert graph.totals is not None and graph.totals.workflows == 100
    assert graph.totals.unfinished("ENQUEUED") == 1 and graph.totals.exact
    # Created after the count: a new row.
    graph.apply([Workflow("new", "ENQUEUED", queue="q", created_at_ms=COUNTED_AT + 1)])
    assert graph.totals.workflows == 101 and graph.totals.unfinished("ENQUEUED") == 2
    # A loaded row deleted; a finished row never loaded deleted (retention).
    graph.apply([WorkflowRemoved("new"), WorkflowRemoved("ancient")])
    assert graph.totals.workflows == 99 and graph.totals.unfinished("ENQUEUED") == 1
    assert graph.totals.exact
    assert totals_line(graph) == "99 workflows: 1 PENDING, 1 ENQUEUED"


def test_totals_say_when_a_row_cannot_be_placed() -> None:
    # 1 of 3 ENQUEUED loaded: an unloaded row changing may be one of the other 2.
    rows = [Workflow("a", "ENQUEUED", queue="q", created_at_ms=10)]
    graph = _graph_with(rows, Totals(50, (GroupTotal("ENQUEUED", "q", 3, 1, 10),), COUNTED_AT))
    graph.apply([Workflow("b", "PENDING", queue="q", created_at_ms=2)])
    assert graph.totals is not None and not graph.totals.exact
    assert totals_line(graph).startswith("≈50 workflows")
    # The next count is exact again.
    graph.apply([Totals(50, (GroupTotal("ENQUEUED", "q", 2, 1, 10),), COUNTED_AT + 5)])
    assert graph.totals.exact


def test_the_children_counted_of_a_large_parent_follow_rows_as_they_change() -> None:
    counted = ChildrenTotal("p", 3, (("ENQUEUED", 2), ("SUCCESS", 1)), 10, 30)
    rows = [
        Workflow("p", "PENDING", created_at_ms=1),
        Workflow("p-1", "ENQUEUED", parent_id="p", created_at_ms=10),
    ]
    graph = _graph_with(rows, Totals(4, (), COUNTED_AT, families=(counted,)))
    # A loaded child moves from one status to another.
    graph.apply([Workflow("p-1", "SUCCESS", parent_id="p", created_at_ms=10)])
    assert graph.totals is not None and graph.totals.exact
    assert graph.totals.children("p") == ChildrenTotal(
        "p", 3, (("ENQUEUED", 1), ("SUCCESS", 2)), 10, 30
    )
    # A child created after the count is a new one.
    graph.apply([Workflow("p-4", "ENQUEUED", parent_id="p", created_at_ms=COUNTED_AT + 1)])
    assert graph.totals.exact
    assert graph.totals.children("p") == ChildrenTotal(
        "p", 4, (("ENQUEUED", 2), ("SUCCESS", 2)), 10, COUNTED_AT + 1
    )
    # A child never loaded changed: which status it left is unknown until the next count.
    graph.apply([Workflow("p-2", "SUCCESS", parent_id="p", created_at_ms=20)])
    assert not graph.totals.exact
    assert totals_line(graph).startswith("≈")
