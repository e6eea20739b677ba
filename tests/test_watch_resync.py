"""`watch --json` after a resync (issue 10.3): the listen connection is killed, the feed
reconnects with a fresh, bounded snapshot, and only a row that is gone is a delete.
Workflows that merely fall outside the snapshot's bounds (older finished families) exist
and are not reported deleted. Real PostgreSQL, real triggers, real LiveFeed."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import psycopg

from limbo_tui.feeds import existing_ids
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.scripting import Watcher
from limbo_tui.settings import FeedSettings, Settings

FINISHED_KEPT = 3
SETTINGS = Settings(
    lab=True,
    feed=FeedSettings(
        finished_families=FINISHED_KEPT, poll_interval_s=0.2, heartbeat_s=1.0, coalesce_ms=10
    ),
)


def _insert(url: str, ids: list[str], created_ms: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for k, wid in enumerate(ids):
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
                "updated_at) VALUES (%s, 'SUCCESS', 'job', %s, %s)",
                (wid, created_ms + k, created_ms + k),
            )


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_resync_reports_no_delete_for_rows_that_exist(dbos_url: str) -> None:
    buf = io.StringIO()
    watcher = Watcher(SETTINGS, buf)

    async def still_there(ids: list[str]) -> set[str]:
        return await existing_ids(dbos_url, SETTINGS, ids)

    watcher.still_there = still_there

    def lines() -> list[dict[str, Any]]:
        return [json.loads(x) for x in buf.getvalue().splitlines()]

    def ops(op: str) -> list[str]:
        return [x["workflow"]["id"] for x in lines() if x.get("op") == op]

    feed = LiveFeed(dbos_url, SETTINGS, watcher.on_batch, watcher.on_state)
    await feed.start()
    try:
        # Live inserts are shown as they come, beyond what a snapshot would keep.
        ids = [f"done-{k:02d}" for k in range(10)]
        _insert(dbos_url, ids, int(time.time() * 1000) - 60_000)
        await _until(lambda: set(ops("insert")) >= set(ids), 20, "the inserts")
        before = sum(1 for x in lines() if x["type"] == "feed")
        # The listen connection is killed; while it is away, one row goes for good.
        with psycopg.connect(dbos_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'limbo-tui' AND pid <> pg_backend_pid()"
            )
            admin.execute("DELETE FROM dbos.workflow_status WHERE workflow_uuid = 'done-00'")

        def reconnected() -> bool:
            states = [x["state"] for x in lines() if x["type"] == "feed"][before:]
            return "RECONNECTING" in states and states[-1] == "LIVE"

        await _until(reconnected, 30, "the feed to reconnect")
        await _until(lambda: "done-00" in ops("delete"), 20, "the delete of the gone row")
        await asyncio.sleep(0.5)  # any other (false) delete would be written by now
    finally:
        await feed.stop()
    # The resync snapshot kept only the newest finished families: the others exist.
    assert len(watcher.graph.workflows) <= FINISHED_KEPT
    assert ops("delete") == ["done-00"]
