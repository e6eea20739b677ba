"""Fixtures every test shares: one real PostgreSQL server per test process (each xdist
worker has its own), started by limbo-tui's own embedded launcher, and a fresh database
per test copied from templates (tests/pg_support.py)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator

import pytest

from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import (
    DBOS_TEMPLATE,
    create_dbos_template,
    drop_database,
    fresh_database,
    remove_shared_tmp,
    shared_tmp,
    shared_tmp_made,
)


@pytest.fixture(scope="session", autouse=True)
def _remove_shared_tmp_of_session() -> Iterator[None]:
    """Set up before, and torn down after, every other fixture of the session: what
    shared_tmp made for the session and module fixtures goes when the session ends."""
    mark = shared_tmp_made()
    yield
    remove_shared_tmp(mark)


@pytest.fixture(autouse=True)
def _remove_shared_tmp_of_test() -> Iterator[None]:
    """Set up after the wider fixtures a test uses (pytest sets those up first) and torn
    down after its own: what shared_tmp made during the test goes when it ends, passed or
    failed."""
    mark = shared_tmp_made()
    yield
    remove_shared_tmp(mark)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(shared_tmp("limbo-tui-test-pg-") / "pg")
    try:
        server.ensure_running()
        create_dbos_template(server)
        yield server
    finally:
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


def pytest_configure(config: pytest.Config) -> None:
    """A suite started under nohup (or by anything that ignores SIGHUP) would hand SIG_IGN
    down to every process the tests start, and the tests that hang up a child (an embedded
    server's owner, limbo-tui killed mid-start) would wait for a death that never comes.
    The children get the disposition a terminal gives them; xdist's workers are started
    after this and inherit it."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    # Under PYTHONDONTWRITEBYTECODE (set on these machines) pytest caches no rewritten
    # test module, so each xdist worker rewrote and compiled all of them again: ~5 CPU-s
    # a worker. The suite's own processes cache them; the processes the tests start get
    # the environment unchanged (limbo-tui's byte_code.py is tested under it).
    sys.dont_write_bytecode = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist's worksteal each worker first runs one contiguous share of the list,
    and idle workers steal from the ends of the others' shares. So each share starts
    with its part of the slow tests: they all start at once instead of one worker
    meeting a run of them last, and what is stolen at the end is short."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        items[:] = spread_slow_first(items, workers)


def spread_slow_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    # The shares as worksteal cuts them: pending // idle workers left, in turn.
    sizes, left = [], len(items)
    for remaining in range(workers, 0, -1):
        sizes.append(left // remaining)
        left -= sizes[-1]
    slow = [item for item in items if item.get_closest_marker("slow")]
    rest = [item for item in items if not item.get_closest_marker("slow")]
    shares: list[list[pytest.Item]] = [slow[i::workers] for i in range(workers)]
    for share, size in zip(shares, sizes, strict=True):
        # then the rest in collection order, so that a module's tests stay together
        room = max(0, size - len(share))
        share.extend(rest[:room])
        del rest[:room]
    shares[-1].extend(rest)
    return [item for share in shares for item in share]
