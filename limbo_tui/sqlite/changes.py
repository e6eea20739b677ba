"""What changed in a SQLite system database, noticed from the file, never by polling
the tables.

A commit by any other connection changes `PRAGMA data_version` on ours (a read of the
file header's change counter, microseconds under a SHARED lock). inotify on the file, its
-journal and its -wal says when to look (a safety look every SAFETY_S all the same); where
inotify is missing, data_version is read every FALLBACK_S. Only after a commit is seen
are the tables read, and only what can have changed:
  - workflows inserted since the last look (rowid above the last seen; an UPDATE keeps
    the rowid);
  - the version line (status, updated_at, recovery attempts, executor, queue, dedup id)
    of every live workflow (PENDING / ENQUEUED / DELAYED, through DBOS's partial indexes):
    a dispatch, a recovery, a finish (it leaves the set), a resume (it enters it);
  - workflows completed since the last look (the completed_at index);
  - step rows inserted since the last look (operation_outputs rowid).
A deleted or edited finished row is caught by the feed's periodic full snapshot.

A ChangeSource like the PostgreSQL ones (pg/sources: start / changes / prove / describe
/ close, and their `Changes`): the feed turns Changes into fetches. Its blocking reads run
through `run`, the feed's one SQLite thread, which alone uses the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from limbo_tui.model import LIVE_STATUSES
from limbo_tui.pg.queries import MAX_LIVE, Columns
from limbo_tui.pg.sources import Changes, SourceFailed
from limbo_tui.sqlite import inotify, reader

# With inotify, still look this often (a missed event must not freeze the screen).
SAFETY_S = 1.0
# Without inotify: how often data_version is read.
FALLBACK_S = 0.1
# How far behind the newest completed_at a look goes again (late commits).
LOOKBACK_MS = 2_000
# More new rows than this in one look: take a fresh snapshot instead.
MAX_RECENT = 20_000


Run = Callable[..., Awaitable[Any]]


class SqliteChangeSource:
    kind = "sqlite"

    def __init__(self, conn: sqlite3.Connection, cols: Columns, path: Path, run: Run) -> None:
        self._run = run
        self._conn = conn
        self._cols = cols
        self._path = path
        self._wake = asyncio.Event()
        self._watch: inotify.FileWatch | None = None
        self._version = -1
        self._ws_rowid = 0
        self._oo_rowid = 0
        self._completed_mark = 0
        self._live: dict[str, str] = {}
        self._recent: dict[str, str] = {}

    # -- ChangeSource ------------------------------------------------------------------
    async def start(self) -> None:
        """Marks before the snapshot, then the file watch (on the loop)."""
        await self._run(self._start_blocking)
        self._watch = inotify.open_watch(self._path, self._wake.set)

    async def changes(self, timeout: float) -> Changes:
        await self._wait(timeout)
        found: Changes = await self._run(self._look_blocking)
        return found

    async def prove(self) -> None:
        """A read of the file's change counter: the file is there and readable."""
        try:
            await self._run(self._data_version)
        except sqlite3.Error as exc:
            raise SourceFailed(f"cannot read {self._path}: {exc}") from None

    def describe(self) -> str:
        how = "inotify" if self._watch is not None else f"data_version every {FALLBACK_S:g} s"
        return f"SQLITE via {how}"

    async def close(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()

    # -- blocking parts, on the feed's SQLite thread --------------------------------------
    def _start_blocking(self) -> None:
        """Marks before the snapshot: whatever commits after shows at the first look."""
        with reader.read(self._conn):
            self._version = self._data_version()
            self._ws_rowid = self._scalar("SELECT coalesce(max(rowid), 0) FROM workflow_status")
            self._oo_rowid = self._scalar("SELECT coalesce(max(rowid), 0) FROM operation_outputs")
            if self._cols.has_completed_at:
                self._completed_mark = self._scalar(
                    "SELECT coalesce(max(completed_at), 0) FROM workflow_status "
                    "WHERE completed_at IS NOT NULL"
                )
            self._live = self._live_lines()

    async def _wait(self, timeout: float) -> None:
        """Until the file may have changed (or `timeout`)."""
        step = SAFETY_S if self._watch is not None else FALLBACK_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), min(timeout, step))
        self._wake.clear()

    def _look_blocking(self) -> Changes:
        """Changes since the last look; empty (and nothing read) without a commit."""
        with reader.read(self._conn):
            version = self._data_version()
            if version == self._version:
                return Changes()
            self._version = version
            return self._delta()

    # -- reads -------------------------------------------------------------------------
    def _data_version(self) -> int:
        return self._scalar("PRAGMA data_version")

    def _scalar(self, sql: str, *args: object) -> int:
        row = self._conn.execute(sql, args).fetchone()
        return int(row[0] or 0) if row is not None else 0

    def _line_sql(self) -> str:
        w = self._cols.workflow
        parts = [
            f"coalesce(CAST({c} AS TEXT), '')" if c in w else "''"
            for c in (
                "status",
                "updated_at",
                "recovery_attempts",
                "executor_id",
                "queue_name",
                "deduplication_id",
            )
        ]
        return " || '|' || ".join(parts)

    def _live_lines(self) -> dict[str, str]:
        line = self._line_sql()
        out: dict[str, str] = {}
        for status in LIVE_STATUSES:
            for wid, v in self._conn.execute(
                f"SELECT workflow_uuid, {line} FROM workflow_status WHERE status = ? LIMIT ?",
                (status, MAX_LIVE),
            ):
                out[wid] = v
        return out

    def _delta(self) -> Changes:
        out = Changes()
        new = self._conn.execute(
            "SELECT rowid, workflow_uuid FROM workflow_status WHERE rowid > ? ORDER BY rowid "
            "LIMIT ?",
            (self._ws_rowid, MAX_RECENT + 1),
        ).fetchall()
        if len(new) > MAX_RECENT:
            out.resync = True
        for rowid, wid in new:
            out.workflows.add(wid)
            out.all_steps.add(wid)
            self._ws_rowid = max(self._ws_rowid, int(rowid))
        live = self._live_lines()
        for wid, line in live.items():
            if self._live.get(wid) != line:
                out.workflows.add(wid)
        left = self._live.keys() - live.keys()
        out.workflows |= left
        out.all_steps |= left
        self._live = live
        if self._cols.has_completed_at:
            line = self._line_sql()
            recent: dict[str, str] = {}
            for wid, v, done in self._conn.execute(
                f"SELECT workflow_uuid, {line}, completed_at FROM workflow_status "
                "WHERE completed_at >= ? ORDER BY completed_at LIMIT ?",
                (max(0, self._completed_mark - LOOKBACK_MS), MAX_RECENT + 1),
            ):
                recent[wid] = v
                self._completed_mark = max(self._completed_mark, int(done))
                if self._recent.get(wid) != v:
                    out.workflows.add(wid)
            self._recent = recent
        steps = self._conn.execute(
            "SELECT rowid, workflow_uuid FROM operation_outputs WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (self._oo_rowid, MAX_RECENT + 1),
        ).fetchall()
        if len(steps) > MAX_RECENT:
            out.resync = True
        for rowid, wid in steps:
            out.all_steps.add(wid)
            self._oo_rowid = max(self._oo_rowid, int(rowid))
        return out
