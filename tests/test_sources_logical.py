"""Logical decoding: a temporary slot sees every change of a DBOS run, the header shows
the WAL it retains, a missing prerequisite is one line, and kill -9 leaves no slot."""

from __future__ import annotations

import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.pg.sources.logical import parse_change
from limbo_tui.pg.sources.pgoutput import parse_message, publication_sql
from limbo_tui.settings import FeedSettings, Settings
from tests.own_server import own_server
from tests.pg_support import fresh_database
from tests.test_feed import DbosApp, Recorder, _converges, _in_thread
from tests.test_triggers import _traces
from tests.watch_process import Watch

LOGICAL = Settings(feed=FeedSettings(source="logical", heartbeat_s=1, poll_interval_s=0.3))


@pytest.fixture(scope="module")
def logical_server() -> Iterator[EmbeddedServer]:
    """A server of its own with wal_level = logical (the shared one has replica)."""
    system = {"wal_level": "logical", "max_slot_wal_keep_size": "256MB"}
    with own_server("limbo-tui-logical-", pg18=True, system=system) as server:
        yield server


@pytest.fixture
def logical_url(logical_server: EmbeddedServer) -> str:
    return logical_server.url(fresh_database(logical_server))


def _watch_logical(url: str, tmp_path: Path, feed: str = "heartbeat_s = 1\n") -> Watch:
    config = tmp_path / "config.toml"
    config.write_text(f'[feed]\nsource = "logical"\n{feed}')
    return Watch("--config", str(config), "--db-url", url, cwd=tmp_path, stderr=subprocess.DEVNULL)


def _slots(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")]


async def test_logical_source_sees_every_change_of_a_dbos_run(logical_url: str) -> None:
    rec = Recorder()
    feed = LiveFeed(logical_url, LOGICAL, rec.on_batch, rec.on_state)
    with DbosApp(logical_url) as app:
        await feed.start()
        try:
            assert rec.names() == ["LIVE"], rec.states
            assert rec.states[0].source.startswith("via logical, slot retains ")
            assert len(_slots(logical_url)) == 1
            parent = await _in_thread(lambda: app.run_parent(k=3, n=3))
            await _converges(rec, logical_url)
        finally:
            await feed.stop()
    assert rec.full_batches == 1  # every change came through the slot
    assert rec.statuses[parent][-1] == "SUCCESS"
    assert len(rec.graph.children(parent)) == 3
    for child in rec.graph.children(parent):
        assert rec.statuses[child][-1] == "SUCCESS"
        assert rec.graph.step_counts(child).steps_completed == 3
    # Nothing created in the database, and the temporary slot went with the session.
    assert _traces(logical_url)["schema"] == 0
    for _ in range(100):
        if not _slots(logical_url):
            break
        time.sleep(0.05)
    assert _slots(logical_url) == []


async def test_over_a_users_publication_it_sees_every_change_of_a_dbos_run(
    logical_url: str,
) -> None:
    """pgoutput over the publication the user made (key columns only): the same changes."""
    with psycopg.connect(logical_url, autocommit=True) as conn:
        conn.execute(publication_sql("limbo_tui", "dbos"))
    settings = replace(LOGICAL, feed=replace(LOGICAL.feed, publication="limbo_tui"))
    rec = Recorder()
    feed = LiveFeed(logical_url, settings, rec.on_batch, rec.on_state)
    with DbosApp(logical_url) as app:
        await feed.start()
        try:
            assert rec.names() == ["LIVE"], rec.states
            assert rec.states[0].source.startswith("via logical (limbo_tui), slot retains ")
            parent = await _in_thread(lambda: app.run_parent(k=2, n=3))
            await _converges(rec, logical_url)
        finally:
            await feed.stop()
    assert rec.full_batches == 1  # every change came through the slot
    assert rec.statuses[parent][-1] == "SUCCESS"
    for child in rec.graph.children(parent):
        assert rec.statuses[child][-1] == "SUCCESS"
        assert rec.graph.step_counts(child).steps_completed == 3


async def test_a_missing_publication_is_one_line_with_the_statement(logical_url: str) -> None:
    settings = replace(LOGICAL, feed=replace(LOGICAL.feed, publication="nowhere"))
    rec = Recorder()
    feed = LiveFeed(logical_url, settings, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["POLLING"]
        detail = rec.states[0].detail
        assert "publication nowhere does not cover dbos.workflow_status" in detail
        assert 'CREATE PUBLICATION "nowhere" FOR TABLE "dbos".workflow_status' in detail
        assert "\n" not in detail
    finally:
        await feed.stop()
    assert _traces(logical_url)["schema"] == 0  # limbo-tui created nothing itself


def test_kill_9_leaves_no_slot_behind(logical_url: str, tmp_path: Path) -> None:
    with _watch_logical(logical_url, tmp_path, feed="") as watch:
        line = watch.next("feed")
        assert line["state"] == "LIVE", line
        assert len(_slots(logical_url)) == 1
        watch.proc.send_signal(signal.SIGKILL)
        watch.proc.wait()
    deadline = time.monotonic() + 30
    while _slots(logical_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _slots(logical_url) == []


@contextmanager
def _keep_wal(server: EmbeddedServer, size: str) -> Iterator[None]:
    """max_slot_wal_keep_size = size on this worker's logical server, for one test."""
    admin = server.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{size}'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '256MB'")
            conn.execute("SELECT pg_reload_conf()")


def _slot_rows(url: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(url) as conn:
        return [
            (r[0], r[1], int(r[2] or 0))
            for r in conn.execute(
                "SELECT slot_name, wal_status, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                "FROM pg_replication_slots"
            )
        ]


def test_a_stalled_logical_watch_never_grows_the_wal_past_its_bound(
    logical_server: EmbeddedServer, logical_url: str, tmp_path: Path
) -> None:
    """SIGSTOP of `watch` on a slot: the application's writes all succeed, the server
    invalidates the slot at max_slot_wal_keep_size instead of keeping WAL for it, and after
    SIGCONT watch says so in one line, opens a new slot and follows the writes again."""
    with _keep_wal(logical_server, "16MB"), _watch_logical(logical_url, tmp_path) as watch:
        live = watch.next("feed")
        assert live["state"] == "LIVE", live
        assert live["detail"].startswith("via logical, slot retains "), live
        assert live["detail"].endswith(" of 16.0 MB"), live  # the bound, in the header
        [(slot, _status, _retained)] = _slot_rows(logical_url)
        watch.proc.send_signal(signal.SIGSTOP)
        committed = 0
        with psycopg.connect(logical_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
                "VALUES ('stall', 'PENDING', 'writer')"
            )
            # ~64 kB of incompressible output per commit, until the server has let go
            # of the stopped reader's slot (a checkpoint invalidates it).
            for _ in range(40):
                for _ in range(100):
                    conn.execute(
                        "UPDATE dbos.workflow_status SET output = (SELECT encode(decode("
                        "string_agg(md5(random()::text), ''), 'hex'), 'base64') "
                        "FROM generate_series(1, 1500)), updated_at = updated_at + 1 "
                        "WHERE workflow_uuid = 'stall'"
                    )
                    committed += 1
                conn.execute("CHECKPOINT")
                rows = _slot_rows(logical_url)
                if not rows:
                    break
                # While it lasts, the slot holds no more than its bound and a segment.
                assert all(r[2] <= 40 * 1024 * 1024 for r in rows), rows
            assert _slot_rows(logical_url) == [], "the stopped reader's slot outlived its bound"
        assert committed >= 100  # every one of them committed while watch was stopped
        watch.proc.send_signal(signal.SIGCONT)
        lost = watch.next("feed")
        assert lost["state"] == "RECONNECTING", lost
        assert f"logical slot {slot} was invalidated by the server" in lost["detail"], lost
        assert "passed max_slot_wal_keep_size (16.0 MB)" in lost["detail"], lost
        assert "\n" not in lost["detail"]
        again = watch.next("feed")
        assert again["state"] == "LIVE", again
        assert [name for name, _, _ in _slot_rows(logical_url)] != [slot]
        assert len(_slot_rows(logical_url)) == 1  # a new slot, not the old one
        # And it follows the writes again.
        with psycopg.connect(logical_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
                "VALUES ('after-stall', 'ENQUEUED', 'writer')"
            )
        watch.workflow("after-stall")


async def test_without_wal_level_logical_it_polls_and_says_why(dbos_url: str) -> None:
    rec = Recorder()
    feed = LiveFeed(dbos_url, LOGICAL, rec.on_batch, rec.on_state)
    await feed.start()
    try:
        assert rec.names() == ["POLLING"]
        detail = rec.states[0].detail
        assert "logical decoding unavailable: wal_level is replica" in detail
        assert "\n" not in detail
    finally:
        await feed.stop()


def test_parse_test_decoding_lines() -> None:
    ws = parse_change(
        "table dbos.workflow_status: UPDATE: workflow_uuid[text]:'a''b' status[text]:'X'", "dbos"
    )
    assert ws is not None and ws.workflows == {"a'b"}
    oo = parse_change(
        "table dbos.operation_outputs: INSERT: workflow_uuid[text]:'w' function_id[integer]:4 "
        "output[text]:null",
        "dbos",
    )
    assert oo is not None and oo.steps == {("w", 4)}
    # Only the key is read: a value that looks like one (an output) is not taken for it.
    out = parse_change(
        "table dbos.workflow_status: UPDATE: workflow_uuid[text]:'k' "
        "output[text]:'workflow_uuid[text]:''other''''",
        "dbos",
    )
    assert out is not None and out.workflows == {"k"}
    # An UPDATE that changed the key names both rows.
    moved = parse_change(
        "table dbos.workflow_status: UPDATE: old-key: workflow_uuid[text]:'a' "
        "new-tuple: workflow_uuid[text]:'b' status[text]:'X'",
        "dbos",
    )
    assert moved is not None and moved.workflows == {"a", "b"}
    assert parse_change("table dbos.notifications: INSERT: x[text]:'y'", "dbos") is None
    assert parse_change("BEGIN", "dbos") is None


def _relation(relid: int, table: str, cols: list[str]) -> bytes:
    body = struct.pack(">i", relid) + b"dbos\0" + table.encode() + b"\0" + b"d"
    body += struct.pack(">h", len(cols))
    for c in cols:
        body += b"\1" + c.encode() + b"\0" + struct.pack(">ii", 25, -1)
    return b"R" + body


def _tuple(values: list[str | None]) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        out += b"n" if v is None else b"t" + struct.pack(">i", len(v.encode())) + v.encode()
    return out


def test_parse_pgoutput_messages() -> None:
    rels: dict[int, tuple[str, str, list[str]]] = {}
    assert parse_message(_relation(1, "workflow_status", ["workflow_uuid"]), rels, "dbos") is None
    cols = ["workflow_uuid", "function_id"]
    assert parse_message(_relation(2, "operation_outputs", cols), rels, "dbos") is None
    ws = parse_message(b"U" + struct.pack(">i", 1) + b"N" + _tuple(["a'b"]), rels, "dbos")
    assert ws is not None and ws.workflows == {"a'b"}
    oo = parse_message(b"I" + struct.pack(">i", 2) + b"N" + _tuple(["w", "4"]), rels, "dbos")
    assert oo is not None and oo.steps == {("w", 4)}
    gone = parse_message(b"D" + struct.pack(">i", 2) + b"K" + _tuple(["w", "5"]), rels, "dbos")
    assert gone is not None and gone.steps == {("w", 5)}
    # A truncate, or a change of a relation never described, cannot be told by ids.
    truncate = parse_message(b"T" + struct.pack(">ib", 1, 0) + struct.pack(">i", 1), rels, "dbos")
    assert truncate is not None and truncate.resync
    unknown = parse_message(b"I" + struct.pack(">i", 9) + b"N" + _tuple(["x"]), rels, "dbos")
    assert unknown is not None and unknown.resync
    assert parse_message(b"B" + bytes(20), rels, "dbos") is None
