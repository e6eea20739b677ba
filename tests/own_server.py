"""A PostgreSQL server of a test module's own, for what the shared one (conftest's
pg_server) must not be given: server settings (a tiny NOTIFY queue, wal_level =
logical), a TCP listener, PostgreSQL 18's binaries."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
from psycopg import sql

from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg18_support import with_pg18
from tests.pg_support import create_dbos_template, shared_tmp


@contextmanager
def own_server(
    prefix: str,
    *,
    system: Mapping[str, str] | None = None,
    pg18: bool = False,
    **listen: Any,
) -> Iterator[EmbeddedServer]:
    """A server in a new directory named from `prefix`, started (on PostgreSQL 18 if
    `pg18`) with `system` set by ALTER SYSTEM (then restarted, so that settings read at
    start apply), with the DBOS template that pg_support.fresh_database copies; stopped
    and its directory removed at the end. `listen` goes to EmbeddedServer (listen=,
    port= for TCP). Start it on the main thread: the server's parent-death signal
    follows the thread that started it."""
    base = shared_tmp(prefix)
    server = EmbeddedServer(base / "pg", **listen)
    try:
        with with_pg18() if pg18 else nullcontext():
            server.ensure_running()
            if system:
                with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                    for name, value in system.items():
                        conn.execute(
                            sql.SQL("ALTER SYSTEM SET {} = {}").format(
                                sql.Identifier(name), sql.Literal(value)
                            )
                        )
                server.stop()
                server.ensure_running()
        create_dbos_template(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (tests never use a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
