"""Start the TUI with real parts: check the database, make the worker, run the app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from limbo_tui import feeds
from limbo_tui.database import Database
from limbo_tui.hangup import HangupGuard
from limbo_tui.pg.dbos_schema import SchemaVersion
from limbo_tui.recording import Recorder
from limbo_tui.server_clock import ServerClock
from limbo_tui.settings import Settings
from limbo_tui.urls import is_sqlite

if TYPE_CHECKING:
    from limbo_tui.ui.app import LimboApp
    from limbo_tui.worker.protocol import Worker


def preflight(url: str, schema: str) -> SchemaVersion:
    """Fail before the screen opens, as one line, when the database cannot be used; the
    database's DBOS schema version (which releases wrote it) otherwise."""
    return feeds.preflight(url, schema)


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
) -> tuple[LimboApp, Worker]:
    """The app with its real parts (not started): what run_tui runs, and tests drive.
    Its clock is the database server's, measured by the feed."""
    from limbo_tui.ui.app import LimboApp
    from limbo_tui.worker import create_worker

    schema = preflight(database.url, settings.database.schema)
    worker = create_worker(
        settings.worker.mode,
        database.url,
        settings,
        log_path=log_path or worker_log_path(database, settings.worker.mode),
        on_state=recorder.worker_state if recorder is not None else None,
    )
    url = database.url
    # The cancel dialog asks which release acts (can it take the children too?).
    worker.actions.know_schema(schema)
    # The app's loop runs on the main thread, which the embedded server's life is tied to.
    revive = database.revive if database.embedded else None
    disk_problem = database.disk_problem if database.embedded else None
    clock = server_clock or ServerClock()
    app = LimboApp(
        settings,
        header_database(database, schema, worker),
        feed_factory=lambda on_batch, on_state: feeds.make_feed(
            url,
            settings,
            recorder.tee(on_batch) if recorder is not None else on_batch,
            on_state,
            revive=revive,
            disk_problem=disk_problem,
            server_clock=clock,
        ),
        worker=worker,
        actions=worker.actions,
        clock=clock.now_ms,
    )
    return app, worker


def run_tui(settings: Settings, database: Database, record: str | None = None) -> int:
    recorder = Recorder(record, database.display) if record else None
    app, worker = build_app(settings, database, recorder=recorder)

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
    return app.return_code or 0
