"""SQLite system databases (dbos 3.x's default, `sqlite:///app.sqlite`), with a real DBOS
application writing the file: the live tree, `snapshot`, `watch`, dbos-config.yaml's
default, read-only, and an application that never waits on limbo-tui."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limbo_tui.feeds import make_feed, read_snapshot
from limbo_tui.model import Step, WorkflowGraph
from limbo_tui.settings import Settings
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.urls import resolve
from limbo_tui.worker import create_worker
from tests.faults_support import clean_env, limbo_cmd, until
from tests.watch_process import Watch

APP = Path(__file__).with_name("sqlite_app.py")
ROOT = APP.parent.parent


class SqliteApp:
    """tests/sqlite_app.py in a process of its own; one experiment per go()."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, path: Path, experiments: int) -> SqliteApp:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(APP), str(path), str(experiments),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=str(ROOT),
        )  # fmt: skip
        return cls(proc)

    async def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        assert raw, "the application ended early"
        obj: dict[str, Any] = json.loads(raw)
        self.lines.append(obj)
        assert "error" not in obj, obj
        return obj

    async def go(self) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        return str((await self.line())["started"])

    async def finish(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        out, err = await asyncio.wait_for(self.proc.communicate(), 120)
        self.lines += [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        return int(self.proc.returncode or 0), err.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


def _prepare(tmp_path: Path) -> Path:
    """The file as DBOS creates it on first launch (its own migrations)."""
    path = tmp_path / "app.sqlite"
    done = subprocess.run(
        [sys.executable, str(APP), str(path), "0"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def _family_done(graph: WorkflowGraph, parent: str) -> bool:
    wf = graph.workflows.get(parent)
    if wf is None or wf.status != "SUCCESS":
        return False
    children = [c for c in graph.children(parent) if c in graph.workflows]
    if len(children) != 2:
        return False
    for child in children:
        steps = [s for s in graph.steps.get(child, {}).values() if isinstance(s, Step)]
        if graph.workflows[child].status != "SUCCESS" or len(steps) != 3:
            return False
    return True


async def test_seed_rows_appear_live_and_the_app_never_waits(tmp_path: Path) -> None:
    path = _prepare(tmp_path)
    url = resolve(f"sqlite:///{path}", "test", {})
    settings = Settings(read_only=True)
    worker = create_worker("none", url, settings)
    app = LimboApp(
        settings,
        f"SQLITE {path}",
        feed_factory=lambda on_batch, on_state: make_feed(url, settings, on_batch, on_state),
        worker=worker,
        actions=worker.actions,
    )
    writer = await SqliteApp.start(path, 3)
    try:
        async with app.run_test(size=(110, 30)):
            header = app.query_one(StatusHeader)
            await until(lambda: header.feed_state == "LIVE", 30, "the feed LIVE")
            assert "SQLITE" in header.database
            shown = str(header.render())
            assert "feed LIVE SQLITE via" in shown and "via notify" not in shown, shown
            for _ in range(3):
                parent = await writer.go()
                # The parent's row is committed before start_workflow returns: it must
                # show up while the experiment still runs, not only at its end.
                await until(lambda p=parent: p in app.graph.workflows, 30, "the parent")
                assert (await writer.line())["status"] == "SUCCESS"
                await until(lambda p=parent: _family_done(app.graph, p), 30, "the family")
            code, err = await writer.finish()
            fresh = WorkflowGraph()
            fresh.replace_all(await read_snapshot(url, settings))
            assert set(app.graph.workflows) == set(fresh.workflows)
            assert {k: w.status for k, w in app.graph.workflows.items()} == {
                k: w.status for k, w in fresh.workflows.items()
            }
    finally:
        writer.kill()
    assert code == 0, err
    for needle in ("database is locked", "SQLITE_BUSY", "OperationalError"):
        assert needle not in err, err


@pytest.mark.parametrize(
    ("journal", "watch"), [("delete", "inotify"), ("wal", "inotify"), ("delete", "data_version")]
)
async def test_a_writer_with_a_short_busy_timeout_never_waits_on_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: str, watch: str
) -> None:
    """An application connection that waits only 100 ms for a lock commits 400 times while
    the feed follows every commit: none of its writes fails, and the feed sees them all;
    in DBOS's rollback-journal mode and in WAL mode, with inotify and without it."""
    from limbo_tui.pg.feed import FeedBatch, FeedState
    from limbo_tui.sqlite import inotify

    path = _prepare(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal}")  # the application's choice
    if watch == "data_version":
        monkeypatch.setattr(inotify, "open_watch", lambda *_: None)  # as off Linux
    url = resolve(f"sqlite:///{path}", "test", {})
    graph = WorkflowGraph()
    states: list[FeedState] = []

    def on_batch(batch: FeedBatch) -> None:
        if batch.full:
            graph.replace_all(batch.rows)
        else:
            graph.apply(batch.rows)

    feed = make_feed(url, Settings(read_only=True), on_batch, states.append)
    await feed.start()
    errors: list[str] = []

    def write() -> None:
        conn = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            for i in range(200):
                for sql, args in (
                    ("INSERT INTO workflow_status (workflow_uuid, status, name) "
                     "VALUES (?, 'PENDING', 'job')", (f"w{i}",)),
                    ("INSERT INTO operation_outputs (workflow_uuid, function_id, function_name) "
                     "VALUES (?, 0, 'step')", (f"w{i}",)),
                ):  # fmt: skip
                    try:
                        conn.execute(sql, args)
                    except sqlite3.OperationalError as exc:
                        errors.append(str(exc))
        finally:
            conn.close()

    try:
        await asyncio.to_thread(write)
        await until(lambda: len(graph.workflows) == 200, 30, "every row")
        await until(lambda: all(graph.steps.get(f"w{i}") for i in range(200)), 30, "steps")
    finally:
        await feed.stop()
    assert errors == []
    assert states[0].state == "LIVE" and states[0].detail.startswith("SQLITE via")
    if sys.platform.startswith("linux"):
        assert states[0].detail.startswith(f"SQLITE via {watch}")


def _cli(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in clean_env(HOME=str(tmp_path)).items() if not k.startswith("PG")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    return subprocess.run(
        limbo_cmd(*args), capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_snapshot_and_dbos_config_default_and_errors(tmp_path: Path) -> None:
    path = _prepare(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO workflow_status (workflow_uuid, status, name) "
            "VALUES ('sq-1', 'PENDING', 'job')"
        )
    snap = _cli(tmp_path, "snapshot", "--json", "--db-url", "sqlite:///app.sqlite")
    assert snap.returncode == 0, snap.stderr
    doc = json.loads(snap.stdout)
    assert [w["id"] for w in doc["workflows"]] == ["sq-1"]
    # SQLite system databases are DBOS 3.x's: diagnoses follow 3.x's behaviour.
    assert doc["release"] == "3.x"
    # dbos-config.yaml with only a name: DBOS's default, sqlite:///<name>.sqlite.
    (tmp_path / "dbos-config.yaml").write_text("name: app\nlanguage: python\n")
    from_yaml = _cli(tmp_path, "snapshot")
    assert from_yaml.returncode == 0, from_yaml.stderr
    assert "sq-1"[:8] in from_yaml.stdout and str(path) in from_yaml.stdout
    assert not (tmp_path / "data").exists(), "the embedded default was started"
    missing = _cli(tmp_path, "snapshot", "--db-url", "sqlite:///nope.sqlite")
    assert missing.returncode == 1 and "nope.sqlite does not exist" in missing.stderr
    assert not (tmp_path / "nope.sqlite").exists(), "reading must not create the file"
    (tmp_path / "other.db").write_bytes(b"")
    foreign = _cli(tmp_path, "snapshot", "--db-url", "sqlite:///other.db")
    assert foreign.returncode == 1 and "has no DBOS tables" in foreign.stderr
    triggers = _cli(tmp_path, "triggers", "install", "--db-url", "sqlite:///app.sqlite")
    assert triggers.returncode == 2 and "SQLite has no triggers" in triggers.stderr
    status = _cli(tmp_path, "triggers", "status", "--db-url", "sqlite:///app.sqlite")
    assert status.returncode == 0 and "watches the file itself" in status.stdout
    for proc in (missing, foreign, triggers):
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_watch_follows_the_file(tmp_path: Path) -> None:
    path = _prepare(tmp_path)
    env = {k: v for k, v in clean_env(HOME=str(tmp_path)).items() if not k.startswith("PG")}
    with Watch("--db-url", f"sqlite:///{path}", cwd=tmp_path, env=env, guard_s=90) as watch:
        first = watch.line()
        assert first["type"] == "feed" and first["state"] == "LIVE", first
        assert "SQLITE" in first.get("detail", ""), first
        with sqlite3.connect(path) as conn:
            conn.execute(
                "INSERT INTO workflow_status (workflow_uuid, status, name) "
                "VALUES ('sq-live', 'ENQUEUED', 'job')"
            )
        line = watch.next("workflow")
        assert line["workflow"]["id"] == "sq-live" and line["op"] == "insert"
        watch.stop()


def test_sqlite_is_read_only_by_default(tmp_path: Path) -> None:
    """SQLite has one writer at a time and the file is the application's: no worker, no
    actions, whatever the worker mode asked for."""
    from limbo_tui.config import Overrides, load_settings

    path = _prepare(tmp_path)
    settings = load_settings(Overrides(db_url=f"sqlite:///{path}", worker="thread"), {})
    assert settings.read_only


def test_actions_only_with_read_write_then_through_dbos_client(tmp_path: Path) -> None:
    """Read-only by default; with --read-write, cancel / resume / fork / send go through
    DBOS's own client on the SQLite file (the worker stays off: it would be a second
    writer of the application's file)."""
    from limbo_tui.config import Overrides, load_settings
    from limbo_tui.worker.actions import Actions

    path = _prepare(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO workflow_status (workflow_uuid, status, name, queue_name) "
            "VALUES (?, ?, 'job', ?)",
            [("sq-enq", "ENQUEUED", "q"), ("sq-pend", "PENDING", None)],
        )

    def status(wid: str) -> str:
        with sqlite3.connect(path) as conn:
            return str(conn.execute(
                "SELECT status FROM workflow_status WHERE workflow_uuid = ?", (wid,)
            ).fetchone()[0])  # fmt: skip

    url = f"sqlite:///{path}"
    default = load_settings(Overrides(db_url=url, worker="thread"), {})
    assert default.read_only and default.worker.mode == "none"
    refused = Actions(default.database.url or "", default).cancel("sq-enq")
    assert not refused.ok and "read-only" in refused.message
    assert status("sq-enq") == "ENQUEUED"

    allowed = load_settings(Overrides(db_url=url, worker="thread", read_write=True), {})
    assert not allowed.read_only and allowed.worker.mode == "none"
    actions = Actions(allowed.database.url or "", allowed)
    try:
        cancelled = actions.cancel("sq-enq")
        assert cancelled.ok, cancelled.message
        assert status("sq-enq") == "CANCELLED"
        resumed = actions.resume("sq-pend")
        assert resumed.ok, resumed.message
        assert status("sq-pend") == "ENQUEUED"
        forked = actions.fork("sq-pend", 1)
        assert forked.ok, forked.message
        sent = actions.send("sq-pend", None, "hello")
        assert sent.ok, sent.message
    finally:
        actions.close()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_real_command_in_a_terminal_on_a_sqlite_file(tmp_path: Path) -> None:
    """`limbo-tui` in the working directory of a DBOS app whose dbos-config.yaml names only
    the app: it watches app.sqlite, says SQLITE, shows a new row live, quits cleanly."""
    from tests.test_e2e_tmux import COMMAND
    from tests.tmux_support import Terminal

    _prepare(tmp_path)
    (tmp_path / "dbos-config.yaml").write_text("name: app\n")
    term = Terminal(f"limbo-sqlite-{os.getpid()}", 110, 30)
    try:
        env = {"TERM": "xterm-256color", "HOME": str(tmp_path), "PATH": clean_env()["PATH"]}
        term.start(f"sh -c 'cd {tmp_path} && exec {COMMAND}'", env)
        term.wait_for(lambda s: "feed LIVE SQLITE via" in s and "db SQLITE" in s, 60, "LIVE")
        with sqlite3.connect(tmp_path / "app.sqlite") as conn:
            conn.execute(
                "INSERT INTO workflow_status (workflow_uuid, status, name) "
                "VALUES ('sq-term', 'ENQUEUED', 'terminal_job')"
            )
        term.wait_for(lambda s: "terminal_job" in s, 30, "the new row on screen")
        term.keys("q")
        screen = term.wait_for(lambda s: "LIMBO-EXIT=" in s, 20, "limbo-tui to exit")
        assert "LIMBO-EXIT=0" in screen
    finally:
        term.kill()
    assert not (tmp_path / ".local" / "share" / "limbo-tui").exists(), "embedded started"


async def test_totals_stay_true_when_a_row_beyond_the_snapshot_is_dequeued(
    tmp_path: Path,
) -> None:
    """A backlog larger than a snapshot loads (MAX_LIVE ENQUEUED rows and one more): the
    oldest, never loaded, is dequeued. The graph cannot place it in the totals by itself;
    the feed counts again, and the totals say 1 PENDING and MAX_LIVE ENQUEUED."""
    from limbo_tui.backlog import FIRST_LOADED
    from limbo_tui.pg.feed import FeedBatch
    from limbo_tui.pg.queries import MAX_LIVE

    path = _prepare(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at) "
            "VALUES (?, 'ENQUEUED', 'job', 'q', ?)",
            [(f"b{i:06d}", 1_000 + i) for i in range(MAX_LIVE + 1)],
        )
    graph = WorkflowGraph()

    def on_batch(batch: FeedBatch) -> None:
        if batch.full:
            graph.replace_all(batch.rows)
        else:
            graph.apply(batch.rows)

    feed = make_feed(resolve(f"sqlite:///{path}", "t", {}), Settings(read_only=True), on_batch,
                     lambda s: None)  # fmt: skip
    await feed.start()
    try:
        assert "b000000" not in graph.workflows  # the oldest is beyond the snapshot
        # A backlog the tree summarizes: only its first pages are loaded, as on Postgres.
        loaded = sum(1 for w in graph.workflows.values() if w.status == "ENQUEUED")
        assert loaded == FIRST_LOADED
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE workflow_status SET status = 'PENDING', executor_id = 'e1' "
                "WHERE workflow_uuid = 'b000000'"
            )

        def true_totals() -> bool:
            t = graph.totals
            return (
                t is not None
                and t.exact
                and t.unfinished("PENDING") == 1
                and t.unfinished("ENQUEUED") == MAX_LIVE
            )

        await until(lambda: "b000000" in graph.workflows, 30, "the dequeued row")
        await until(true_totals, 30, "the totals counted again")
    finally:
        await feed.stop()


async def test_a_backlog_page_is_read_from_the_file_in_the_snapshot_order(
    tmp_path: Path,
) -> None:
    """The next page of a summarized backlog: the ENQUEUED rows of the queue older than
    (created_at, id), newest first, ties by id; other queues and statuses left out."""
    path = _prepare(tmp_path)
    rows = [(f"b{i}", "ENQUEUED", "q", created) for i, created in enumerate([10, 20, 20, 30, 40])]
    rows += [("other-q", "ENQUEUED", "r", 15), ("done", "SUCCESS", "q", 25)]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at) "
            "VALUES (?, ?, 'job', ?, ?)",
            rows,
        )
    feed = make_feed(resolve(f"sqlite:///{path}", "t", {}), Settings(read_only=True),
                     lambda b: None, lambda s: None)  # fmt: skip
    await feed.start()
    try:
        got = await feed.load_page("q", (30, "b3"))
        assert [r.id for r in got] == ["b2", "b1", "b0"]
        # Between two rows of the same instant: only the one after it in the order.
        got = await feed.load_page("q", (20, "b2"))
        assert [r.id for r in got] == ["b1", "b0"]
    finally:
        await feed.stop()


def test_the_registry_is_read_from_the_file_as_from_postgres(tmp_path: Path) -> None:
    from limbo_tui.sqlite import reader

    path = _prepare(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO queues (name, concurrency) VALUES ('bounded-q', 2)")
        conn.execute(
            "INSERT INTO application_versions (version_id, version_name, version_timestamp) "
            "VALUES ('a', 'v-old', 1), ('b', 'v-new', 9000000000000)"
        )
    conn = reader.connect(path)
    try:
        registry = reader.read_registry(conn)
    finally:
        conn.close()
    assert registry.has_queue_registry and registry.has_version_registry
    assert {q.name: q.concurrency for q in registry.queues}["bounded-q"] == 2
    names = [v.name for v in registry.versions]
    assert names[0] == "v-new" and names.index("v-new") < names.index("v-old")
