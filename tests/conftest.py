"""Fixtures every test shares: one real PostgreSQL server per test process (each xdist
worker has its own), started by limbo-tui's own embedded launcher, and a fresh database
per test copied from templates (tests/pg_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import (
    DBOS_TEMPLATE,
    create_dbos_template,
    drop_database,
    fresh_database,
    shared_tmp,
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(shared_tmp("limbo-tui-test-pg-") / "pg")
    server.ensure_running()
    create_dbos_template(server)
    yield server
    server.stop()


@pytest.fixture
def db_url(pg_server: EmbeddedServer) -> Iterator[str]:
    """A fresh, empty database."""
    name = fresh_database(pg_server, "template1")
    yield pg_server.url(name)
    drop_database(pg_server, name)


@pytest.fixture
def dbos_url(pg_server: EmbeddedServer) -> Iterator[str]:
    """A fresh database with DBOS's system schema, as DBOS's migrations create it."""
    name = fresh_database(pg_server, DBOS_TEMPLATE)
    yield pg_server.url(name)
    drop_database(pg_server, name)
