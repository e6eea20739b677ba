"""SqliteFeed: LiveFeed's contract (pg/feed.py) for a DBOS SQLite system database.

start() opens the file read-only, takes the change source's marks, then the snapshot
(in that order: a commit in between is fetched again, never lost), and goes on in the
background: wait for the file to change, look at data_version, fetch what moved. Every
SQLite call runs on one thread of the feed's own, so a slow disk never stalls the
screen's loop, and the connection is only ever used from that thread.

A file that cannot be read any more (deleted, replaced, a disk error) makes the feed
RECONNECTING, then DOWN, while it tries again; it never writes anything to repair it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from limbo_tui.backlog import PAGE, needs_recount
from limbo_tui.errors import LimboError, one_line
from limbo_tui.model import Row, Totals, Workflow, WorkflowRemoved
from limbo_tui.pg.feed import (
    EventRate,
    FeedBatch,
    FeedState,
    FeedStateName,
    cancel_task,
    deliver,
    reopen_with_backoff,
)
from limbo_tui.pg.queries import Columns
from limbo_tui.pg.sources import Changes, SourceFailed
from limbo_tui.settings import Settings
from limbo_tui.sqlite import reader
from limbo_tui.sqlite.changes import SqliteChangeSource
from limbo_tui.urls import sqlite_path

# A full snapshot this often while commits happen (deleted or edited finished rows).
FULL_RESYNC_S = 30.0
# The totals are counted again at most this often (see _recount).
RECOUNT_EVERY_S = 1.0
T = TypeVar("T")


class SqliteFeed:
    def __init__(
        self,
        url: str,
        settings: Settings,
        on_batch: Callable[[FeedBatch], None],
        on_state: Callable[[FeedState], None],
        *,
        revive: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.settings = settings
        self._on_batch = on_batch
        self._on_state = on_state
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="limbo-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._cols: Columns | None = None
        self._source: SqliteChangeSource | None = None
        self._task: asyncio.Task[None] | None = None
        self._state: FeedState | None = None
        self._known: set[str] = set()
        # Per queue, the rows of its summarized backlog read page by page (load_page).
        self._opened: dict[str, int] = {}
        self._last_snapshot = 0.0
        self._rate = EventRate()
        # The totals are counted again (at most once a second) after a batch held a row
        # the graph cannot place by itself (backlog.needs_recount), as LiveFeed does.
        self._counted_at_ms: int | None = None
        self._recount_due = False
        self._last_count = 0.0

    @property
    def state(self) -> FeedState | None:
        return self._state

    def events_per_s(self) -> float:
        return self._rate.value()

    async def start(self) -> None:
        try:
            await self._open()
        except Exception as exc:
            await self._close()
            self._set_state("DOWN", one_line(exc))
            raise
        self._task = asyncio.get_running_loop().create_task(self._run(), name="limbo-sqlite")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_task(task)
        await self._close()
        self._pool.shutdown(wait=False)

    async def pause(self) -> None:
        return None  # nothing is held on the file between two looks

    async def resume(self) -> None:
        return None

    async def install_triggers(self, on_wait: Callable[[str], None] | None = None) -> str:
        # Never offered (a SQLite session is never told `offer`): each commit already
        # reaches the feed through inotify, and the file is opened read-only.
        raise LimboError("live push is for PostgreSQL: a SQLite file is followed as it changes")

    # Its snapshot loads every live row (up to MAX_LIVE per status): no page of families.
    pages_families = False

    async def load_families(self, parent: str | None = None) -> list[Row]:
        return []

    async def load_page(self, queue: str, older_than: tuple[int, str]) -> list[Row]:
        """The next page of a summarized backlog, read on the feed's own thread (after
        what it read before, before what it reads next)."""
        conn, cols = self._conn, self._cols
        if conn is None or cols is None:
            return []
        rows = await self._call(reader.backlog_page, conn, cols, queue, older_than, PAGE)
        read = {r.id for r in rows if isinstance(r, Workflow)}
        self._known |= read
        # Kept by every later snapshot, as on Postgres (LiveFeed._opened).
        self._opened[queue] = self._opened.get(queue, 0) + len(read)
        return rows

    # -- session -----------------------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _open(self) -> None:
        self._conn = await self._call(reader.connect, self.path)
        self._cols = await self._call(reader.probe, self._conn)
        self._source = SqliteChangeSource(self._conn, self._cols, self.path, self._call)
        await self._source.start()
        await self._snapshot()
        self._set_state("LIVE", self._source.describe())

    async def _close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            with contextlib.suppress(Exception):
                await source.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await self._call(conn.close)

    async def _snapshot(self) -> None:
        assert self._conn is not None and self._cols is not None
        rows = await self._call(
            reader.snapshot,
            self._conn,
            self._cols,
            self.settings.feed.finished_families,
            dict(self._opened),
        )
        self._known = {r.id for r in rows if isinstance(r, Workflow)}
        self._last_snapshot = self._last_count = time.monotonic()
        self._counted_at_ms = next(
            (r.counted_at_ms for r in rows if isinstance(r, Totals)), self._counted_at_ms
        )
        self._recount_due = False
        self._emit(FeedBatch(rows, full=True))

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (sqlite3.Error, OSError, LimboError, SourceFailed) as exc:
                await self._reopen(one_line(exc))

    async def _follow(self) -> None:
        assert self._source is not None
        while True:
            changes = await self._source.changes(FULL_RESYNC_S)
            if not changes:
                await self._recount()  # one that was due within the last second
                continue
            self._rate.add()
            if changes.resync or time.monotonic() - self._last_snapshot > FULL_RESYNC_S:
                await self._snapshot()
            else:
                await self._fetch(changes)
                await self._recount()
            self._report_rate()

    async def _fetch(self, changes: Changes) -> None:
        assert self._conn is not None and self._cols is not None
        conn, cols = self._conn, self._cols
        wanted = sorted(changes.workflows | {w for w in changes.all_steps if w not in self._known})

        def read() -> list[Row]:
            with reader.read(conn):
                found = reader.fetch_workflows(conn, cols, wanted)
                found_ids = {w.id for w in found}
                rows: list[Row] = list(found)
                rows.extend(WorkflowRemoved(wid) for wid in wanted if wid not in found_ids)
                step_ids = (changes.all_steps | (found_ids - self._known)) & (
                    found_ids | self._known
                )
                rows.extend(reader.fetch_steps(conn, cols, sorted(step_ids)))
            return rows

        rows = await self._call(read)
        arrived = [r for r in rows if isinstance(r, Workflow)]
        gone_unknown = sum(
            1 for r in rows if isinstance(r, WorkflowRemoved) and r.id not in self._known
        )
        if needs_recount(self._counted_at_ms, arrived, gone_unknown, self._known):
            self._recount_due = True
        present = {r.id for r in arrived}
        self._known |= present
        self._known -= {r.id for r in rows if isinstance(r, WorkflowRemoved)}
        if rows:
            self._emit(FeedBatch(rows, full=False))

    async def _recount(self) -> None:
        if not self._recount_due or time.monotonic() - self._last_count < RECOUNT_EVERY_S:
            return
        assert self._conn is not None and self._cols is not None
        conn, cols = self._conn, self._cols

        def count() -> Totals:
            with reader.read(conn):
                return reader.live_totals(conn, cols)

        totals = await self._call(count)
        self._counted_at_ms = totals.counted_at_ms
        self._recount_due = False
        self._last_count = time.monotonic()
        self._emit(FeedBatch([totals], full=False))

    async def _reopen(self, reason: str) -> None:
        await self._close()
        await reopen_with_backoff(
            reason,
            open_session=self._open,
            close=self._close,
            set_state=self._set_state,
            retry_on=(sqlite3.Error, OSError, LimboError),
        )

    # -- output ------------------------------------------------------------------------
    def _emit(self, batch: FeedBatch) -> None:
        deliver(self._on_batch, batch, "SqliteFeed on_batch")

    def _report_rate(self) -> None:
        if self._state is not None and self._state.state == "LIVE":
            rate = self._rate.shown()
            if rate != self._state.events_per_s:
                self._set_state("LIVE", self._state.detail, rate)

    def _set_state(self, state: FeedStateName, detail: str, rate: float = 0.0) -> None:
        source = self._source.describe() if state == "LIVE" and self._source else ""
        self._state = FeedState(state, detail, rate, source=source)
        deliver(self._on_state, self._state, "SqliteFeed on_state")
