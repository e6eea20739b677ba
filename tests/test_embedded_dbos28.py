"""Issue 13.4: `limbo-tui db serve` can host a dbos 2.x app.

dbos 2.x's first migration runs `CREATE EXTENSION IF NOT EXISTS "uuid-ossp"`, which the
bundled PostgreSQL build lacks; limbo-tui's own install of it carries a SQL-only one.
Checked with the real dbos 2.8.0, in a venv of its own (provisioned by uv into
limbo-tui's cache, as limbo-tui does for its actions), launching against the embedded
server and running a workflow.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import shared_tmp
from tests.release_support import OLD, release_python

DBOS_APP = """
import sys
from dbos import DBOS

DBOS(config={"name": "dbos28-app", "system_database_url": sys.argv[1]})

@DBOS.workflow()
def hello(name: str) -> str:
    return "hello " + name

DBOS.launch()
print(hello("limbo"), flush=True)
DBOS.destroy()
"""


@pytest.fixture(scope="session")
def dbos28_python() -> Path:
    """dbos 2.8.0 in a venv of its own, as limbo-tui provisions releases (releases.py)."""
    return release_python(OLD)


def test_a_dbos_28_app_migrates_and_runs_on_the_embedded_server(
    dbos28_python: Path, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"  # a file: DBOS hashes the workflows' source
    app.write_text(DBOS_APP)
    server = EmbeddedServer(shared_tmp("limbo-tui-dbos28-") / "pg")
    server.ensure_running()
    try:
        url = server.ensure_database("dbos28_app")
        sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        run = subprocess.run(
            [str(dbos28_python), str(app), sa_url],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert "hello limbo" in run.stdout
        with psycopg.connect(url) as conn:
            version = conn.execute("SELECT version FROM dbos.dbos_migrations").fetchone()
            extension = conn.execute(
                "SELECT extname FROM pg_extension WHERE extname = 'uuid-ossp'"
            ).fetchone()
            status = conn.execute(
                "SELECT status FROM dbos.workflow_status WHERE name LIKE '%hello'"
            ).fetchone()
        assert version == (7,)  # dbos 2.8's schema
        assert extension == ("uuid-ossp",)
        assert status == ("SUCCESS",)
    finally:
        server.stop()
