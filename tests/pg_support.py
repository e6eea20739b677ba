"""The tests' PostgreSQL pieces: temp dirs a server can use, the DBOS-schema template and
fresh databases copied from it (CREATE DATABASE ... TEMPLATE: milliseconds, where DBOS's
migrations take seconds)."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from limbo_tui.database import prepare_dbos_schema
from limbo_tui.pg.embedded import EmbeddedServer

DBOS_TEMPLATE = "limbo_test_dbos_template"
_counter = itertools.count()


def shared_tmp(prefix: str) -> Path:
    """A directory of our own under /tmp, opened up: as root the server runs as an
    unprivileged user, who must be able to enter it (pytest's tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def create_dbos_template(server: EmbeddedServer, name: str = DBOS_TEMPLATE) -> str:
    """DBOS's own migrations, once per server (limbo-tui's own builder,
    database.prepare_dbos_schema); every DBOS test database is a copy. Returns its name."""
    prepare_dbos_schema(server.ensure_database(name), "dbos")
    return name


def fresh_database(server: EmbeddedServer, template: str = DBOS_TEMPLATE) -> str:
    """A new database copied from `template` ("template1": an empty one); its name."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return name


def drop_database(server: EmbeddedServer, name: str) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
