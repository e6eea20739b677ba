"""The embedded worker never migrates a database it monitors."""

from __future__ import annotations

import psycopg
from test_worker_support import small_settings

from limbo_tui.worker.protocol import RUNNING
from limbo_tui.worker.thread import ThreadWorker


def _migration_state(url: str) -> tuple[int, list[str]]:
    with psycopg.connect(url) as conn:
        version = conn.execute("SELECT max(version) FROM dbos.dbos_migrations").fetchone()
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dbos' "
            "ORDER BY 1"
        ).fetchall()
    return int(version[0]), [t[0] for t in tables]


def test_a_schema_older_than_our_dbos_is_left_alone(dbos_url: str) -> None:
    # A system database as an older DBOS app left it: one migration behind ours.
    with psycopg.connect(dbos_url) as conn:
        conn.execute("UPDATE dbos.dbos_migrations SET version = version - 1")
    before = _migration_state(dbos_url)
    worker = ThreadWorker(dbos_url, small_settings())
    try:
        worker.start()
        assert worker.state != RUNNING
        assert worker.detail  # says why it could not start
    finally:
        worker.stop()
    assert _migration_state(dbos_url) == before
