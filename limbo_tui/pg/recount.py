"""When the live feed counts the database's totals again between snapshots.

The graph follows the snapshot's Totals row by row, exactly, except for a row it never
loaded that existed at the count (a dequeued row of a partly loaded backlog, a resumed old
workflow, a deletion by retention): which group it left cannot be told from the row. Only
then does the feed count again (queries.count_totals: partial indexes plus one count of the
table), at most once every MIN_INTERVAL_S, so a draining backlog of 500k rows costs one
count a second, and a quiet database none.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable

import asyncpg

from limbo_tui.backlog import needs_recount
from limbo_tui.model import Row, Totals, Workflow
from limbo_tui.pg import queries

MIN_INTERVAL_S = 1.0


class Recount:
    def __init__(self) -> None:
        self._counted_at_ms: int | None = None
        self._due = False
        self._last = 0.0
        # The parents the snapshot loaded by their first children: counted again too.
        self._parents: tuple[str, ...] = ()

    def saw_snapshot(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if isinstance(row, Totals):
                self._counted_at_ms = row.counted_at_ms
                self._parents = tuple(f.parent_id for f in row.families)
        self._due = False
        self._last = time.monotonic()

    def saw_batch(
        self, arrived: Iterable[Workflow], removed_unknown: int, known: Container[str]
    ) -> None:
        """Called with what a batch fetched, before `known` learns of it."""
        if not self._due and needs_recount(self._counted_at_ms, arrived, removed_unknown, known):
            self._due = True

    async def rows(self, conn: asyncpg.Connection, schema: str) -> list[Row]:
        """A fresh Totals row when one is due and allowed now, else nothing."""
        if not self._due or time.monotonic() - self._last < MIN_INTERVAL_S:
            return []
        totals = await queries.count_totals(conn, schema, self._parents)
        self._counted_at_ms = totals.counted_at_ms
        self._due = False
        self._last = time.monotonic()
        return [totals]
