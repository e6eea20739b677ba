"""The one place that tells a PostgreSQL system database from a SQLite one: the feed
(and its one contract, Feed), the one-off snapshot and the preflight check for a URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from limbo_tui.model import Row
from limbo_tui.pg.dbos_schema import SchemaVersion
from limbo_tui.server_clock import ServerClock
from limbo_tui.settings import Settings
from limbo_tui.urls import is_sqlite, sqlite_path

if TYPE_CHECKING:
    import sqlite3

    import asyncpg

    # Only named here: the UI imports this contract without loading asyncpg's feed.
    from limbo_tui.pg.feed import FeedBatch, FeedState

T = TypeVar("T")


class Feed(Protocol):
    """The one contract of a live feed: what the app, `watch` and `replay` use, and what
    LiveFeed (PostgreSQL), SqliteFeed, ReplayFeed and the UI tests' InTestFeed offer.
    A feed calls its on_batch(FeedBatch) / on_state(FeedState) on the caller's loop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def pause(self) -> None:
        """Before a suspend (SIGTSTP): hold nothing on the server that grows meanwhile."""
        ...

    async def resume(self) -> None: ...

    async def load_page(self, queue: str, older_than: tuple[int, str]) -> list[Row]:
        """The next page of a summarized backlog: the ENQUEUED workflows of `queue` older
        than (created_at, id), newest first, with their steps; raises with the reason
        when this feed cannot read one."""
        ...

    @property
    def pages_families(self) -> bool:
        """True: the snapshot loads the newest live families only (LiveFeed with
        page_live, the TUI's) and load_families reads the older ones; False: every live
        row is loaded (up to MAX_LIVE per status), and no line offers more."""
        ...

    async def load_families(self, parent: str | None = None) -> list[Row]:
        """The next page of older live families with their steps, or of `parent`'s
        children (a parent its snapshot loaded by its first children: Totals.families)
        with their own families ([] when none is left); raises with the reason when this
        feed cannot read one."""
        ...

    async def install_triggers(self, on_wait: Callable[[str], None] | None = None) -> str:
        """Live push, after the user's confirm: the one line to show; raises LimboError
        with the reason when it cannot be had."""
        ...


# (on_batch, on_state) -> a feed not yet started: how the app is given its feed.
FeedFactory = Callable[[Callable[["FeedBatch"], None], Callable[["FeedState"], None]], Feed]


def make_feed(
    url: str,
    settings: Settings,
    on_batch: Callable[[FeedBatch], None],
    on_state: Callable[[FeedState], None],
    *,
    revive: Callable[[], None] | None = None,
    disk_problem: Callable[[], str | None] | None = None,
    server_clock: ServerClock | None = None,
    page_live: bool = False,
) -> Feed:
    """server_clock: measured against the PostgreSQL server (a SQLite file's clock is
    this host's, so its offset stays 0). page_live (the TUI's): the snapshot loads the
    newest live families and the tree reads the older ones a page at a time
    (LiveFeed.load_families); `watch` keeps every live row."""
    if is_sqlite(url):
        from limbo_tui.sqlite.feed import SqliteFeed

        return SqliteFeed(url, settings, on_batch, on_state)
    from limbo_tui.pg.feed import LiveFeed

    return LiveFeed(
        url,
        settings,
        on_batch,
        on_state,
        revive=revive,
        disk_problem=disk_problem,
        server_clock=server_clock,
        page_live=page_live,
    )


async def _read_sqlite(url: str, read: Callable[[sqlite3.Connection], T]) -> T:
    """One read of a SQLite file on a connection of its own, off the event loop."""
    from limbo_tui.sqlite import reader

    def run() -> T:
        conn = reader.connect(sqlite_path(url))
        try:
            return read(conn)
        finally:
            conn.close()

    return await asyncio.to_thread(run)


async def _read_pg(url: str, schema: str, read: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """One read of a PostgreSQL database on a connection of its own (checked for the
    DBOS schema), closed whatever happens."""
    from limbo_tui.pg.connect import close_quietly, connect_checked

    conn = await connect_checked(url, schema)
    try:
        return await read(conn)
    finally:
        await close_quietly(conn)


async def read_snapshot(
    url: str, settings: Settings, server_clock: ServerClock | None = None
) -> list[Row]:
    """The bounded snapshot of the feed, once (for `snapshot`); measures server_clock on
    the same connection."""
    families = settings.feed.finished_families
    if is_sqlite(url):
        from limbo_tui.sqlite import reader

        return await _read_sqlite(
            url, lambda conn: reader.snapshot(conn, reader.probe(conn), families)
        )
    from limbo_tui.pg import queries

    schema = settings.database.schema

    async def read(conn: asyncpg.Connection) -> list[Row]:
        rows = await queries.snapshot(conn, schema, families)
        if server_clock is not None:
            await server_clock.measure(conn)
        return rows

    return await _read_pg(url, schema, read)


async def existing_ids(url: str, settings: Settings, ids: list[str]) -> set[str]:
    """Which of these workflow ids still have a row (one read; for `watch` after a resync)."""
    if is_sqlite(url):

        def read_file(conn: sqlite3.Connection) -> set[str]:
            marks = ", ".join("?" for _ in ids)
            sql = f"SELECT workflow_uuid FROM workflow_status WHERE workflow_uuid IN ({marks})"
            return {row[0] for row in conn.execute(sql, ids)}

        return await _read_sqlite(url, read_file)
    from limbo_tui.pg import queries

    schema = settings.database.schema

    async def read(conn: asyncpg.Connection) -> set[str]:
        return {wf.id for wf in await queries.fetch_workflows(conn, schema, ids)}

    return await _read_pg(url, schema, read)


def preflight(url: str, schema: str) -> SchemaVersion:
    """Fail before the screen opens, as one line, when the database cannot be used; the
    database's DBOS schema version otherwise."""
    if is_sqlite(url):
        from limbo_tui.sqlite import reader

        reader.connect(sqlite_path(url)).close()
        # SQLite's migrations are numbered apart from PostgreSQL's, which the schema table
        # maps to releases: no version is claimed (and SQLite is read-only anyway).
        return SchemaVersion(None)
    from limbo_tui.pg.dbos_schema import read_with_asyncpg

    return asyncio.run(_read_pg(url, schema, lambda conn: read_with_asyncpg(conn, schema)))
