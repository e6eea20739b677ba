"""Which database limbo-tui watches: the configured URL, or the embedded private server."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from limbo_tui.errors import LimboError, one_line
from limbo_tui.pg.embedded import EmbeddedServer, unsupported_platform
from limbo_tui.settings import Settings
from limbo_tui.urls import is_sqlite, mask, sqlalchemy_url, sqlite_path

if TYPE_CHECKING:
    import psycopg


# pg_advisory_lock key serialising DBOS migrations of the embedded database ("limbomig").
_MIGRATION_LOCK_KEY = 0x6C696D626F6D6967
_MIGRATION_LOCK_TIMEOUT_S = 120.0
# How long another thread waits for the private server to be revived: the feed notices
# the loss at once (or at its next heartbeat, 15 s by default) and a start may take 30 s.
REVIVE_WAIT_S = 60.0


@dataclass
class Database:
    url: str
    # The private server when limbo-tui runs (or reuses) its own; None for a user's database.
    server: EmbeddedServer | None = None

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def revive(self) -> None:
        """Start the private server again if it went away (a no-op for a user's database).

        Two limbo-tui on the embedded default share one server, which stops with the one
        that started it; the other calls this from its feed's reconnect loop and becomes
        the owner. Must run on the main thread: the server's parent-death signal follows
        the thread that starts it.
        """
        if self.server is not None and not self.server.is_running():
            self.server.ensure_running()

    def wait_until_running(self) -> bool:
        """True once the private server accepts connections (a user's database: at once),
        False when it is not back within REVIVE_WAIT_S.

        For a thread that found the server gone (the worker's executor claim, after the
        limbo-tui that started it quit): the feed revives it (above) on the main thread,
        which that thread cannot do, so it waits for that instead of failing.
        """
        return self.server is None or self.server.wait_accepting(REVIVE_WAIT_S)

    def disk_problem(self) -> str | None:
        """One line while the private server's disk is full (a user's database: None)."""
        return self.server.disk_problem() if self.server is not None else None

    @property
    def display(self) -> str:
        """What the header shows: never a password."""
        if self.server is not None:
            return f"embedded {self.server.data_dir}"
        if is_sqlite(self.url):
            return f"SQLITE {sqlite_path(self.url)}"
        return mask(self.url)


def embedded_server(settings: Settings) -> EmbeddedServer:
    problem = unsupported_platform()
    if problem is not None:
        raise LimboError(problem)
    return EmbeddedServer(settings.embedded.data_dir)


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """Yield the database to watch; a private server started here stops on exit."""
    if settings.database.url is not None:
        yield Database(settings.database.url)
        return
    # Started from the main thread on purpose: the server's parent-death signal fires when
    # the thread that spawned it ends, and the main thread lives as long as limbo-tui.
    server = embedded_server(settings)
    # --read-only writes nothing, here neither: no initdb, no CREATE DATABASE.
    create = not settings.read_only
    if not server.is_running():
        say_before_screen(f"starting PostgreSQL in {server.data_dir}…")
    server.ensure_running(create=create)
    try:
        chosen = worker_release(settings)
        name = embedded_database_name(settings, chosen[0] if chosen else None)
        url = server.ensure_database(name, create=create)
        if settings.read_only:
            pass
        elif chosen is not None:
            prepare_release_schema(url, settings.database.schema, *chosen)
        else:
            prepare_dbos_schema(url, settings.database.schema)
        yield Database(url, server)
    finally:
        server.stop()


def say_before_screen(text: str) -> None:
    """A start-up line on a terminal, so that a slow start is never a blank screen.

    Only when stderr is a terminal: scripts reading `snapshot` or `watch` get nothing extra,
    and under `serve` (stdout is the browser's protocol) it goes to the server's log.
    """
    if sys.stderr.isatty():
        print(f"limbo-tui: {text}", file=sys.stderr, flush=True)


def worker_release(settings: Settings) -> tuple[str, Path] | None:
    """(release, interpreter) of a process worker that does not run limbo-tui's own dbos:
    the `--dbos` release (provisioned), or the dbos of `[worker] python` (asked)."""
    worker = settings.worker
    if worker.mode != "process":
        return None
    if worker.dbos is not None:
        from limbo_tui.releases import ensure_release

        return worker.dbos, ensure_release(worker.dbos)
    if worker.python is not None:
        from limbo_tui.worker.interpreter import worker_interpreter
        from limbo_tui.worker.release_client import ReleaseActionError, call_helper

        python = Path(worker_interpreter(settings).python)
        try:
            reply = call_helper(python, {"op": "version"}, timeout=60)
        except ReleaseActionError as exc:
            raise LimboError(
                f"worker.python {worker.python!r} cannot run DBOS ({one_line(exc, 160)}): "
                "point it at an interpreter whose environment has dbos"
            ) from None
        return str(reply.get("dbos")), python
    return None


def embedded_database_name(settings: Settings, release: str | None = None) -> str:
    """The embedded database: one per DBOS release the worker runs (`--dbos`, or the dbos
    of `[worker] python`), so that no release ever migrates the tables another wrote."""
    release = release or settings.worker.dbos
    if release is None:
        return settings.embedded.database
    return f"{settings.embedded.database}_dbos_{release.replace('.', '_')}"


def prepare_release_schema(url: str, schema: str, release: str, python: Path | None = None) -> None:
    """Create the DBOS tables of `release` with that release's own migrations, run by
    its own interpreter (releases.py, or the user's), in the database of that release."""
    import psycopg

    from limbo_tui.releases import ensure_release
    from limbo_tui.worker.release_client import ReleaseActionError, call_helper

    python = python or ensure_release(release)
    try:
        with psycopg.connect(url, autocommit=True) as lock:
            _take_migration_lock(lock)
            call_helper(python, {"url": sqlalchemy_url(url), "schema": schema, "op": "migrate"})
    except (psycopg.Error, ReleaseActionError) as exc:
        hint = ""
        if "uuid-ossp" in str(exc):
            hint = " (dbos 2.x migrations create the uuid-ossp extension, which this server lacks)"
        raise LimboError(
            f"cannot prepare dbos {release}'s schema in the embedded database: "
            f"{one_line(exc, 200)}{hint}"
        ) from None


def prepare_dbos_schema(url: str, schema: str) -> None:
    """Create DBOS's system tables in the private database, exactly as DBOS would.

    Only ever run on the embedded server, which limbo-tui owns: it lets `--worker none`
    and the scripting commands watch a fresh private database before any worker ran. The
    one builder of the DBOS schema: the tests' and the bench's template databases (copied
    with CREATE DATABASE ... TEMPLATE) are made by it too.
    """
    import psycopg
    import sqlalchemy as sa

    from limbo_tui.worker import dbos_internals

    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        # Two limbo-tui started together on a fresh data dir would run DBOS's migrations
        # at once and deadlock: one at a time, under a session advisory lock (released
        # when the lock connection closes, even if this process dies).
        with psycopg.connect(url, autocommit=True) as lock:
            _take_migration_lock(lock)
            with _quiet_dbos_log():
                dbos_internals.migrate(engine, schema)
    except (psycopg.Error, sa.exc.SQLAlchemyError) as exc:
        raise LimboError(
            f"cannot prepare the DBOS schema in the embedded database: {one_line(exc)}"
        ) from None
    finally:
        engine.dispose()


@contextmanager
def _quiet_dbos_log() -> Iterator[None]:
    """DBOS logs migration notes ("Dropping invalid index ...") before any handler of its
    own exists, so Python would print them over the terminal the TUI is about to take."""
    logger = logging.getLogger("dbos")
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    try:
        yield
    finally:
        logger.removeHandler(quiet)


def _take_migration_lock(conn: psycopg.Connection) -> None:
    """Try, sleep, try again: a session blocked in pg_advisory_lock() holds a snapshot,
    which the other's CREATE INDEX CONCURRENTLY would wait for (a deadlock across two
    connections that Postgres cannot see)."""
    deadline = time.monotonic() + _MIGRATION_LOCK_TIMEOUT_S
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,)).fetchone()
        if row is not None and row[0]:
            return
        if time.monotonic() > deadline:
            raise LimboError(
                "another limbo-tui has been preparing the embedded database for over "
                f"{_MIGRATION_LOCK_TIMEOUT_S:.0f} s; stop it and start again"
            )
        time.sleep(0.1)


def run_db_command(settings: Settings, action: str) -> int:
    server = embedded_server(settings)
    if action == "url":
        print(server.url(settings.embedded.database))
        if not server.is_running():
            print(
                "limbo-tui: the embedded server is not running now; it runs while limbo-tui "
                "does (or start it with: limbo-tui db serve)",
                file=sys.stderr,
            )
        return 0
    # serve: keep the private server up for psql or the user's own DBOS app.
    with open_database(settings) as database:
        owner = "started" if database.server and database.server.owned else "already running"
        print(f"embedded PostgreSQL {owner}: {database.url}", flush=True)
        print("press Ctrl+C to stop", file=sys.stderr, flush=True)
        try:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            signal.signal(signal.SIGHUP, lambda *_: sys.exit(0))
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0
