"""Delta polling, the default on a user's database: no writes, O(live work) per poll,
every change of a real DBOS run, on the 3.x and the 2.8 schema."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import psycopg

from limbo_tui.pg import queries
from limbo_tui.pg.connect import connect
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.pg.sources.polling import DUTY, DeltaPoller, poll_sql
from limbo_tui.settings import FeedSettings, Settings
from tests import dbos28
from tests.test_feed import DbosApp, Recorder, _converges, _in_thread, _wait_for, _write
from tests.test_triggers import _traces

MONITOR = Settings(feed=FeedSettings(poll_interval_s=0.4, poll_min_interval_s=0.1, heartbeat_s=1))


async def test_monitor_polls_every_change_of_a_dbos_run_without_snapshots(dbos_url: str) -> None:
    """The old fallback took a full snapshot on every change; delta polling fetches only
    the rows that moved, so one run needs no snapshot after the first."""
    rec = Recorder()
    feed = LiveFeed(dbos_url, MONITOR, rec.on_batch, rec.on_state)
    with DbosApp(dbos_url) as app:
        await feed.start()
        try:
            assert rec.names() == ["POLLING"]
            state = rec.states[0]
            assert state.offer and "P: live push" in state.detail
            assert state.source == "every 0.1-0.4 s"
            parent = await _in_thread(lambda: app.run_parent(k=2, n=3))
            await _converges(rec, dbos_url)
        finally:
            await feed.stop()
    assert rec.full_batches == 1
    assert rec.statuses[parent][-1] == "SUCCESS"
    for child in rec.graph.children(parent):
        assert rec.graph.step_counts(child).steps_completed == 3
    assert _traces(dbos_url) == {"schema": 0, "functions": 0, "triggers": 0}


async def test_a_poll_reads_live_work_not_the_table(dbos_url: str) -> None:
    """20,000 finished workflows and two live ones: a poll touches a handful of rows."""
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, created_at, completed_at) "
            "SELECT 'done-' || i, 'SUCCESS', i, i FROM generate_series(1, 20000) AS i"
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, created_at) VALUES "
            "('live-1', 'PENDING', 30000), ('live-2', 'ENQUEUED', 30001)"
        )
        conn.execute("ANALYZE dbos.workflow_status")
        conn.execute("ANALYZE dbos.operation_outputs")
    conn2 = await connect(dbos_url)
    try:
        cols = await queries.probe(conn2, "dbos")
        plan = await conn2.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {poll_sql(cols)}", ["live-1"], 29000, 29000
        )
    finally:
        await conn2.close()

    def rows_read(node: dict) -> int:  # type: ignore[type-arg]
        own = 0
        if node.get("Relation Name") == "workflow_status":
            own = int(node.get("Actual Rows", 0)) + int(node.get("Rows Removed by Filter", 0))
        return own + sum(rows_read(child) for child in node.get("Plans", []))

    total = rows_read(json.loads(plan)[0]["Plan"])
    assert total < 100, total


async def test_a_poll_reads_the_steps_of_running_work_not_the_table(dbos_url: str) -> None:
    """60,000 step rows of finished workflows, 500 running and 500 queued workflows: a poll
    reads the running ones' step rows only (one key range each), never the whole table."""
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, created_at, completed_at) "
            "SELECT 'done-' || i, 'SUCCESS', i, i FROM generate_series(1, 20000) AS i"
        )
        conn.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name) "
            "SELECT 'done-' || i, f, 'step' FROM generate_series(1, 20000) AS i, "
            "generate_series(0, 2) AS f"
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, created_at) "
            "SELECT 'run-' || i, 'PENDING', 30000 + i FROM generate_series(1, 500) AS i "
            "UNION ALL SELECT 'queued-' || i, 'ENQUEUED', 31000 + i "
            "FROM generate_series(1, 500) AS i"
        )
        conn.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name) "
            "SELECT 'run-' || i, 0, 'step' FROM generate_series(1, 500) AS i"
        )
        conn.execute("ANALYZE dbos.workflow_status")
        conn.execute("ANALYZE dbos.operation_outputs")
    conn2 = await connect(dbos_url)
    try:
        cols = await queries.probe(conn2, "dbos")
        running = [f"run-{i}" for i in range(1, 501)]
        plan = await conn2.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {poll_sql(cols)}", running, 40000, 40000
        )
    finally:
        await conn2.close()

    def steps_read(node: dict) -> int:  # type: ignore[type-arg]
        own = 0
        if node.get("Relation Name") == "operation_outputs":
            loops = int(node.get("Actual Loops", 1))
            own = int(node.get("Actual Rows", 0)) + int(node.get("Rows Removed by Filter", 0))
            own *= loops
        return own + sum(steps_read(child) for child in node.get("Plans", []))

    total = steps_read(json.loads(plan)[0]["Plan"])
    assert 0 < total <= 1_000, total


async def test_delta_polling_on_a_dbos28_schema(db_url: str) -> None:
    dbos28.create_schema(db_url)
    rec = Recorder()
    feed = LiveFeed(db_url, MONITOR, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        _write(
            db_url,
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('p', 'PENDING')",
        )
        await _wait_for(lambda: "p" in rec.graph.workflows)
        _write(
            db_url,
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('p-1', 'SUCCESS')",
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, "
            "child_workflow_id) VALUES ('p', 1, 'child', 'p-1')",
        )
        await _wait_for(lambda: rec.graph.children("p") == ["p-1"])
        _write(db_url, "UPDATE dbos.workflow_status SET status = 'ERROR' WHERE workflow_uuid = 'p'")
        await _wait_for(lambda: rec.graph.workflows["p"].status == "ERROR")
    finally:
        await feed.stop()
    assert rec.full_batches == 1 and rec.names() == ["POLLING"]


async def test_interval_backs_off_when_idle_and_tightens_on_change(dbos_url: str) -> None:
    conn = await connect(dbos_url)
    try:
        poller = DeltaPoller(conn, "dbos", min_interval_s=0.05, max_interval_s=0.4)
        await poller.start()
        for _ in range(5):
            assert not await poller.changes(1.0)
        assert poller.interval_s == 0.4
        _write(
            dbos_url,
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('n', 'ENQUEUED')",
        )
        got = await poller.changes(1.0)
        assert got.workflows == {"n"}
        # Back to the quick interval, unless the poll itself took more than a tenth of it.
        assert poller.interval_s == max(0.05, min(DUTY * poller.last_cost_s, 0.4))
    finally:
        await conn.close()


async def test_a_costly_round_spaces_the_polls_out(dbos_url: str) -> None:
    """When handling what a poll found takes long (a busy host, a niced limbo-tui), the
    next poll waits ten times that, not the quick interval: limbo-tui's share stays small."""
    conn = await connect(dbos_url)
    try:
        poller = DeltaPoller(conn, "dbos", min_interval_s=0.05, max_interval_s=5.0)
        await poller.start()
        for wid in ("a", "b"):
            _write(
                dbos_url,
                "INSERT INTO dbos.workflow_status (workflow_uuid, status) "
                f"VALUES ('{wid}', 'ENQUEUED')",
            )
            got = await poller.changes(6.0)
            assert got.workflows == {wid}
            await asyncio.sleep(0.2)  # the feed's fetch and hand-over of what was found
        assert poller.last_cost_s >= 0.2
        assert poller.interval_s >= 2.0
    finally:
        await conn.close()


async def test_read_only_monitor_never_offers_live_push(dbos_url: str) -> None:
    rec = Recorder()
    feed = LiveFeed(dbos_url, replace(MONITOR, read_only=True), rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["POLLING"] and not rec.states[0].offer
        assert "live push" not in rec.states[0].detail
    finally:
        await feed.stop()


async def test_triggers_never_offers_nothing_and_auto_installs(dbos_url: str) -> None:
    never = replace(MONITOR, feed=replace(MONITOR.feed, triggers="never"))
    rec = Recorder()
    feed = LiveFeed(dbos_url, never, rec.on_batch, rec.on_state)
    await feed.start()
    await feed.stop()
    assert rec.names() == ["POLLING"] and not rec.states[0].offer
    assert "[feed] triggers = never" in rec.states[0].detail
    assert _traces(dbos_url)["triggers"] == 0
    auto = replace(MONITOR, feed=replace(MONITOR.feed, triggers="auto"))
    rec = Recorder()
    feed = LiveFeed(dbos_url, auto, rec.on_batch, rec.on_state)
    await feed.start()
    await feed.stop()
    assert rec.names() == ["LIVE"] and rec.states[0].source == "via notify"
    # Installed now: a monitor with the default "ask" uses them at once.
    rec = Recorder()
    feed = LiveFeed(dbos_url, MONITOR, rec.on_batch, rec.on_state)
    await feed.start()
    await feed.stop()
    assert rec.names() == ["LIVE"]
