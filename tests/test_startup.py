"""Start-up: what a `limbo-tui` start costs before the user sees anything.

- limbo-tui's sessions run without PostgreSQL's JIT (it compiled the snapshot's family
  query on every new connection: 0.4-1.1 s), also behind PgBouncer, which refuses the
  startup parameter;
- `--worker none` never imports DBOS (nor SQLAlchemy, psycopg): the real command, in a
  real terminal, records what it loaded;
- the first frame is on screen before the snapshot arrives.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from limbo_tui.config import Overrides, load_settings
from limbo_tui.model import Totals
from limbo_tui.pg import queries, triggers
from limbo_tui.pg.connect import connect, jit_off_in_transaction
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.urls import asyncpg_dsn, database_name
from tests import pgbouncer
from tests.test_e2e_tmux import COMMAND
from tests.tmux_support import Terminal

HEAVY_MODULES = ("dbos", "sqlalchemy", "psycopg")


async def test_limbo_tui_sessions_run_without_jit(dbos_url: str) -> None:
    conn = await connect(dbos_url)
    try:
        assert await conn.fetchval("SHOW jit") == "off"
    finally:
        await conn.close()
    # The server's own default is untouched: only limbo-tui's sessions change.
    other = await asyncpg.connect(asyncpg_dsn(dbos_url))
    try:
        assert await other.fetchval("SHOW jit") == "on"
    finally:
        await other.close()


@pytest.mark.skipif(not pgbouncer.available(), reason="pgbouncer is not installed (apt)")
async def test_behind_pgbouncer_jit_is_off_in_each_read_transaction(
    pg_server: EmbeddedServer, dbos_url: str
) -> None:
    with pgbouncer.PgBouncer(pg_server, database_name(dbos_url)) as bouncer:
        # PgBouncer refuses `jit` as a startup parameter: connect() still connects.
        conn = await connect(bouncer.url)
        try:
            async with conn.transaction(readonly=True):
                await jit_off_in_transaction(conn)
                assert await conn.fetchval("SHOW jit") == "off"
            # SET LOCAL ended with the transaction: nothing leaks to the pooled server
            # connection that the next client of PgBouncer gets.
            assert await conn.fetchval("SHOW jit") == "on"
            await triggers.install(conn, "dbos")
            rows = await queries.snapshot(conn, "dbos")
            [totals] = [r for r in rows if isinstance(r, Totals)]
            assert totals.workflows == 0
            assert await queries.probe_changes(conn, "dbos")
        finally:
            await conn.close()
        # A second connection goes straight to the settings PgBouncer accepts.
        again = await connect(bouncer.url)
        await again.close()


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"limbo-start-{uuid.uuid4().hex[:8]}", 100, 30)
    yield term
    term.kill()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_worker_none_does_not_import_dbos(
    terminal: Terminal, dbos_url: str, tmp_path: Path
) -> None:
    modules = tmp_path / "modules.txt"
    # The real command's entry point, with one addition: at exit it writes down every
    # module the session loaded.
    probe = (
        "import atexit, sys; "
        f"atexit.register(lambda: open({str(modules)!r}, 'w').write('\\n'.join(sys.modules))); "
        "from limbo_tui.cli import main; sys.exit(main())"
    )
    python = Path(sys.executable)
    assert COMMAND.exists()
    terminal.start(
        f"{python} -c \"{probe}\" --db-url '{dbos_url}' --worker none",
        {"TERM": "xterm-256color"},
    )
    # A monitor (a database limbo-tui did not create): the feed polls.
    terminal.wait_for(lambda s: "feed POLLING" in s, 60, "the feed up")
    terminal.keys("q")
    terminal.wait_for(lambda s: "LIMBO-EXIT=0" in s, 30, "a clean exit")
    loaded = set(modules.read_text().split())
    assert "limbo_tui.ui.app" in loaded and "limbo_tui.worker.actions" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == []


async def test_first_frame_comes_before_the_snapshot(dbos_url: str) -> None:
    """A snapshot held up by a lock (a slow or busy database): the screen is drawn,
    says the feed is starting, and fills in once the snapshot arrives."""
    settings = load_settings(Overrides(db_url=dbos_url, worker="none"), {})
    admin = await asyncpg.connect(asyncpg_dsn(dbos_url))
    try:
        await triggers.install(admin, "dbos")
        await admin.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('first-frame-wf', 'PENDING', 'slow_snapshot', 1, 1)"
        )
        await admin.execute("BEGIN")
        await admin.execute("LOCK TABLE dbos.workflow_status IN ACCESS EXCLUSIVE MODE")
        app = LimboApp(
            settings,
            "test",
            feed_factory=lambda on_batch, on_state: LiveFeed(
                dbos_url, settings, on_batch, on_state
            ),
        )
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.5)
            header = str(app.query_one(StatusHeader).render())
            assert "worker none" in header and "feed STARTING" in header
            assert app.graph.workflows == {}
            # The lock goes with the transaction: the snapshot can be read.
            await admin.execute("COMMIT")
            for _ in range(200):
                await pilot.pause(0.05)
                if "first-frame-wf" in app.graph.workflows:
                    break
            assert "first-frame-wf" in app.graph.workflows
            await pilot.pause(0.1)
            assert "LIVE" in str(app.query_one(StatusHeader).render())
    finally:
        await admin.close()


def test_installed_packages_are_byte_compiled() -> None:
    """uv's compile-bytecode (pyproject [tool.uv]): with PYTHONDONTWRITEBYTECODE set, as
    on many servers, nothing else would ever cache them."""
    import textual

    package = Path(textual.__file__).parent
    cached = list((package / "__pycache__").glob("app.*.pyc"))
    assert cached, f"{package} is not byte-compiled: run `uv sync` (compile-bytecode)"
