"""LiveFeed against real DBOS workers: notify path, reconnects, restart, polling fallback."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import pytest
from dbos import DBOS, SetWorkflowID

from limbo_tui.model import Workflow, WorkflowGraph
from limbo_tui.pg import queries
from limbo_tui.pg.connect import connect
from limbo_tui.pg.feed import FeedBatch, FeedState, LiveFeed, parse_payload
from limbo_tui.settings import FeedSettings, Settings
from limbo_tui.urls import sqlalchemy_url
from tests.pg_support import shared_tmp
from tests.test_triggers import make_limited_role

FAST = Settings(lab=True, feed=FeedSettings(poll_interval_s=0.2, heartbeat_s=1.0, coalesce_ms=10))


# -- a tiny DBOS app: parent -> children -> steps ----------------------------------------
# Registered once, at import, like any DBOS app: destroying the registry would also drop
# the workflows of limbo-tui's own worker that other tests in this process launch.
@DBOS.step(name="feed_test.work")
def _work(i: int) -> int:
    time.sleep(0.02)
    return i


@DBOS.workflow(name="feed_test.child")
def _child(n: int) -> int:
    return sum(_work(i) for i in range(n))


@DBOS.workflow(name="feed_test.parent")
def _parent(k: int, n: int) -> int:
    handles = [DBOS.start_workflow(_child, n) for _ in range(k)]
    return sum(h.get_result() for h in handles)


def _register() -> dict[str, Callable[..., Any]]:
    return {"parent": _parent, "child": _child}


class DbosApp:
    """DBOS on a plain thread: its sync API refuses threads with a running loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fns: dict[str, Callable[..., Any]] = {}

    def _launch(self) -> None:
        DBOS.destroy()
        self.fns = _register()
        DBOS(
            config={
                "name": "limbo-feed-test",
                "system_database_url": sqlalchemy_url(self.url),
                "executor_id": "feed-test",
                "application_version": "feed-test-1",
                "notification_listener_polling_interval_sec": 0.05,
            }
        )
        DBOS.launch()

    def run_parent(self, k: int = 2, n: int = 2, workflow_id: str | None = None) -> str:
        def go() -> str:
            queue = DBOS.register_queue("feed-q", polling_interval_sec=0.05)
            if workflow_id is None:
                handle = queue.enqueue(self.fns["parent"], k, n)
            else:
                with SetWorkflowID(workflow_id):
                    handle = queue.enqueue(self.fns["parent"], k, n)
            assert handle.get_result() == k * sum(range(n))
            return handle.workflow_id

        return _on_thread(go)

    def __enter__(self) -> DbosApp:
        _on_thread(self._launch)
        return self

    def __exit__(self, *exc: object) -> None:
        _on_thread(DBOS.destroy)


def _on_thread(fn: Callable[[], Any]) -> Any:
    out: list[Any] = []
    err: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            err.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join(60)
    if err:
        raise err[0]
    return out[0]


async def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run blocking DBOS work without blocking the loop the feed lives on."""
    done = asyncio.get_running_loop().create_future()

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            done.get_loop().call_soon_threadsafe(done.set_exception, exc)
        else:
            done.get_loop().call_soon_threadsafe(done.set_result, result)

    threading.Thread(target=target, daemon=True).start()
    return await done


# -- a consumer that records what the feed says -----------------------------------------
@dataclass
class Recorder:
    graph: WorkflowGraph = field(default_factory=WorkflowGraph)
    states: list[FeedState] = field(default_factory=list)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    full_batches: int = 0

    def on_batch(self, batch: FeedBatch) -> None:
        if batch.full:
            self.full_batches += 1
            self.graph.replace_all(batch.rows)
        else:
            self.graph.apply(batch.rows)
        for row in batch.rows:
            if isinstance(row, Workflow):
                seen = self.statuses.setdefault(row.id, [])
                if not seen or seen[-1] != row.status:
                    seen.append(row.status)

    def on_state(self, state: FeedState) -> None:
        if not self.states or self.states[-1].state != state.state:
            self.states.append(state)

    def names(self) -> list[str]:
        return [s.state for s in self.states]


async def _db_graph(url: str, settings: Settings = FAST) -> WorkflowGraph:
    conn = await connect(url)
    try:
        rows = await queries.snapshot(conn, "dbos", settings.feed.finished_families)
    finally:
        await conn.close()
    graph = WorkflowGraph()
    graph.replace_all(rows)
    return graph


def _comparable(graph: WorkflowGraph) -> tuple[Any, ...]:
    wfs = {k: replace(v, max_recovery_attempts=None) for k, v in graph.workflows.items()}
    steps = {k: v for k, v in graph.steps.items() if v}
    children = {w: graph.children(w) for w in graph.workflows}
    return wfs, steps, children


async def _converges(rec: Recorder, url: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        db = await _db_graph(url)
        if _comparable(rec.graph) == _comparable(db):
            return
        if time.monotonic() > deadline:
            assert _comparable(rec.graph) == _comparable(db)
        await asyncio.sleep(0.1)


async def _wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
def app(dbos_url: str) -> Iterator[DbosApp]:
    with DbosApp(dbos_url) as a:
        yield a


# -- tests --------------------------------------------------------------------------------
async def test_every_change_reaches_the_graph(dbos_url: str, app: DbosApp) -> None:
    rec = Recorder()
    feed = LiveFeed(dbos_url, FAST, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["LIVE"] and rec.full_batches == 1
        parent = await _in_thread(lambda: app.run_parent(k=2, n=3))
        await _converges(rec, dbos_url)
    finally:
        await feed.stop()
    # ENQUEUED may be folded into PENDING when the dequeue lands inside one coalescing
    # window (the fetch reads the current row); every state that lasts is seen, in order.
    assert rec.statuses[parent] in (["ENQUEUED", "PENDING", "SUCCESS"], ["PENDING", "SUCCESS"])
    children = rec.graph.children(parent)
    assert len(children) == 2
    for child in children:
        assert rec.statuses[child] == ["PENDING", "SUCCESS"]
        assert rec.graph.step_counts(child).steps_completed == 3
    assert rec.full_batches == 1  # no resync needed: everything came by notification
    assert feed.events_per_s() > 0


async def test_terminated_listener_reconnects_and_resyncs(dbos_url: str, app: DbosApp) -> None:
    rec = Recorder()
    feed = LiveFeed(dbos_url, FAST, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        run = asyncio.ensure_future(_in_thread(lambda: app.run_parent(k=3, n=4)))
        await _wait_for(lambda: len(rec.graph.workflows) >= 2)  # mid-run
        assert feed._side is not None
        pid = feed._side.get_server_pid()
        with psycopg.connect(dbos_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await run
        await _wait_for(lambda: rec.names()[-1:] == ["LIVE"] and len(rec.names()) >= 3)
        await _converges(rec, dbos_url)
    finally:
        await feed.stop()
    assert rec.names() == ["LIVE", "RECONNECTING", "LIVE"]
    assert rec.full_batches >= 2


async def test_server_restart_reconnects_and_resyncs() -> None:
    from limbo_tui.pg.embedded import EmbeddedServer

    base = shared_tmp("limbo-tui-restart-")
    server = EmbeddedServer(base / "pg")
    server.ensure_running()
    try:
        url = server.ensure_database("restart")
        from tests.dbos28 import create_schema

        # The 2.8 shape is quick to create and exercises the step-link path too.
        create_schema(url)
        rec = Recorder()
        feed = LiveFeed(url, FAST, rec.on_batch, rec.on_state)
        await feed.start()
        try:
            _write(
                url,
                "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('p', 'PENDING')",
            )
            await _wait_for(lambda: "p" in rec.graph.workflows)
            await asyncio.to_thread(server.stop)
            await _wait_for(lambda: rec.names()[-1] == "RECONNECTING")
            await asyncio.to_thread(server.ensure_running)
            # Written before the feed is back: only the resync can see these.
            _write(
                url,
                "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('p-1', 'ERROR')",
                "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, "
                "child_workflow_id) VALUES ('p', 1, 'child', 'p-1')",
                "UPDATE dbos.workflow_status SET recovery_attempts = 2 WHERE workflow_uuid = 'p'",
            )
            await _wait_for(lambda: rec.names()[-1] == "LIVE" and len(rec.names()) >= 3)
            _write(
                url, "UPDATE dbos.workflow_status SET status = 'SUCCESS' WHERE workflow_uuid = 'p'"
            )
            await _converges(rec, url)
        finally:
            await feed.stop()
        assert rec.names()[:2] == ["LIVE", "RECONNECTING"] and rec.names()[-1] == "LIVE"
        assert rec.graph.children("p") == ["p-1"]
        assert rec.graph.workflows["p"].status == "SUCCESS"
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _write(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)  # type: ignore[call-overload]


async def test_without_privilege_falls_back_to_polling(dbos_url: str, app: DbosApp) -> None:
    limited = make_limited_role(dbos_url)
    rec = Recorder()
    feed = LiveFeed(limited, FAST, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["POLLING"]
        assert "no privilege" in rec.states[0].detail and "every 0.2 s" in rec.states[0].detail
        parent = await _in_thread(lambda: app.run_parent(k=1, n=2))
        await _converges(rec, dbos_url)
    finally:
        await feed.stop()
    assert rec.graph.workflows[parent].status == "SUCCESS"
    assert len(rec.graph.children(parent)) == 1


async def test_read_only_never_installs(dbos_url: str) -> None:
    rec = Recorder()
    feed = LiveFeed(dbos_url, replace(FAST, read_only=True), rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["POLLING"] and "read-only" in rec.states[0].detail
        _write(
            dbos_url,
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('a', 'ENQUEUED')",
        )
        await _wait_for(lambda: "a" in rec.graph.workflows, 3)
    finally:
        await feed.stop()
    with psycopg.connect(dbos_url) as conn:
        assert conn.execute("SELECT to_regnamespace('limbo_tui')").fetchone() == (None,)


async def test_huge_workflow_id_converges_via_resync(dbos_url: str, app: DbosApp) -> None:
    rec = Recorder()
    feed = LiveFeed(dbos_url, FAST, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        huge = "h" * 10_000
        parent = await _in_thread(lambda: app.run_parent(k=1, n=1, workflow_id=huge))
        assert parent == huge
        await _converges(rec, dbos_url)
    finally:
        await feed.stop()
    assert rec.graph.workflows[huge].status == "SUCCESS"
    assert rec.graph.children(huge) == [f"{huge}-1"]
    assert rec.full_batches >= 2  # the resync notices brought new snapshots


def test_parse_payload() -> None:
    assert parse_payload("w|U|PENDING|a|b") == ("w", "U", "PENDING", "a|b")
    assert parse_payload("o|I|3|x") == ("o", "I", "3", "x")
    assert parse_payload("resync") is None
    assert parse_payload("o|I|x|y") is None


async def test_behind_a_transaction_pooler_the_feed_never_claims_live(
    pg_server: Any, dbos_url: str, app: DbosApp
) -> None:
    """Issue 11: behind PgBouncer (transaction mode) LISTEN does not reach us; the header
    said LIVE while the tree stayed empty. The self-addressed NOTIFY never comes back, so
    the feed polls, says why, and keeps up."""
    from limbo_tui.urls import database_name
    from tests import pgbouncer

    if not pgbouncer.available():
        pytest.skip("pgbouncer is not installed (.ci/run installs it)")
    with pgbouncer.PgBouncer(pg_server, database_name(dbos_url)) as bouncer:
        rec = Recorder()
        feed = LiveFeed(bouncer.url, FAST, rec.on_batch, rec.on_state)
        await feed.start()
        try:
            assert "LIVE" not in rec.names()
            assert rec.names() == ["POLLING"]
            assert "LISTEN does not reach us (a transaction pooler?)" in rec.states[0].detail
            parent = await _in_thread(lambda: app.run_parent(k=2, n=2))
            await _converges(rec, dbos_url)
        finally:
            await feed.stop()
    assert rec.graph.workflows[parent].status == "SUCCESS"
    assert "LIVE" not in rec.names()


async def test_another_build_replacing_the_triggers_is_not_a_removal(
    dbos_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10.7: a second build with another trigger version replaced them; the feed
    used to say "triggers were removed" (untrue) and would install its own again."""
    from limbo_tui.pg import triggers

    rec = Recorder()
    feed = LiveFeed(dbos_url, FAST, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["LIVE"]
        conn = await connect(dbos_url)
        try:
            monkeypatch.setattr(triggers, "VERSION_NUMBER", triggers.VERSION_NUMBER + 1)
            monkeypatch.setattr(
                triggers, "VERSION", f"limbo-tui notify triggers v{triggers.VERSION_NUMBER}"
            )
            await triggers.install(conn, "dbos")
            monkeypatch.undo()
            await _wait_for(lambda: rec.names()[-1] == "POLLING")
            detail = rec.states[-1].detail
            assert "replaced by another limbo-tui build" in detail and "removed" not in detail
            # The newer build's triggers stay: this one never takes them back.
            assert (
                await triggers.status(conn, "dbos")
            ).found_version == triggers.VERSION_NUMBER + 1
        finally:
            await conn.close()
    finally:
        await feed.stop()


async def test_in_a_burst_a_change_waits_only_for_the_rest_of_the_window(dbos_url: str) -> None:
    # One fetch per 2 s window at most: `a` is fetched at once (a lone change); `b`, 1.2 s
    # after that fetch began, waits for the rest of its window (0.8 s) and goes alone;
    # `c`, 0.7 s after b's fetch began, in the next. Waiting a whole window of its own
    # from its arrival, `b` was still held when `c` came and the two shared a fetch.
    settings = replace(FAST, feed=replace(FAST.feed, coalesce_ms=2000))
    fetched: list[set[str]] = []

    def on_batch(batch: FeedBatch) -> None:
        ids = {r.id for r in batch.rows if isinstance(r, Workflow)}
        if ids and not batch.full:  # a fetch (not a snapshot, nor a recount's totals)
            fetched.append(ids)

    rec = Recorder()
    feed = LiveFeed(dbos_url, settings, on_batch, rec.on_state)
    await feed.start()
    insert = "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('{}', 'ENQUEUED')"
    try:
        await asyncio.to_thread(_write, dbos_url, insert.format("a"))
        await _wait_for(lambda: bool(fetched), 5)
        await asyncio.sleep(1.2)
        await asyncio.to_thread(_write, dbos_url, insert.format("b"))
        await asyncio.sleep(1.5)
        await asyncio.to_thread(_write, dbos_url, insert.format("c"))
        await _wait_for(lambda: "c" in set().union(*fetched), 10)
    finally:
        await feed.stop()
    assert fetched == [{"a"}, {"b"}, {"c"}]
