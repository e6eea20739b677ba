"""Start the TUI with real parts: check the database, make the worker, run the app.

The first frame waits for nothing it does not show. The database check (preflight) runs
in a thread of its own while the screen's modules load: a database that answers at once
is checked before the screen opens, so that a bad URL is still one line on a plain
terminal; one that has not answered within CHECK_BEFORE_SCREEN_S no longer keeps the
screen blank. The header then says "connecting…", and the feed and the worker start once
the check passed; a check that fails ends the app with its one line.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from limbo_tui.database import Database
from limbo_tui.hangup import HangupGuard
from limbo_tui.server_clock import ServerClock
from limbo_tui.settings import Settings
from limbo_tui.urls import is_sqlite

if TYPE_CHECKING:
    from limbo_tui.pg.dbos_schema import SchemaVersion
    from limbo_tui.recording import Recorder
    from limbo_tui.ui.app import LimboApp
    from limbo_tui.worker.protocol import Worker

# How long the screen waits for the database check (from the check's start; the screen's
# imports take most of it anyway) before it opens saying "connecting…".
CHECK_BEFORE_SCREEN_S = 0.5


def preflight(url: str, schema: str) -> SchemaVersion:
    """Fail before the screen opens, as one line, when the database cannot be used; the
    database's DBOS schema version (which releases wrote it) otherwise."""
    from limbo_tui import feeds

    return feeds.preflight(url, schema)


class DatabaseCheck:
    """preflight() on a daemon thread, begun at once: nothing waits for a server that does
    not answer but whoever asks for the result (a quit is never held up by it)."""

    def __init__(self, url: str, schema: str) -> None:
        self.started = time.monotonic()
        self._done = threading.Event()
        self._schema: SchemaVersion | None = None
        self._error: BaseException | None = None
        threading.Thread(
            target=self._run, args=(url, schema), name="limbo-tui-preflight", daemon=True
        ).start()

    def _run(self, url: str, schema: str) -> None:
        try:
            self._schema = preflight(url, schema)
        except BaseException as exc:  # handed to the one who asks, as preflight raised it
            self._error = exc
        finally:
            self._done.set()

    def wait(self, seconds: float | None) -> bool:
        """Whether the check is over, waiting at most `seconds` from its start (None: for
        as long as it takes)."""
        if seconds is None:
            return self._done.wait()
        return self._done.wait(max(0.0, self.started + seconds - time.monotonic()))

    def result(self) -> SchemaVersion:
        """The schema version; the check's error (a LimboError: one line) raised here."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._schema is not None
        return self._schema


def header_database(database: Database, schema: SchemaVersion, worker: object) -> str:
    """The header's database line: where, which DBOS schema (and so which releases wrote
    it), and the DBOS release of the embedded worker when it is not limbo-tui's own."""
    parts = [database.display] if is_sqlite(database.url) else [database.display, schema.label]
    release = getattr(worker, "dbos_release", None)
    if release:
        parts.append(f"worker dbos {release}")
    return " │ ".join(parts)


def worker_log_path(database: Database, mode: str) -> Path | None:
    if database.server is not None:
        return database.server.data_dir.parent / f"worker-{mode}.log"
    return None


def build_app(
    settings: Settings,
    database: Database,
    *,
    recorder: Recorder | None = None,
    log_path: Path | None = None,
    server_clock: ServerClock | None = None,
    check_before_screen_s: float | None = None,
) -> tuple[LimboApp, Worker]:
    """The app with its real parts (not started): what run_tui runs, and tests drive.
    Its clock is the database server's, measured by the feed. check_before_screen_s:
    how long the database check may hold the screen (None: until it is over; a worker
    that runs DBOS always waits for it, as DBOS would write its tables there)."""
    check = DatabaseCheck(database.url, settings.database.schema)
    # The screen's modules load while the check waits for the server.
    from limbo_tui import feeds
    from limbo_tui.ui.app import LimboApp
    from limbo_tui.worker import create_worker

    hold = check_before_screen_s if settings.worker.mode == "none" else None
    checked_before_screen = check.wait(hold)
    if checked_before_screen:
        check.result()  # a database that cannot be used: its one line, no screen
    worker = create_worker(
        settings.worker.mode,
        database.url,
        settings,
        log_path=log_path or worker_log_path(database, settings.worker.mode),
        on_state=recorder.worker_state if recorder is not None else None,
        server_back=database.wait_until_running if database.embedded else None,
    )
    url = database.url

    def database_line() -> str:
        schema = check.result()
        # The cancel dialog asks which release acts (can it take the children too?).
        worker.actions.know_schema(schema)
        return header_database(database, schema, worker)

    # The app's loop runs on the main thread, which the embedded server's life is tied to.
    revive = database.revive if database.embedded else None
    disk_problem = database.disk_problem if database.embedded else None
    clock = server_clock or ServerClock()
    app = LimboApp(
        settings,
        database_line() if checked_before_screen else f"{database.display} │ connecting…",
        feed_factory=lambda on_batch, on_state: feeds.make_feed(
            url,
            settings,
            recorder.tee(on_batch) if recorder is not None else on_batch,
            on_state,
            revive=revive,
            disk_problem=disk_problem,
            server_clock=clock,
            page_live=True,
        ),
        worker=worker,
        actions=worker.actions,
        clock=clock.now_ms,
        database_check=None if checked_before_screen else database_line,
    )
    return app, worker


def run_tui(settings: Settings, database: Database, record: str | None = None) -> int:
    recorder = None
    if record:
        from limbo_tui.recording import Recorder  # only with --record

        recorder = Recorder(record, database.display)
    # The screen (Textual draws on stderr) opens before a slow database answers only on a
    # terminal: a script that reads stderr gets the one line whenever the check fails.
    on_terminal = sys.stdin.isatty() and sys.stderr.isatty()
    app, worker = build_app(
        settings,
        database,
        recorder=recorder,
        check_before_screen_s=CHECK_BEFORE_SCREEN_S if on_terminal else None,
    )

    # An SSH drop, `tmux kill-server`, SIGHUP or SIGTERM end the app the way `q` does, and
    # the process for sure even when Textual is stuck on a dead terminal (hangup.py);
    # kill -9 is covered by the server's and the worker's parent-death signals.
    guard = HangupGuard(app.exit, worker.stop)
    try:
        with guard:
            app.run()
    finally:
        guard.stop_worker()
        if recorder is not None:
            recorder.close()
    if app.database_refused is not None:
        raise app.database_refused  # the check failed after the screen opened: its one line
    return app.return_code or 0
