"""Which database limbo-tui watches: the configured URL, or the embedded private server."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from limbo_tui.errors import LimboError
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import Settings
from limbo_tui.urls import mask, sqlalchemy_url


@dataclass
class Database:
    url: str
    # The private server when limbo-tui runs (or reuses) its own; None for a user's database.
    server: EmbeddedServer | None = None

    @property
    def embedded(self) -> bool:
        return self.server is not None

    @property
    def display(self) -> str:
        """What the header shows: never a password."""
        if self.server is not None:
            return f"embedded {self.server.data_dir}"
        return mask(self.url)


def embedded_server(settings: Settings) -> EmbeddedServer:
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
    server.ensure_running()
    try:
        url = server.ensure_database(settings.embedded.database)
        if not settings.read_only:
            prepare_dbos_schema(url, settings.database.schema)
        yield Database(url, server)
    finally:
        server.stop()


def prepare_dbos_schema(url: str, schema: str) -> None:
    """Create DBOS's system tables in the private database, exactly as DBOS would.

    Only ever run on the embedded server, which limbo-tui owns: it lets `--worker none`
    and the headless commands watch a fresh private database before any worker ran.
    """
    import sqlalchemy as sa
    from dbos._migration import ensure_dbos_schema, run_dbos_migrations

    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        ensure_dbos_schema(engine, schema)
        run_dbos_migrations(engine, schema, use_listen_notify=True)
    except sa.exc.SQLAlchemyError as exc:
        first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise LimboError(
            f"cannot prepare the DBOS schema in the embedded database: {first}"
        ) from None
    finally:
        engine.dispose()


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
