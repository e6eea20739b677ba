"""Issue 11: a stopped reader must never make a write fail. On PostgreSQL 18 with the
smallest NOTIFY queue (max_notify_queue_pages = 64, 512 kB), a `watch` that is SIGSTOPped
or whose pipe nobody reads sits on LISTEN while 10,000 transactions write DBOS rows
through limbo-tui's triggers, then a real DBOS workflow runs. Before: the queue filled
and COMMIT failed ("too many notifications in the NOTIFY queue")."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from limbo_tui.pg import triggers
from limbo_tui.pg.embedded import EmbeddedServer
from tests.own_server import own_server
from tests.pg_support import fresh_database
from tests.test_feed import DbosApp
from tests.watch_process import Watch

WRITES = 10_000


@pytest.fixture(scope="module")
def tiny_queue_server() -> Iterator[EmbeddedServer]:
    with own_server(
        "limbo-tui-notifyq-", pg18=True, system={"max_notify_queue_pages": "64"}
    ) as server:
        yield server


@pytest.fixture
def tiny_url(tiny_queue_server: EmbeddedServer) -> str:
    return tiny_queue_server.url(fresh_database(tiny_queue_server))


def _watch(url: str, tmp_path: Path) -> Watch:
    watch = Watch("--lab", "--db-url", url, cwd=tmp_path, stderr=subprocess.DEVNULL)
    line = watch.next("feed")
    assert line["state"] == "LIVE", line
    return watch


def _many_transactions(url: str) -> float:
    """WRITES single-row transactions through the triggers; the highest queue usage."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('busy', 'PENDING')"
        )
        with conn.pipeline():
            for i in range(WRITES):
                conn.execute(
                    "UPDATE dbos.workflow_status SET recovery_attempts = %s "
                    "WHERE workflow_uuid = 'busy'",
                    (i,),
                )
        usage = conn.execute("SELECT pg_notification_queue_usage()").fetchone()
        assert conn.execute(
            "SELECT recovery_attempts FROM dbos.workflow_status WHERE workflow_uuid = 'busy'"
        ).fetchone() == (WRITES - 1,)
    assert usage is not None
    return float(usage[0])


def _usage(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_notification_queue_usage()").fetchone()
    assert row is not None
    return float(row[0])


def test_a_sigstopped_watch_never_makes_a_write_fail(tiny_url: str, tmp_path: Path) -> None:
    with _watch(tiny_url, tmp_path) as watch:
        watch.proc.send_signal(signal.SIGSTOP)
        usage = _many_transactions(tiny_url)
        # The triggers went silent at their limit instead of filling the queue.
        assert usage < triggers.QUEUE_LIMIT + 0.05, usage
        with DbosApp(tiny_url) as app:
            assert app.run_parent(k=2, n=2)


def test_an_unread_watch_pipe_lets_go_of_the_queue_and_resyncs(
    tiny_url: str, tmp_path: Path
) -> None:
    with _watch(tiny_url, tmp_path) as watch:
        _many_transactions(tiny_url)
        with DbosApp(tiny_url) as app:
            assert app.run_parent(k=1, n=1)
        # Its output backed up; it let go of the database, so no listener holds the
        # queue's tail any more (a blocked writer would, for as long as nobody reads).
        deadline = time.monotonic() + 30
        while _usage(tiny_url) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _usage(tiny_url) == 0
        assert watch.proc.poll() is None
        # Read again: everything up to the last write arrives (or, had the backlog passed
        # the output's bound, a resync line and the whole picture).
        while True:
            doc = watch.line()
            if doc["type"] == "resync":
                break
            wf = doc.get("workflow") or {}
            if wf.get("id") == "busy" and wf.get("recovery_attempts") == WRITES - 1:
                break
