"""Real DBOS releases for tests: their interpreters (provisioned once per machine into
limbo-tui's cache, like limbo-tui itself does), databases migrated by a release's own
migrations, and that release's own DBOS API run on a database for reference rows."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from limbo_tui import releases
from limbo_tui.pg.databases import create_database
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.urls import sqlalchemy_url
from limbo_tui.worker.release_client import call_helper
from tests.pg_support import fresh_database

OLD = "2.8.0"


def has_uuid_ossp(server: EmbeddedServer) -> bool:
    """DBOS 2.x's first migration runs CREATE EXTENSION "uuid-ossp"."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'uuid-ossp'"
        ).fetchone()
    return row is not None


def need_2x_server(server: EmbeddedServer) -> None:
    if not has_uuid_ossp(server):
        pytest.skip("the embedded server has no uuid-ossp, which DBOS 2.x migrations create")


def migrate_with(python: Path, url: str, schema: str = "dbos") -> None:
    """Create the DBOS tables with that interpreter's release's own migrations."""
    call_helper(python, {"url": sqlalchemy_url(url), "schema": schema, "op": "migrate"})


def old_database(server: EmbeddedServer) -> str:
    """A fresh database with dbos 2.8.0's schema, from 2.8.0's own migrations: they run
    once per server, into a template that each such database copies; its name."""
    need_2x_server(server)
    template = f"limbo_test_dbos_{OLD.replace('.', '_')}_template"
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
            # Built under another name, renamed once complete: a failed migration never
            # leaves a half-made template behind for the next test to copy.
            building = f"{template}_{os.getpid()}"
            create_database(server.url("postgres"), building, replace=True)
            migrate_with(release_python(OLD), server.url(building))
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(building), sql.Identifier(template)
                )
            )
    return fresh_database(server, template)


def run_release_api(python: Path, url: str, call: str, executor: str = "reference") -> None:
    """Launch that release's DBOS on `url` (an executor id and version of its own, so it
    recovers nothing) and run `call`, e.g. "DBOS.cancel_workflow(WID)"."""
    code = textwrap.dedent(
        """
        import json, sys
        from dbos import DBOS
        req = json.loads(sys.stdin.readline())
        config = {"name": "limbo-tui-reference", "system_database_url": req["url"],
                  "executor_id": req["executor"], "application_version": req["executor"],
                  "run_admin_server": False, "enable_otlp": False}
        DBOS(config=config)
        DBOS.launch()
        try:
            exec(req["call"], {"DBOS": DBOS, **req["names"]})
        finally:
            DBOS.destroy()
        """
    )
    request = {"url": sqlalchemy_url(url), "executor": executor, "call": call, "names": {}}
    done = subprocess.run(
        [str(python), "-I", "-c", code],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


STATUS_COLUMNS = (
    "workflow_uuid",
    "status",
    "name",
    "queue_name",
    "deduplication_id",
    "recovery_attempts",
    "executor_id",
    "application_version",
    "forked_from",
)


def workflow_rows(url: str, schema: str = "dbos") -> list[dict[str, Any]]:
    """What an action changes, without its clock: one dict per workflow, by id."""
    with psycopg.connect(url) as conn:
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'workflow_status'",
                (schema,),
            )
        ]
        wanted = [c for c in STATUS_COLUMNS if c in cols]
        cur = conn.execute(
            sql.SQL("SELECT {} FROM {}.workflow_status ORDER BY workflow_uuid").format(
                sql.SQL(", ").join(map(sql.Identifier, wanted)), sql.Identifier(schema)
            )
        )
        return [dict(zip(wanted, row, strict=True)) for row in cur.fetchall()]


def release_python(release: str) -> Path:
    return releases.ensure_release(release)
