"""Delta polling: no writes, no privileges, works through poolers, on replicas, on 2.8.

Each poll is one read-only query that touches only what can have changed:
  - live work (PENDING / ENQUEUED / DELAYED), one branch per status so each uses its
    partial or status index, as a narrow "version" line per row (status, updated_at,
    recovery attempts, executor, queue, dedup id);
  - the step count / highest / sum of function ids of the running (PENDING) workflows
    and of the ones running at the last poll, one primary-key range each: step progress;
  - rows created (workflow_status_created_at_index) or completed (the 3.x partial index
    on completed_at) at or after the newest value seen minus LOOKBACK_MS: work that
    started and finished between two polls.
So a poll costs O(live work), whatever the table size. Only the rows whose line moved
are then fetched in full (by the feed). The live lines are read up to MAX_LIVE per status
(in index order): past that (a backlog of 500k ENQUEUED), a row outside the window is seen
when it leaves its status (the next status's branch, or completed_at), rows that slide
into the window as the backlog drains are fetched as new (and the totals counted again,
recount.py), and a row deleted outside it waits for the periodic resync. The marks are
values the writers stored, never our clock, so a client clock that is off does not
matter; a transaction that commits more than LOOKBACK_MS after it stamped created_at, a
deleted or edited finished row, are caught by the feed's periodic full resync
(FULL_RESYNC_S).

The interval adapts: `min_interval_s` while changes flow, doubling to `max_interval_s`
when idle. It is also at least DUTY times what the last round cost (the poll, and the
feed's fetch and hand-over of what it found, measured as wall time), up to the idle
interval:
on a host whose CPU the application needs (and with limbo-tui niced, see
priority.py), a round takes longer, so limbo-tui polls less often instead of taking
more of the server and the CPU.
"""

from __future__ import annotations

import time

import asyncpg

from limbo_tui.model import LIVE_STATUSES
from limbo_tui.pg import queries
from limbo_tui.pg.queries import MAX_LIVE
from limbo_tui.pg.sources import Changes, SourceFailed, wait_for_turn

# How far behind the newest created_at / completed_at a poll looks again.
LOOKBACK_MS = 2_000
# At most this many recently created / completed rows per poll (a burst beyond it is a
# resync: one bounded snapshot instead of an unbounded delta).
MAX_RECENT = 20_000
# The next poll waits at least DUTY x the last round's wall time, but never more than
# the idle interval (a round's wall time includes waiting for a busy CPU).
DUTY = 10


def poll_sql(cols: queries.Columns) -> str:
    """$1: ids running (PENDING) at the last poll; $2: created_at mark; $3: completed_at
    mark."""
    ws, oo = queries._t(cols, "workflow_status"), queries._t(cols, "operation_outputs")
    line = queries.version_line_sql(cols)
    live = " UNION ALL ".join(
        f"(SELECT workflow_uuid, status, {line} AS line FROM {ws} WHERE status = '{s}' "
        f"LIMIT {MAX_LIVE})"
        for s in LIVE_STATUSES
    )
    # Steps: of the running (PENDING) workflows and of those running at the last poll
    # (ENQUEUED and DELAYED ones run no step), one index range per workflow (LATERAL): a
    # join would let the planner scan the whole operation_outputs key, O(table).
    parts = [
        "SELECT CASE WHEN status = 'PENDING' THEN 'p' ELSE 'l' END AS k, workflow_uuid AS id, "
        "line AS v FROM live",
        f"""SELECT 's', ids.workflow_uuid, st.v
            FROM (SELECT workflow_uuid FROM live WHERE status = 'PENDING'
                  UNION SELECT unnest($1::text[])) AS ids
            CROSS JOIN LATERAL (
              SELECT count(*) AS n, count(*)::text || ':' || max(o.function_id)::text || ':'
                       || sum(o.function_id)::text AS v
              FROM {oo} o WHERE o.workflow_uuid = ids.workflow_uuid) AS st
            WHERE st.n > 0""",
    ]
    if "created_at" in cols.workflow:
        parts.append(
            f"(SELECT 'c', workflow_uuid, {line} || '|' || created_at::text FROM {ws} "
            f"WHERE created_at >= $2 ORDER BY created_at LIMIT {MAX_RECENT + 1})"
        )
    else:
        parts.append("SELECT 'c', NULL, $2::bigint::text WHERE false")
    if cols.has_completed_at:
        parts.append(
            f"(SELECT 'd', workflow_uuid, {line} || '|' || completed_at::text FROM {ws} "
            f"WHERE completed_at >= $3 ORDER BY completed_at LIMIT {MAX_RECENT + 1})"
        )
    else:
        parts.append("SELECT 'd', NULL, $3::bigint::text WHERE false")
    return f"WITH live AS ({live}) " + " UNION ALL ".join(f"({p})" for p in parts)


def _mark_sql(cols: queries.Columns) -> str:
    ws = queries._t(cols, "workflow_status")
    created = f"(SELECT max(created_at) FROM {ws})" if "created_at" in cols.workflow else "NULL"
    completed = (
        f"(SELECT max(completed_at) FROM {ws} WHERE completed_at IS NOT NULL)"
        if cols.has_completed_at
        else "NULL"
    )
    return f"SELECT {created}::bigint AS created, {completed}::bigint AS completed"


class DeltaPoller:
    kind = "poll"

    def __init__(
        self,
        conn: asyncpg.Connection,
        schema: str,
        *,
        min_interval_s: float = 0.2,
        max_interval_s: float = 2.0,
    ) -> None:
        self._conn = conn
        self._schema = schema
        self.min_interval_s = min(min_interval_s, max_interval_s)
        self.max_interval_s = max_interval_s
        self.interval_s = self.min_interval_s
        self._live: dict[str, str] = {}
        self._running: set[str] = set()
        self._steps: dict[str, str] = {}
        self._recent: dict[str, str] = {}
        self._created_mark = 0
        self._completed_mark = 0
        self._next_at = 0.0
        # When changes() last returned something: the feed's work on it runs until the
        # next call, and counts towards the round's cost.
        self._returned_at: float | None = None
        self._handled_s = 0.0
        # What the last round cost (its poll and the feed's work on the one before), s.
        self.last_cost_s = 0.0
        self._last_poll_ok: float | None = None
        self._sql = ""

    async def start(self) -> None:
        """Take the marks and the live lines before the snapshot: whatever moves after
        this shows as a delta at the first poll."""
        cols = await queries.probe(self._conn, self._schema)
        self._sql = poll_sql(cols)
        marks = await self._conn.fetchrow(_mark_sql(cols))
        assert marks is not None
        self._created_mark = int(marks["created"] or 0)
        self._completed_mark = int(marks["completed"] or 0)
        await self._poll()
        self._next_at = time.monotonic() + self.interval_s

    async def changes(self, timeout: float) -> Changes:
        if self._returned_at is not None:
            # The feed's work on the last poll's changes ran from then until this call.
            self._handled_s = time.monotonic() - self._returned_at
            self._returned_at = None
        if not await wait_for_turn(self._next_at, timeout):
            return Changes()
        began = time.monotonic()
        found = await self._poll()
        now = time.monotonic()
        cost, self._handled_s = (now - began) + self._handled_s, 0.0
        self.last_cost_s = cost
        # Adaptive: quick while things move, backing off (doubling) when idle.
        base = self.min_interval_s if found else min(self.interval_s * 2, self.max_interval_s)
        # A costly round (many running workflows, a busy host) spaces the polls out, up to
        # the idle interval: limbo-tui's share of the server stays about 1/DUTY.
        self.interval_s = max(base, min(DUTY * cost, self.max_interval_s))
        self._next_at = now + self.interval_s
        if found:
            self._returned_at = now
        return found

    async def prove(self) -> None:
        # A poll that returned is the proof; one that fails raises from changes().
        if self._last_poll_ok is None:
            raise SourceFailed("no poll has returned yet")

    def describe(self) -> str:
        low, high = self.min_interval_s, self.max_interval_s
        return f"every {low:g}-{high:g} s" if low < high else f"every {high:g} s"

    async def close(self) -> None:
        return None  # the connection belongs to the feed

    async def _poll(self) -> Changes:
        created_from = max(0, self._created_mark - LOOKBACK_MS)
        completed_from = max(0, self._completed_mark - LOOKBACK_MS)
        async with self._conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await self._conn.fetch(
                self._sql, sorted(self._running), created_from, completed_from
            )
        self._last_poll_ok = time.monotonic()
        live: dict[str, str] = {}
        steps: dict[str, str] = {}
        recent: dict[str, str] = {}
        n_created = n_completed = 0
        running: set[str] = set()
        for k, wid, v in rows:
            if k in ("l", "p"):
                live[wid] = v
                if k == "p":
                    running.add(wid)
            elif k == "s":
                steps[wid] = v
            else:
                line, _, stamp = v.rpartition("|")
                recent[wid] = line
                if k == "c":
                    n_created += 1
                    self._created_mark = max(self._created_mark, int(stamp))
                else:
                    n_completed += 1
                    self._completed_mark = max(self._completed_mark, int(stamp))
        out = Changes()
        if n_created > MAX_RECENT or n_completed > MAX_RECENT:
            out.resync = True
        for wid, line in live.items():
            if self._live.get(wid) != line:
                out.workflows.add(wid)
        # Live at the last poll and not now: finished (or deleted).
        out.workflows |= self._live.keys() - live.keys()
        for wid, line in recent.items():
            if self._recent.get(wid) != line and self._live.get(wid) != line:
                out.workflows.add(wid)
                if wid not in live and wid not in self._live:
                    # Started and finished between two polls: no poll saw it run, so
                    # no step count of it was ever taken; its steps come with it.
                    out.all_steps.add(wid)
        for wid, counts in steps.items():
            if self._steps.get(wid) != counts:
                out.all_steps.add(wid)
        # A workflow that left the live set brings its last steps, also one that was
        # ENQUEUED at the last poll and ran all of its steps before this one.
        out.all_steps |= self._live.keys() - live.keys()
        self._live, self._steps, self._recent = live, steps, recent
        self._running = running
        return out
