"""Start-up: what a `limbo-tui` start costs before the user sees anything.

- limbo-tui's sessions run without PostgreSQL's JIT (it compiled the snapshot's family
  query on every new connection: 0.4-1.1 s), also behind PgBouncer, which refuses the
  startup parameter;
- `--worker none` never imports DBOS (nor SQLAlchemy, psycopg): the real command, in a
  real terminal, records what it loaded;
- the first frame is on screen before the snapshot arrives, and before a database that
  does not answer yet has been checked (the header says "connecting…"); a check that
  fails then still ends in its one line;
- limbo-tui's own modules are byte-compiled for the next start, even under
  PYTHONDONTWRITEBYTECODE (uv compiles the installed packages, not an editable project).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from limbo_tui import byte_code
from limbo_tui.config import Overrides, load_settings
from limbo_tui.model import Totals
from limbo_tui.pg import queries, triggers
from limbo_tui.pg.connect import connect, connect_timeout, jit_off_in_transaction
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


# Not on the way to the first frame: loaded later if at all (a dbos-config.yaml, the
# release that acts, --record, the screens and dialogs a key opens).
LATER_MODULES = (
    "yaml",
    "importlib.metadata",
    "limbo_tui.recording",
    "limbo_tui.ui.screens.confirm",
    "limbo_tui.ui.screens.enqueue_form",
    "limbo_tui.ui.screens.fork_picker",
    "limbo_tui.ui.screens.send_form",
    "limbo_tui.ui.screens.help",
    "limbo_tui.ui.screens.queue_view",
    "limbo_tui.ui.screens.worker_log",
    "limbo_tui.ui.screens.live_push",
)

# The real command's entry point, with one addition: it writes down every module loaded
# when the first frame is on screen (the app's Ready), and at exit.
PROBE = """
import atexit, sys
from limbo_tui.ui.app import LimboApp

first_frame, at_exit = sys.argv.pop(1), sys.argv.pop(1)
ready = LimboApp.on_ready


def on_ready(self):
    with open(first_frame, "w") as fh:
        fh.write("\\n".join(sys.modules))
    ready(self)


LimboApp.on_ready = on_ready
atexit.register(lambda: open(at_exit, "w").write("\\n".join(sys.modules)))
from limbo_tui.cli import main

sys.exit(main())
"""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_worker_none_does_not_import_dbos(
    terminal: Terminal, dbos_url: str, tmp_path: Path
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    first_frame, at_exit = tmp_path / "first_frame.txt", tmp_path / "at_exit.txt"
    python = Path(sys.executable)
    assert COMMAND.exists()
    terminal.start(
        f"{python} {probe} {first_frame} {at_exit} --db-url '{dbos_url}' --worker none",
        {"TERM": "xterm-256color"},
    )
    # A monitor (a database limbo-tui did not create): the feed polls.
    terminal.wait_for(lambda s: "feed POLLING" in s, 60, "the feed up")
    terminal.keys("q")
    terminal.wait_for(lambda s: "LIMBO-EXIT=0" in s, 30, "a clean exit")
    loaded = set(at_exit.read_text().split())
    assert "limbo_tui.ui.app" in loaded and "limbo_tui.worker.actions" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == []
    on_first_frame = set(first_frame.read_text().split())
    assert "limbo_tui.ui.status_header" in on_first_frame
    assert sorted(on_first_frame & set(LATER_MODULES)) == []


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


def _postmaster_pid(server: EmbeddedServer) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


@contextlib.contextmanager
def _paused(server: EmbeddedServer) -> Iterator[None]:
    """The server stops answering: new connections wait in its listen queue."""
    pid = _postmaster_pid(server)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_first_frame_while_the_database_does_not_answer_yet(
    terminal: Terminal, pg_server: EmbeddedServer, dbos_url: str
) -> None:
    env = {"TERM": "xterm-256color", "PATH": os.environ.get("PATH", "")}
    with _paused(pg_server):
        # The check waits as long as the URL says (limbo-tui's own default is 10 s, which a
        # start on a loaded machine could use up before its first frame).
        url = f"{dbos_url}&connect_timeout=300"
        terminal.start(f"{COMMAND} --db-url '{url}' --worker none", env)
        screen = terminal.wait_for(
            lambda s: "worker STARTING" in s and "feed STARTING" in s, 60, "the first frame"
        )
        # Nothing was read yet.
        assert "Loading workflows" in screen
    # The server answers again: the check passes and the feed starts (a monitor of a
    # database without triggers polls).
    terminal.wait_for(lambda s: "feed POLLING" in s, 60, "the feed up")
    terminal.keys("q")
    terminal.wait_for(lambda s: "LIMBO-EXIT=0" in s, 30, "a clean exit")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_check_that_fails_once_the_screen_is_open_is_still_one_line(
    terminal: Terminal,
) -> None:
    # A server that takes the connection and never answers (nothing accepts it), then
    # goes away: the connection is reset.
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    port = listener.getsockname()[1]
    env = {"TERM": "xterm-256color", "PATH": os.environ.get("PATH", "")}
    try:
        url = f"postgresql://someone:hunter2@127.0.0.1:{port}/nothing?connect_timeout=300"
        terminal.start(f"{COMMAND} --db-url '{url}' --worker none", env)
        terminal.wait_for(
            lambda s: "worker STARTING" in s and "feed STARTING" in s, 60, "the first frame"
        )
    finally:
        listener.close()
    screen = terminal.wait_for(lambda s: "LIMBO-EXIT=" in s, 60, "limbo-tui to exit")
    assert "LIMBO-EXIT=1" in screen
    assert "hunter2" not in screen and "Traceback" not in screen
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].startswith("limbo-tui: ") and f"127.0.0.1:{port}" in lines[0]
    assert lines[1] == "LIMBO-EXIT=1"


def test_the_urls_connect_timeout_is_how_long_a_connection_may_take() -> None:
    assert connect_timeout("postgresql://h/d?connect_timeout=30", 10) == 30
    assert connect_timeout("host=h dbname=d connect_timeout=1", 10) == 2  # libpq's least
    assert connect_timeout("postgresql://h/d", 10) == 10
    assert connect_timeout("postgresql://h/d?connect_timeout=0", 10) == 10


def test_own_modules_are_compiled_for_the_next_start(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    module = package / "sub" / "mod.py"
    module.write_text("VALUE = 1\n")
    assert byte_code.stale_modules(package) == sorted([package / "__init__.py", module])
    assert byte_code.compile_stale(package) == 2
    assert byte_code.stale_modules(package) == []
    # An edited module is stale again (Python would not use its old byte code either).
    module.write_text("VALUE = 22\n")
    assert byte_code.stale_modules(package) == [module]
    assert byte_code.compile_stale(package) == 1
    # What was written is what Python loads.
    sys.path.insert(0, str(tmp_path))
    try:
        from pkg.sub import mod  # type: ignore[import-not-found]

        assert mod.__cached__ and Path(mod.__cached__).exists() and mod.VALUE == 22
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("pkg.sub.mod", "pkg.sub", "pkg"):
            sys.modules.pop(name, None)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_real_command_compiles_its_modules_after_the_first_frame(
    terminal: Terminal, dbos_url: str, tmp_path: Path
) -> None:
    """With PYTHONDONTWRITEBYTECODE (as on these machines), from a copy of the package
    that nothing compiled yet."""
    copy = tmp_path / "tree"
    shutil.copytree(Path(byte_code.__file__).parent, copy / "limbo_tui")
    for cache in copy.rglob("__pycache__"):
        shutil.rmtree(cache)
    assert byte_code.stale_modules(copy / "limbo_tui")
    code = (
        f"import sys; sys.path.insert(0, {str(copy)!r}); "
        "from limbo_tui.cli import main; sys.exit(main())"
    )
    env = {"TERM": "xterm-256color", "PYTHONDONTWRITEBYTECODE": "1"}
    terminal.start(f"{sys.executable} -c \"{code}\" --db-url '{dbos_url}' --worker none", env)
    terminal.wait_for(lambda s: "feed POLLING" in s, 60, "the feed up")
    for _ in range(600):
        if not byte_code.stale_modules(copy / "limbo_tui"):
            break
        time.sleep(0.1)
    assert byte_code.stale_modules(copy / "limbo_tui") == []
    terminal.keys("q")
    terminal.wait_for(lambda s: "LIMBO-EXIT=0" in s, 30, "a clean exit")
