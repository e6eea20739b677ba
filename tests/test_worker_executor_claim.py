"""One live worker per executor id and database, across limbo-tui processes."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from test_worker_support import small_settings, wait_for

from limbo_tui.database import open_database
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import EmbeddedSettings
from limbo_tui.ui.workflow_actions import ActionKeys
from limbo_tui.worker.base import SERVER_WAIT_DETAIL, WorkerBase
from limbo_tui.worker.executor_claim import ExecutorClaim, lock_key
from limbo_tui.worker.process import ProcessWorker
from limbo_tui.worker.protocol import DOWN, ELSEWHERE, RUNNING, STARTING, STOPPING
from limbo_tui.worker.thread import ThreadWorker
from tests.own_server import free_port, own_server
from tests.pg_support import fresh_database, shared_tmp
from tests.tcp_proxy import TcpProxy


def test_a_second_worker_with_the_same_executor_id_stays_down(dbos_url: str) -> None:
    settings = small_settings()
    first = ProcessWorker(dbos_url, settings)
    second = ThreadWorker(dbos_url, settings)
    try:
        first.start()
        assert first.state == RUNNING, first.detail
        second.start()
        # It would recover, and run again, what the first one is running.
        assert second.state == ELSEWHERE
        assert f"run by another limbo-tui (pid {os.getpid()})" in second.detail
        assert "executor_id" in second.detail
        first.crash()  # a crash keeps the claim: the same limbo-tui restarts it
        second.start()
        assert second.state == ELSEWHERE
        said = ActionKeys._restart_worker(second)  # `r` in the second: why, not "up again"
        assert not said.ok and "run by another limbo-tui" in said.message, said
        first.restart()
        assert first.state == RUNNING, first.detail
        first.stop()  # quitting releases it
        second.start()
        assert second.state == RUNNING, second.detail
    finally:
        first.stop()
        second.stop()


def test_a_start_while_the_embedded_server_is_gone_waits_for_it_to_come_back() -> None:
    """A second limbo-tui on the embedded default: the first quits and its private server
    goes with it; `r` pressed before this one's feed has noticed must not fail on the
    missing server (it said ELSEWHERE for good), but wait for the feed to revive it."""
    data_dir = shared_tmp("limbo-tui-claim-") / "pg"
    settings = replace(small_settings(), embedded=EmbeddedSettings(data_dir=str(data_dir)))
    with open_database(settings) as database:
        assert database.server is not None
        database.server.stop()  # as the first limbo-tui's quit stops it
        assert not database.server.is_running()
        worker = ThreadWorker(database.url, settings, server_back=database.wait_until_running)
        pressed = threading.Thread(target=worker.start)
        try:
            pressed.start()
            wait_for(lambda: worker.state == STARTING, what="the worker to wait")
            assert worker.detail == SERVER_WAIT_DETAIL
            # The feed's reconnect loop does this, on the main thread.
            database.revive()
            pressed.join(60)
            assert worker.state == RUNNING, worker.detail
        finally:
            worker.stop()
            pressed.join(10)


def test_a_claim_that_cannot_reach_the_database_is_down_not_elsewhere(tmp_path: Path) -> None:
    # Nothing answers there: no other limbo-tui is known to run the worker.
    url = f"postgresql://postgres@/limbo?host={tmp_path / 'no-server'}"
    worker = ThreadWorker(url, small_settings())
    try:
        worker.start()
        assert worker.state == DOWN
        assert worker.detail.startswith("cannot claim executor id 'limbo-tui-worker': ")
        assert "No such file or directory" in worker.detail
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def restartable() -> Iterator[EmbeddedServer]:
    """A server of this module's own: restarting it disturbs no other test. Its tests
    each take a database (and role) of their own."""
    # TCP as well: a claim through a proxy can lose its connection and not its session.
    with own_server("limbo-tui-claim-restart-", listen="127.0.0.1", port=free_port()) as server:
        yield server


def _claim_sessions(url: str, executor_id: str) -> list[tuple[int, str, object]]:
    """(pid, last query, when its state last changed) of each session holding the claim."""
    key = lock_key(executor_id)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.pid, a.query, a.state_change FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchall()
    return [(int(pid), str(query), changed) for pid, query, changed in rows]


def _sessions_of(url: str, role: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_claim_lost_with_a_server_restart_is_taken_again(restartable: EmbeddedServer) -> None:
    """The lock goes with its session: a second limbo-tui pressing `r` after the restart
    took the id (and ran a second worker on it) while the first still said it held it."""
    url = restartable.url(fresh_database(restartable, "template1"))
    first = ExecutorClaim(url, "w")
    second = ExecutorClaim(url, "w")
    try:
        assert first.acquire() is None
        [(_, query, changed)] = _claim_sessions(url, "w")
        time.sleep(1.5)
        # Held, it asks nothing: no statement since the lock's own.
        assert _claim_sessions(url, "w")[0][1:] == (query, changed)
        restartable.stop()
        restartable.ensure_running()
        wait_for(lambda: _claim_sessions(url, "w"), what="the holder to take its id again")
        assert first.held
        problem = second.acquire()
        assert problem is not None and f"another limbo-tui (pid {os.getpid()})" in problem
        assert not second.held
    finally:
        first.release()
        second.release()
    assert _claim_sessions(url, "w") == []  # released for good: nothing takes it again


def test_a_broken_connection_whose_session_lives_on_keeps_the_id(
    restartable: EmbeddedServer,
) -> None:
    """A connection to a remote database broken by the network (the server not told):
    the old session still holds the lock, and it is this claim's own, not another
    limbo-tui's; the worker must not stop for it, and takes the id again once the server
    ends that session."""
    database = fresh_database(restartable, "template1")
    url = restartable.url(database)
    taken: list[str] = []
    with TcpProxy(("127.0.0.1", restartable.port)) as proxy:
        proxied = restartable.tcp_url(database).replace(
            f":{restartable.port}/", f":{proxy.port}/", 1
        )
        claim = ExecutorClaim(proxied, "w", on_taken=taken.append)
        try:
            assert claim.acquire() is None
            [(stale, _, _)] = _claim_sessions(url, "w")
            proxy.reset_clients()
            wait_for(lambda: not claim.held, what="the broken connection to be noticed")
            # Tries after the first (which found its own old session): it did not give up.
            wait_for(lambda: proxy.connections >= 3, what="the claim to keep trying")
            assert taken == []  # its own old session: nobody else has the id
            assert _claim_sessions(url, "w")[0][0] == stale
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (stale,))
            wait_for(lambda: claim.held, what="the id taken again")
            [(pid, _, _)] = _claim_sessions(url, "w")
            assert pid != stale and taken == []
        finally:
            claim.release()


@pytest.mark.parametrize("kind", [ThreadWorker, ProcessWorker])
def test_a_worker_whose_id_was_taken_during_a_server_restart_stops_and_says_who(
    restartable: EmbeddedServer, kind: type[WorkerBase]
) -> None:
    url = restartable.url(fresh_database(restartable))
    role = f"claimant_{kind.kind}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(role)))
    settings = small_settings()
    first = kind(url.replace("postgresql://postgres@", f"postgresql://{role}@", 1), settings)
    other = ExecutorClaim(url, settings.worker.executor_id)  # another limbo-tui's claim
    try:
        first.start()
        assert first.state == RUNNING, first.detail
        child = first.pid if isinstance(first, ProcessWorker) else None
        with psycopg.connect(url, autocommit=True) as conn:
            # Its sessions stay; after the restart the first cannot take its id again
            # until the other has it, as when the other's `r` comes first.
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
        restartable.stop()
        restartable.ensure_running()
        assert other.acquire() is None
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
        # Never two workers on one executor id: the first stops and says who runs it.
        wait_for(lambda: first.state == ELSEWHERE, timeout=30, what="the first to step down")
        assert f"is run by another limbo-tui (pid {os.getpid()})" in first.detail
        assert first.crash_count == 0
        if isinstance(first, ProcessWorker) and child is not None:
            assert first.pid is None
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
        # Its DBOS is gone: not one session of the first is left on the database.
        wait_for(lambda: _sessions_of(url, role) == 0, what="the first's DBOS to go")
        other.release()
        first.restart()  # `r` takes it over once the other lets go
        assert first.state == RUNNING, first.detail
    finally:
        first.stop()
        other.release()


def test_an_executor_id_taken_while_the_worker_launches_never_brings_it_up(
    restartable: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id is taken while the launch is held up (here by a user's module that takes
    its time to import): the worker says it is stopping at once, and once the import
    ends DBOS is never launched."""
    url = restartable.url(fresh_database(restartable))
    role = "claimant_launching"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(role)))
    go = tmp_path / "go"
    module = f"limbo_test_slow_import_{os.getpid()}"
    (tmp_path / f"{module}.py").write_text(
        f"import pathlib, time\nwhile not pathlib.Path({str(go)!r}).exists():\n"
        "    time.sleep(0.05)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    base = small_settings()
    settings = replace(base, worker=replace(base.worker, imports=(module,)))
    states: list[str] = []
    first = ThreadWorker(
        url.replace("postgresql://postgres@", f"postgresql://{role}@", 1),
        settings,
        on_state=lambda state, _detail: states.append(state),
    )
    other = ExecutorClaim(url, settings.worker.executor_id)
    pressed = threading.Thread(target=first.start)
    try:
        pressed.start()
        wait_for(lambda: first.detail == "launching DBOS", what="the claim and the launch")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
        restartable.stop()
        restartable.ensure_running()
        assert other.acquire() is None
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
        wait_for(lambda: first.state == STOPPING, timeout=30, what="the stop to be said")
        assert first.detail.startswith("stopping at once: executor id 'limbo-tui-worker' is run")
        taken_at = len(states)
        go.touch()  # the launch goes on
        pressed.join(60)
        wait_for(lambda: first.state == ELSEWHERE, what="the worker to say who runs it")
        assert RUNNING not in states[taken_at:], states
        assert f"is run by another limbo-tui (pid {os.getpid()})" in first.detail
        assert _sessions_of(url, role) == 0  # no DBOS of the first
    finally:
        go.touch()
        first.stop()
        other.release()
        pressed.join(10)
        sys.modules.pop(module, None)
