"""Fixtures every test shares: one real PostgreSQL server for the whole session, started
by limbo-tui's own embedded launcher, and a fresh database per test cloned from templates.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from limbo_tui.pg.embedded import EmbeddedServer

DBOS_TEMPLATE = "limbo_test_dbos_template"
_counter = itertools.count()


def _make_shared_tmp(prefix: str) -> Path:
    # As root the server runs as an unprivileged user, who must be able to enter it:
    # a directory of our own under /tmp, opened up (pytest's tmp dirs are 0700).
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(_make_shared_tmp("limbo-tui-test-pg-") / "pg")
    server.ensure_running()
    _create_dbos_template(server)
    yield server
    server.stop()


def _create_dbos_template(server: EmbeddedServer) -> None:
    """Run DBOS's own migrations once; every dbos_url test database is a copy of this."""
    import sqlalchemy as sa
    from dbos._migration import ensure_dbos_schema, run_dbos_migrations

    server.ensure_database(DBOS_TEMPLATE)
    engine = sa.create_engine(
        server.url(DBOS_TEMPLATE).replace("postgresql://", "postgresql+psycopg://", 1)
    )
    try:
        ensure_dbos_schema(engine, "dbos")
        run_dbos_migrations(engine, "dbos", use_listen_notify=True)
    finally:
        engine.dispose()


def _fresh_database(server: EmbeddedServer, template: str) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return name


def _drop_database(server: EmbeddedServer, name: str) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def db_url(pg_server: EmbeddedServer) -> Iterator[str]:
    """A fresh, empty database."""
    name = _fresh_database(pg_server, "template1")
    yield pg_server.url(name)
    _drop_database(pg_server, name)


@pytest.fixture
def dbos_url(pg_server: EmbeddedServer) -> Iterator[str]:
    """A fresh database with DBOS's system schema, as DBOS's migrations create it."""
    name = _fresh_database(pg_server, DBOS_TEMPLATE)
    yield pg_server.url(name)
    _drop_database(pg_server, name)
