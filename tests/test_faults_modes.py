"""Databases that are not what limbo-tui would like: each gives the documented mode or a
one-line error, never a traceback.

- a role that may read the DBOS tables but create nothing: POLLING (with the reason),
  `triggers install` refused in one line, the TUI runs;
- a read replica (default_transaction_read_only = on): POLLING "read-only database";
- a database with no dbos schema: one line, exit 1, for every command and the TUI;
- a dbos schema of 2.8 shape: LIVE (triggers install on the old tables), the limbo shown.
The same privilege fallback at the feed level is in test_feed.py / test_triggers.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from limbo_tui.settings import FeedSettings, Settings, UISettings
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.urls import database_name
from tests import dbos28, seed
from tests.faults_support import clean_env, limbo_cmd, live_app, until, wait
from tests.test_triggers import make_limited_role
from tests.watch_process import Watch

SETTINGS = Settings(
    lab=True,
    feed=FeedSettings(poll_interval_s=0.2, heartbeat_s=2.0, coalesce_ms=10),
    ui=UISettings(refresh_hz=30),
)


def _run(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        limbo_cmd(*args),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("limbo-tui: "), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def _first_watch_line(tmp_path: Path, url: str, insert: str | None = None) -> dict[str, Any]:
    """Start `watch --json`, read its feed line (past the snapshot's rows), and after
    `insert` the workflow line it brings; then end it with SIGTERM (exit 0)."""
    with Watch("--lab", "--db-url", url, cwd=tmp_path) as watch:
        feed = watch.next("feed")
        if insert is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(insert)  # type: ignore[call-overload]
            watch.next("workflow")
        watch.stop(signal.SIGTERM)
    return feed


INSERT = (
    "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) VALUES ('w1', 'PENDING', 'job')"
)


def _make_read_only(url: str) -> None:
    """What a hot standby or a read-only replica endpoint looks like to a client."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(database_name(url))
            )
        )


def _write_as_admin(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute(statement)  # type: ignore[call-overload]


def test_role_without_create_polls_and_install_is_one_line(dbos_url: str, tmp_path: Path) -> None:
    limited = make_limited_role(dbos_url)
    line = _first_watch_line(tmp_path, limited)
    assert line["state"] == "POLLING" and "no privilege" in line["detail"]
    _one_line_error(
        _run(tmp_path, "triggers", "install", "--db-url", limited), 1, "permission denied"
    )
    status = _run(tmp_path, "triggers", "status", "--db-url", limited)
    assert status.returncode == 0 and status.stdout.startswith("not installed")
    snap = _run(tmp_path, "snapshot", "--db-url", limited)
    assert snap.returncode == 0 and "nothing in limbo" in snap.stdout


def test_read_replica_polls_and_refuses_writes_in_one_line(dbos_url: str, tmp_path: Path) -> None:
    _make_read_only(dbos_url)
    with Watch("--lab", "--db-url", dbos_url, cwd=tmp_path) as watch:
        first = watch.line()
        assert first["state"] == "POLLING" and "read-only database" in first["detail"]
        _write_as_admin(dbos_url, INSERT)  # the primary writes; the replica sees it by polling
        line = watch.line()
        assert line["type"] == "workflow" and line["workflow"]["id"] == "w1"
        watch.stop(signal.SIGTERM)
    _one_line_error(_run(tmp_path, "triggers", "install", "--db-url", dbos_url), 1, "read-only")
    snap = _run(tmp_path, "snapshot", "--json", "--db-url", dbos_url)
    assert snap.returncode == 0 and json.loads(snap.stdout)["workflows"][0]["id"] == "w1"


@pytest.mark.parametrize(
    "args",
    [
        ("snapshot",),
        ("snapshot", "--json"),
        ("watch", "--json"),
        ("triggers", "status"),
        ("triggers", "install"),
        ("--worker", "none"),  # the TUI: refused before the screen opens
        (),
    ],
)
def test_no_dbos_schema_is_one_line_exit_1(db_url: str, tmp_path: Path, args: tuple) -> None:
    proc = _run(tmp_path, *args, "--db-url", db_url)
    _one_line_error(proc, 1, "no dbos schema 'dbos'")
    # Scripts read stdout: nothing there but, for watch, the documented DOWN line.
    for line in proc.stdout.splitlines():
        assert json.loads(line)["type"] == "feed" and json.loads(line)["state"] == "DOWN"


def test_other_schema_name_is_one_line(dbos_url: str, tmp_path: Path) -> None:
    proc = _run(tmp_path, "snapshot", "--db-url", dbos_url, "--schema", "myapp_dbos")
    _one_line_error(proc, 1, "no dbos schema 'myapp_dbos'")


def test_dbos28_schema_is_live_and_shows_the_limbo(db_url: str, tmp_path: Path) -> None:
    dbos28.create_schema(db_url)
    seed.write(db_url)
    line = _first_watch_line(
        tmp_path,
        db_url,
        "UPDATE dbos.workflow_status SET recovery_attempts = 3 "
        f"WHERE workflow_uuid = '{seed.PARENT}'",
    )
    assert line["state"] == "LIVE"  # triggers installed on the 2.8 tables
    snap = _run(tmp_path, "snapshot", "--db-url", db_url)
    assert snap.returncode == 3 and "awaiting-dead-child" in snap.stdout


async def _tui_mode(url: str, state: str, why: str, expect: str | None) -> None:
    app = live_app(url, SETTINGS, "none")
    async with app.run_test(size=(100, 30)):
        header = app.query_one(StatusHeader)
        await until(lambda: header.feed_state == state, 15, f"feed {state} on {url}")
        assert why in header.feed_detail
        if expect is not None:
            await until(lambda: expect in app.graph.workflows, 10, "the seed rows")
            assert any(d.kind == "awaiting-dead-child" for d in app.diagnoses)
        assert not header.problem, header.problem


async def test_tui_on_each_kind_of_database(dbos_url: str, db_url: str) -> None:
    """The TUI itself (real feed, monitor-only worker) on a limited role, a read-only
    database and a 2.8 schema: the header says which mode and why; nothing breaks."""
    limited = make_limited_role(dbos_url)
    dbos28.create_schema(db_url)
    seed.write(db_url)
    cases = [
        (limited, "POLLING", "no privilege", None),
        (db_url, "LIVE", "", seed.PARENT),
    ]
    for url, state, why, expect in cases:
        await _tui_mode(url, state, why, expect)
    _make_read_only(dbos_url)
    app = live_app(dbos_url, SETTINGS, "none")
    async with app.run_test(size=(100, 30)):
        header = app.query_one(StatusHeader)
        await until(lambda: header.feed_state == "POLLING", 15, "POLLING on a replica")
        assert "read-only database" in header.feed_detail
        _write_as_admin(dbos_url, INSERT)
        await until(lambda: "w1" in app.graph.workflows, 10, "the poll to see a new row")


def test_thread_worker_on_a_read_only_database_is_down_not_dead(dbos_url: str) -> None:
    """The default worker cannot launch where it may not write: DOWN with one line."""
    from limbo_tui.worker import create_worker

    _make_read_only(dbos_url)
    worker = create_worker("thread", dbos_url, SETTINGS)
    try:
        worker.start()
        wait(lambda: worker.state in ("DOWN", "RUNNING"), 60, "the launch to end")
        assert worker.state == "DOWN", worker.detail
        assert "\n" not in worker.detail and "read-only" in worker.detail, worker.detail
    finally:
        worker.stop()
