"""Version-tolerant reads of the DBOS system tables, turned into model rows.

DBOS's schema grew over the years: 2.8 has no parent_workflow_id and keeps inputs /
output / error inline in workflow_status; 3.x adds workflow_input / workflow_output side
tables (new rows leave the inline columns NULL). The columns are probed once per
connection (cached by connection) and every query is built from what exists.

Snapshot scope (bounded, index-friendly, for system databases of a million rows):
  0. the true totals (Totals): every row, and the unfinished ones by status and queue
     with their oldest and newest creation time (live_totals), so that a backlog larger
     than what is loaded is never silently cut;
  1. every workflow not finished (PENDING / ENQUEUED / DELAYED), each status read through
     its partial index (3.x: idx_workflow_status_in_flight_v2, idx_workflow_status_delayed;
     2.8: workflow_status_status_index); at most MAX_LIVE rows per status are loaded,
     newest first (the totals count the rest); of a queue's ENQUEUED backlog that the tree
     summarizes (backlog.GROUP_MIN or more), only its newest backlog.FIRST_LOADED rows:
     the rest is fetched a page at a time when the user opens it (backlog_page); with
     `live_first` (the TUI's), of the rest of the live work only the newest `live_first`
     rows (backlog.paged_live), the older ones a page at a time (live_page);
  2. the most recent `finished_families` finished top-level workflows (backwards scan of
     workflow_status_created_at_index, present in every version); "finished" is any
     status but the live ones, so unknown or NULL statuses are shown too;
  3. the whole family of each of those: ancestors and descendants by one bounded
     recursive CTE over primary-key / parent-index lookups (see _FAMILY_SQL);
  4. all steps of those workflows (operation_outputs primary-key prefix);
  5. the Registry (pg/dbos_registry.py): release, dbos.queues, dbos.application_versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from limbo_tui.backlog import FIRST_LOADED, GROUP_MIN, PAGE, summarized_queues
from limbo_tui.model import (
    DEAD_STATUSES,
    ENQUEUED,
    LIVE_STATUSES,
    PENDING,
    ChildrenTotal,
    GroupTotal,
    Row,
    Step,
    Totals,
    Workflow,
)
from limbo_tui.pg.catalog import table_columns
from limbo_tui.pg.connect import close_quietly, jit_off_in_transaction
from limbo_tui.pg.dbos_registry import read_registry
from limbo_tui.pg.sql_text import quote_ident
from limbo_tui.urls import validate_schema_name

# A bound on the rows of each live status one snapshot loads: a backlog of a million
# ENQUEUED rows is loaded by its newest part (and counted whole by live_totals) rather
# than stalling the monitor or filling its memory.
MAX_LIVE = 20_000
# A bound on the family closure: one runaway fan-out must not load the whole table.
MAX_FAMILY = 50_000
# With live_first: of the dead children created since the oldest running workflow, the
# newest this many are looked at for a running parent (live_ids).
DEAD_CHILDREN = 2_000
# Ids per `= ANY($1)` query: keeps parameters and result sets moderate.
BATCH = 5_000
K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Columns:
    """Which optional columns / tables this database has (probed once per connection)."""

    schema: str
    workflow: frozenset[str]
    steps: frozenset[str]
    input_table: bool
    output_table: bool

    @property
    def has_parent(self) -> bool:
        return "parent_workflow_id" in self.workflow

    @property
    def has_completed_at(self) -> bool:
        return "completed_at" in self.workflow


_probe_cache: weakref.WeakKeyDictionary[asyncpg.Connection, dict[str, Columns]] = (
    weakref.WeakKeyDictionary()
)


async def probe(conn: asyncpg.Connection, schema: str) -> Columns:
    """The columns of workflow_status / operation_outputs and the 3.x side tables."""
    validate_schema_name(schema)
    per_conn = _probe_cache.setdefault(conn, {})
    cached = per_conn.get(schema)
    if cached is not None:
        return cached
    by_table = await table_columns(
        conn, schema, ("workflow_status", "operation_outputs", "workflow_input", "workflow_output")
    )
    cols = Columns(
        schema=schema,
        workflow=by_table.get("workflow_status", frozenset()),
        steps=by_table.get("operation_outputs", frozenset()),
        input_table="inputs" in by_table.get("workflow_input", ()),
        output_table={"output", "error"} <= by_table.get("workflow_output", frozenset()),
    )
    per_conn[schema] = cols
    return cols


def _t(cols: Columns, table: str) -> str:
    return f"{quote_ident(cols.schema)}.{quote_ident(table)}"


def _ws_select(cols: Columns) -> str:
    """SELECT ... FROM workflow_status ws (+ side tables) with fixed output names."""
    w = cols.workflow

    def col(name: str, alias: str) -> str:
        return f"ws.{quote_ident(name)} AS {alias}" if name in w else f"NULL AS {alias}"

    inline = {n: f"ws.{n}" if n in w else "NULL" for n in ("inputs", "output", "error")}
    joins = ""
    if cols.input_table:
        joins += (
            f" LEFT JOIN {_t(cols, 'workflow_input')} wi ON wi.workflow_uuid = ws.workflow_uuid"
        )
        inputs = f"coalesce(wi.inputs, {inline['inputs']}) AS inputs"
    else:
        inputs = f"{inline['inputs']} AS inputs"
    if cols.output_table:
        joins += (
            f" LEFT JOIN {_t(cols, 'workflow_output')} wo ON wo.workflow_uuid = ws.workflow_uuid"
        )
        output = f"coalesce(wo.output, {inline['output']}) AS output"
        error = f"coalesce(wo.error, {inline['error']}) AS error"
    else:
        output = f"{inline['output']} AS output"
        error = f"{inline['error']} AS error"
    fields = [
        "ws.workflow_uuid AS id",
        "ws.status AS status",
        col("name", "name"),
        col("class_name", "class_name"),
        col("parent_workflow_id", "parent_id"),
        col("queue_name", "queue"),
        col("deduplication_id", "dedup_id"),
        col("executor_id", "executor_id"),
        col("application_version", "app_version"),
        col("recovery_attempts", "recovery_attempts"),
        col("created_at", "created_at"),
        col("updated_at", "updated_at"),
        col("forked_from", "forked_from"),
        col("priority", "priority"),
        col("workflow_timeout_ms", "timeout_ms"),
        col("workflow_deadline_epoch_ms", "deadline_ms"),
        inputs,
        output,
        error,
        col("serialization", "serialization"),
    ]
    return f"SELECT {', '.join(fields)} FROM {_t(cols, 'workflow_status')} ws{joins}"


def _oo_select(cols: Columns) -> str:
    s = cols.steps

    def col(name: str, alias: str) -> str:
        return f"o.{quote_ident(name)} AS {alias}" if name in s else f"NULL AS {alias}"

    fields = [
        "o.workflow_uuid AS workflow_id",
        "o.function_id AS function_id",
        col("function_name", "name"),
        col("child_workflow_id", "child_workflow_id"),
        col("started_at_epoch_ms", "started_at"),
        col("completed_at_epoch_ms", "completed_at"),
        col("output", "output"),
        col("error", "error"),
        col("serialization", "serialization"),
    ]
    return f"SELECT {', '.join(fields)} FROM {_t(cols, 'operation_outputs')} o"


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def workflow_from_record(r: asyncpg.Record) -> Workflow:
    return Workflow(
        id=r["id"],
        status=r["status"] or "",
        name=r["name"] or "",
        class_name=r["class_name"],
        parent_id=r["parent_id"],
        queue=r["queue"],
        dedup_id=r["dedup_id"],
        executor_id=r["executor_id"],
        app_version=r["app_version"],
        recovery_attempts=int(r["recovery_attempts"] or 0),
        created_at_ms=_int(r["created_at"]),
        updated_at_ms=_int(r["updated_at"]),
        forked_from=r["forked_from"],
        priority=_int(r["priority"]),
        timeout_ms=_int(r["timeout_ms"]),
        deadline_ms=_int(r["deadline_ms"]),
        inputs=r["inputs"],
        output=r["output"],
        error=r["error"],
        serialization=r["serialization"],
    )


def step_from_record(r: asyncpg.Record) -> Step:
    return Step(
        workflow_id=r["workflow_id"],
        function_id=int(r["function_id"]),
        name=r["name"] or "",
        child_workflow_id=r["child_workflow_id"],
        failed=r["error"] is not None,
        started_at_ms=_int(r["started_at"]),
        completed_at_ms=_int(r["completed_at"]),
        output=r["output"],
        error=r["error"],
        serialization=r["serialization"],
    )


async def _fetch_batched(
    conn: asyncpg.Connection,
    sql: str,
    keys: Iterable[K],
    params: Callable[[list[K]], tuple[object, ...]],
    make: Callable[[asyncpg.Record], R],
) -> list[R]:
    """`sql` run for BATCH distinct keys at a time (`params` turns a batch into its
    arguments), each row made into a model row."""
    wanted = list(dict.fromkeys(keys))
    out: list[R] = []
    for i in range(0, len(wanted), BATCH):
        rows = await conn.fetch(sql, *params(wanted[i : i + BATCH]))
        out.extend(make(r) for r in rows)
    return out


async def fetch_workflows(
    conn: asyncpg.Connection, schema: str, ids: Iterable[str]
) -> list[Workflow]:
    """The workflows among `ids` that exist (missing ids are simply absent)."""
    cols = await probe(conn, schema)
    sql = f"{_ws_select(cols)} WHERE ws.workflow_uuid = ANY($1::text[])"
    return await _fetch_batched(conn, sql, ids, lambda chunk: (chunk,), workflow_from_record)


async def fetch_steps(
    conn: asyncpg.Connection, schema: str, workflow_ids: Iterable[str]
) -> list[Step]:
    """Every step row of the given workflows, in function id order."""
    cols = await probe(conn, schema)
    sql = f"{_oo_select(cols)} WHERE o.workflow_uuid = ANY($1::text[]) ORDER BY 1, 2"
    return await _fetch_batched(conn, sql, workflow_ids, lambda chunk: (chunk,), step_from_record)


async def fetch_step_keys(
    conn: asyncpg.Connection, schema: str, keys: Iterable[tuple[str, int]]
) -> list[Step]:
    """The step rows named by (workflow id, function id); missing keys are absent."""
    cols = await probe(conn, schema)
    sql = (
        f"{_oo_select(cols)} JOIN unnest($1::text[], $2::int[]) AS k(wid, fid) "
        "ON o.workflow_uuid = k.wid AND o.function_id = k.fid"
    )

    def params(chunk: list[tuple[str, int]]) -> tuple[object, ...]:
        return [k[0] for k in chunk], [k[1] for k in chunk]

    return await _fetch_batched(conn, sql, keys, params, step_from_record)


async def live_ids(
    conn: asyncpg.Connection,
    schema: str,
    limit: int = MAX_LIVE,
    totals: Totals | None = None,
    opened: Mapping[str, int] | None = None,
    live_first: int | None = None,
) -> list[str]:
    """Ids of every non-finished workflow (newest first, at most `limit` per status).

    One branch per status so each one can use its own partial index. Given the `totals`
    counted in the same transaction, the ENQUEUED ones are read queue by queue: a queue
    the tree summarizes (backlog.GROUP_MIN or more in the database) loads only its newest
    FIRST_LOADED, fetched further a page at a time when the user opens it (backlog_page),
    plus the `opened` rows of it the user had read so far (a new snapshot keeps them).
    With `live_first` (and those totals), the rest of the live work (backlog.paged_live)
    loads only its newest `live_first` rows, whose families are the tree's first pages;
    the older ones come a page at a time (live_page).
    """
    cols = await probe(conn, schema)
    ws = _t(cols, "workflow_status")
    has_created = "created_at" in cols.workflow
    order = "ORDER BY created_at DESC" if has_created else ""
    # The same order as backlog_page's, so that its pages start where this one ends.
    by_page = "ORDER BY created_at DESC, workflow_uuid DESC" if has_created else ""
    queued = totals is not None and "queue_name" in cols.workflow
    params: list[object] = []
    branches: list[str] = []
    if live_first is not None and totals is not None and queued and has_created:
        summarized: frozenset[str | None] = summarized_queues(totals)
        paged = _paged_live_sql(cols, totals, live_first, None, params)
        branches.append(f"(SELECT workflow_uuid FROM ({paged}) p)")
        oldest = min(
            (g.oldest_ms for g in totals.groups if g.status == PENDING and g.oldest_ms),
            default=None,
        )
        if cols.has_parent and oldest is not None:
            # Past the first page too: a running parent whose child is dead (in limbo,
            # the first thing to see) with its family. Such a child was created after
            # the oldest running workflow (a child after its parent): the newest
            # DEAD_CHILDREN of those (DBOS's index of failed statuses by created_at),
            # each parent one primary-key lookup.
            params.append(oldest)
            dead = ", ".join(f"'{s}'" for s in sorted(DEAD_STATUSES))
            branches.append(
                f"(SELECT c.parent_workflow_id FROM (SELECT parent_workflow_id FROM {ws} "
                f"WHERE status IN ({dead}) AND created_at >= ${len(params)} "
                "AND parent_workflow_id IS NOT NULL ORDER BY created_at DESC "
                f"LIMIT {DEAD_CHILDREN}) c WHERE EXISTS (SELECT 1 FROM {ws} p "
                f"WHERE p.workflow_uuid = c.parent_workflow_id AND p.status = '{PENDING}'))"
            )
    else:
        summarized = (
            frozenset({g.queue for g in totals.groups}) if totals and queued else frozenset()
        )
        params.append(limit)
        branches += [
            f"(SELECT workflow_uuid FROM {ws} WHERE status = '{s}' {order} LIMIT $1)"
            for s in LIVE_STATUSES
            if not (queued and s == ENQUEUED)
        ]
    if totals is not None and queued:
        # One branch per queue counted (each stops at its count: no scan past its oldest
        # row looking for rows that are not there).
        per_queue = []
        for g in totals.groups:
            if g.status != ENQUEUED or g.count <= 0 or g.queue not in summarized:
                continue
            first = FIRST_LOADED + (opened or {}).get(g.queue or "", 0)
            n = min(g.count, first if g.count >= GROUP_MIN else limit)
            if g.queue is None:
                where = "queue_name IS NULL"
            else:
                params.append(g.queue)
                where = f"queue_name = ${len(params)}"
            per_queue.append(
                f"(SELECT workflow_uuid FROM {ws} WHERE status = '{ENQUEUED}' AND {where} "
                f"{by_page} LIMIT {int(n)})"
            )
        if per_queue:
            # Many small queues together still load at most `limit` rows.
            branches.append(f"(SELECT workflow_uuid FROM ({' UNION ALL '.join(per_queue)}) e "
                            f"LIMIT {int(limit)})")  # fmt: skip
    rows = await conn.fetch(" UNION ALL ".join(branches), *params)
    return [r[0] for r in rows]


def _paged_live_sql(
    cols: Columns,
    totals: Totals,
    n: int,
    older_than: tuple[int, str] | None,
    params: list[object],
) -> str:
    """SELECT workflow_uuid of the newest `n` rows of backlog.paged_live (older than
    (created_at, id) when given), newest first, ties by id descending: each status, and
    each ENQUEUED queue the `totals` counted under GROUP_MIN, through its own index (a
    filter on the whole ENQUEUED status would walk the created_at index past the large
    backlogs), then merged. Appends its parameters to `params`."""
    ws = _t(cols, "workflow_status")
    keyset = ""
    if older_than is not None:
        params += [older_than[0], older_than[1]]
        a, b = len(params) - 1, len(params)
        keyset = f"AND (created_at, workflow_uuid) < (${a}::bigint, ${b}::text)"
    by_key = "ORDER BY created_at DESC, workflow_uuid DESC"
    parts = [
        f"(SELECT workflow_uuid, created_at FROM {ws} WHERE status = '{s}' {keyset} "
        f"{by_key} LIMIT {int(n)})"
        for s in LIVE_STATUSES
        if s != ENQUEUED
    ]
    for g in totals.groups:
        if g.status != ENQUEUED or g.count <= 0 or g.count >= GROUP_MIN:
            continue
        if g.queue is None:
            where = "queue_name IS NULL"
        else:
            params.append(g.queue)
            where = f"queue_name = ${len(params)}"
        parts.append(
            f"(SELECT workflow_uuid, created_at FROM {ws} WHERE status = '{ENQUEUED}' "
            f"AND {where} {keyset} {by_key} LIMIT {int(min(n, g.count))})"
        )
    return f"SELECT workflow_uuid FROM ({' UNION ALL '.join(parts)}) l {by_key} LIMIT {int(n)}"


async def live_page(
    conn: asyncpg.Connection,
    schema: str,
    older_than: tuple[int, str],
    totals: Totals,
    limit: int = PAGE,
) -> list[Row]:
    """The families of the next `limit` rows of backlog.paged_live older than
    (created_at, id), in the order a snapshot loads them, with their steps: the tree's
    next page of live families, fetched when the user asks for it. `totals`: the
    snapshot's (which queues it summarized)."""
    cols = await probe(conn, schema)
    if "created_at" not in cols.workflow or "queue_name" not in cols.workflow:
        return []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await jit_off_in_transaction(conn)
        params: list[object] = []
        sql = _paged_live_sql(cols, totals, limit, older_than, params)
        seeds = [r[0] for r in await conn.fetch(sql, *params)]
        ids = await family_ids(conn, schema, seeds)
        workflows = await fetch_workflows(conn, schema, ids)
        steps = await fetch_steps(conn, schema, [w.id for w in workflows])
    return [*workflows, *steps]


async def backlog_page(
    conn: asyncpg.Connection,
    schema: str,
    queue: str,
    older_than: tuple[int, str],
    limit: int = PAGE,
) -> list[Row]:
    """The next `limit` ENQUEUED workflows of `queue` older than (created_at, id) in the
    order a snapshot loads them (newest first), with their steps: a page of a summarized
    backlog, fetched when the user opens it."""
    cols = await probe(conn, schema)
    if "created_at" not in cols.workflow or "queue_name" not in cols.workflow:
        return []
    ws = _t(cols, "workflow_status")
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await jit_off_in_transaction(conn)
        rows = await conn.fetch(
            f"SELECT workflow_uuid FROM {ws} WHERE status = '{ENQUEUED}' AND queue_name = $1 "
            "AND (created_at, workflow_uuid) < ($2, $3) "
            "ORDER BY created_at DESC, workflow_uuid DESC LIMIT $4",
            queue,
            older_than[0],
            older_than[1],
            limit,
        )
        ids = [r[0] for r in rows]
        workflows = await fetch_workflows(conn, schema, ids)
        steps = await fetch_steps(conn, schema, [w.id for w in workflows])
    place = {wid: i for i, wid in enumerate(ids)}
    return [*sorted(workflows, key=lambda w: place[w.id]), *steps]


async def recent_finished_roots(conn: asyncpg.Connection, schema: str, limit: int) -> list[str]:
    """The most recent `limit` finished top-level workflows (newest first).

    Without parent_workflow_id (2.8) the top level cannot be told from an index, so the
    newest finished workflows of any level are taken (their roots come in through the
    family closure); this can give fewer than `limit` families, never more.
    """
    if limit <= 0:
        return []
    cols = await probe(conn, schema)
    ws = _t(cols, "workflow_status")
    top = "AND parent_workflow_id IS NULL" if cols.has_parent else ""
    order = "ORDER BY created_at DESC" if "created_at" in cols.workflow else ""
    # "Not live" rather than "one of the finished statuses": a status DBOS never wrote
    # (NULL, '', a newer version's word, a hand edit) must still reach the screen, and
    # must not come and go between notification fetches and resyncs.
    rows = await conn.fetch(
        f"SELECT workflow_uuid FROM {ws} WHERE coalesce(status, '') <> ALL($1::text[]) "
        f"{top} {order} LIMIT $2",
        list(LIVE_STATUSES),
        limit,
    )
    return [r[0] for r in rows]


async def live_groups(conn: asyncpg.Connection, schema: str) -> Totals:
    """The unfinished workflows by status and queue with their oldest and newest
    created_at, and the database's clock (`workflows` is left 0: count_all counts them).

    Reads only the live statuses' partial indexes (3.x's in-flight index covers queue,
    status and created_at: an index-only scan).
    """
    cols = await probe(conn, schema)
    ws = _t(cols, "workflow_status")
    queue = "queue_name" if "queue_name" in cols.workflow else "NULL::text"
    created = "created_at" if "created_at" in cols.workflow else "NULL::bigint"
    branches = " UNION ALL ".join(
        f"(SELECT '{s}'::text AS status, {queue} AS queue, count(*) AS n, "
        f"min({created}) AS oldest, max({created}) AS newest "
        f"FROM {ws} WHERE status = '{s}' GROUP BY 2)"
        for s in LIVE_STATUSES
    )
    rows = await conn.fetch(branches)
    now_ms = await conn.fetchval("SELECT (extract(epoch FROM now()) * 1000)::bigint")
    groups = tuple(
        GroupTotal(
            status=r["status"],
            queue=r["queue"],
            count=int(r["n"]),
            oldest_ms=_int(r["oldest"]),
            newest_ms=_int(r["newest"]),
        )
        for r in sorted(rows, key=lambda r: (r["status"], r["queue"] or ""))
    )
    return Totals(workflows=0, groups=groups, counted_at_ms=int(now_ms))


async def count_all(conn: asyncpg.Connection, schema: str) -> int:
    """Every workflow_status row: one scan of an index of the whole table."""
    cols = await probe(conn, schema)
    return int(await conn.fetchval(f"SELECT count(*) FROM {_t(cols, 'workflow_status')}") or 0)


async def live_totals(conn: asyncpg.Connection, schema: str) -> Totals:
    """The true counts: every workflow_status row (count_all), and the unfinished ones by
    status and queue (live_groups). The whole count is one scan of the table, which is why
    the feed re-reads totals at most once a second."""
    totals = await live_groups(conn, schema)
    return dataclasses.replace(totals, workflows=await count_all(conn, schema))


async def count_totals(
    conn: asyncpg.Connection, schema: str, parents: Iterable[str] = ()
) -> Totals:
    """live_totals in a transaction of its own (one consistent picture), between snapshots,
    with the children of `parents` (those the snapshot loaded by their first children)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await jit_off_in_transaction(conn)
        totals = await live_totals(conn, schema)
        families = await children_totals(conn, schema, parents)
        return dataclasses.replace(totals, families=families)


def _family_sql(cols: Columns) -> str:
    """Ancestors of the seed ids up to their roots, then every descendant of those.

    Links used, each an index lookup: workflow_status.parent_workflow_id (primary key up,
    idx_workflow_status_parent_workflow_id down) when it exists, and always the parent's
    child-call rows in operation_outputs (primary-key prefix down). Upwards without a
    parent column, DBOS's default child id `<parent>-<function id>` names the candidate
    parent, confirmed by its operation_outputs row (a primary-key lookup): no index exists
    on child_workflow_id, so a custom child id is only linked from its parent's side.
    UNION (not UNION ALL) makes each id visit once, so cycles end; the LIMIT bounds size.
    With the parent column, each parent gives at most $3 children on the way down (the
    first by creation, as the tree lists them; child-call rows by function id): a parent
    of thousands is loaded by its first children, the others counted (children_totals)
    and read a page at a time (children_page). Without it (2.8) no page could be read
    from an index, so every child comes.
    """
    ws, oo = _t(cols, "workflow_status"), _t(cols, "operation_outputs")
    first = "LIMIT $3" if cols.has_parent else ""
    up_parts = [
        f"SELECT o.workflow_uuid FROM {oo} o "
        "WHERE o.workflow_uuid = regexp_replace(u.id, '-[0-9]+$', '') "
        "AND o.child_workflow_id = u.id AND u.id ~ '-[0-9]+$'"
    ]
    down_parts = [
        f"(SELECT o.child_workflow_id FROM {oo} o "
        "WHERE o.workflow_uuid = d.id AND o.child_workflow_id IS NOT NULL "
        f"ORDER BY o.function_id {first})"
    ]
    if cols.has_parent:
        up_parts.append(
            f"SELECT w.parent_workflow_id FROM {ws} w "
            "WHERE w.workflow_uuid = u.id AND w.parent_workflow_id IS NOT NULL"
        )
        down_parts.append(
            f"(SELECT w.workflow_uuid FROM {ws} w WHERE w.parent_workflow_id = d.id "
            f"ORDER BY w.created_at, w.workflow_uuid {first})"
        )
    return f"""
    WITH RECURSIVE
    up(id) AS (
        SELECT unnest($1::text[])
        UNION
        SELECT p.pid FROM up u CROSS JOIN LATERAL ({" UNION ".join(up_parts)}) AS p(pid)
    ),
    down(id) AS (
        SELECT id FROM up
        UNION
        SELECT c.cid FROM down d CROSS JOIN LATERAL ({" UNION ".join(down_parts)}) AS c(cid)
    )
    SELECT id FROM down LIMIT $2
    """


async def family_ids(
    conn: asyncpg.Connection, schema: str, seeds: Iterable[str], limit: int = MAX_FAMILY
) -> list[str]:
    """seeds plus all their ancestors and descendants (ids; some may not exist as rows)."""
    seed_list = list(dict.fromkeys(seeds))
    if not seed_list:
        return []
    cols = await probe(conn, schema)
    params: list[object] = [seed_list, limit]
    if cols.has_parent:
        params.append(FIRST_LOADED)
    rows = await conn.fetch(_family_sql(cols), *params)
    return [r[0] for r in rows]


async def children_totals(
    conn: asyncpg.Connection, schema: str, parent_ids: Iterable[str]
) -> tuple[ChildrenTotal, ...]:
    """The children of each parent (parent_workflow_id's index) by status, with the oldest
    and newest creation time; parents without children are left out."""
    ids = list(dict.fromkeys(parent_ids))
    cols = await probe(conn, schema)
    if not ids or not cols.has_parent:
        return ()
    created = "created_at" if "created_at" in cols.workflow else "NULL::bigint"
    rows = await conn.fetch(
        f"SELECT parent_workflow_id AS p, coalesce(status, '') AS s, count(*) AS n, "
        f"min({created}) AS oldest, max({created}) AS newest "
        f"FROM {_t(cols, 'workflow_status')} WHERE parent_workflow_id = ANY($1::text[]) "
        "GROUP BY 1, 2",
        ids,
    )
    by_parent: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        by_parent.setdefault(r["p"], []).append(r)
    out = []
    for parent, group in sorted(by_parent.items()):
        oldest = [v for r in group if (v := _int(r["oldest"])) is not None]
        newest = [v for r in group if (v := _int(r["newest"])) is not None]
        out.append(
            ChildrenTotal(
                parent_id=parent,
                count=sum(int(r["n"]) for r in group),
                by_status=tuple(sorted((r["s"], int(r["n"])) for r in group)),
                oldest_ms=min(oldest) if oldest else None,
                newest_ms=max(newest) if newest else None,
            )
        )
    return tuple(out)


def many_children(workflows: Iterable[Workflow]) -> list[str]:
    """The parents among these rows with FIRST_LOADED children or more loaded: those the
    family closure may have cut (a parent gives at most that many)."""
    kids: dict[str, int] = {}
    for w in workflows:
        if w.parent_id is not None:
            kids[w.parent_id] = kids.get(w.parent_id, 0) + 1
    return sorted(p for p, n in kids.items() if n >= FIRST_LOADED)


async def children_page(
    conn: asyncpg.Connection,
    schema: str,
    parent_id: str,
    after: tuple[int, str],
    limit: int = PAGE,
) -> list[Row]:
    """The next `limit` children of a parent after (created_at, id), in the order the
    family closure loads them (oldest first, ties by id), with their own families and
    steps: a page of a parent loaded by its first children, fetched when the user asks."""
    cols = await probe(conn, schema)
    if not cols.has_parent or "created_at" not in cols.workflow:
        return []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await jit_off_in_transaction(conn)
        rows = await conn.fetch(
            f"SELECT workflow_uuid FROM {_t(cols, 'workflow_status')} "
            "WHERE parent_workflow_id = $1 AND (created_at, workflow_uuid) > ($2, $3) "
            "ORDER BY created_at, workflow_uuid LIMIT $4",
            parent_id,
            after[0],
            after[1],
            limit,
        )
        # With their own descendants (the closure brings their ancestors and the first
        # siblings too: held already, the graph skips them).
        ids = await family_ids(conn, schema, [r[0] for r in rows])
        workflows = await fetch_workflows(conn, schema, ids)
        steps = await fetch_steps(conn, schema, [w.id for w in workflows])
    return [*workflows, *steps]


# pg_export_snapshot()'s answer, checked before it is written into SET TRANSACTION SNAPSHOT
# (which takes no parameter).
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]+$")
SideConnect = Callable[[], Awaitable[asyncpg.Connection]]
# From this many workflow_status rows (the planner's estimate) a snapshot finds the
# newest finished families on a second connection (see snapshot).
SHARED_FROM_ROWS = 100_000


async def _estimated_rows(conn: asyncpg.Connection, schema: str) -> float:
    """pg_class.reltuples of workflow_status (-1 or 0 before the first ANALYZE)."""
    cols = await probe(conn, schema)
    got = await conn.fetchval(
        "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)", _t(cols, "workflow_status")
    )
    return float(got) if got is not None else 0.0


async def snapshot(
    conn: asyncpg.Connection,
    schema: str,
    finished_families: int = 200,
    opened: Mapping[str, int] | None = None,
    side: SideConnect | None = None,
    shared_from: int = SHARED_FROM_ROWS,
    live_first: int | None = None,
    also: Sequence[str] = (),
) -> list[Row]:
    """The bounded picture described in the module docstring: workflows then steps;
    `opened`: per queue, the rows of its summarized backlog read page by page since the
    session began (kept by a new snapshot, so that a resync does not fold them away).

    Read in one REPEATABLE READ transaction so that rows and steps agree. With `side` (a
    way to open a second connection), the read that a large database makes slow and the
    live part does not need (the newest finished families' roots) runs on it, in the same
    picture (pg_export_snapshot), while this one reads the live part, its families and
    the count of the table; when
    that cannot be had (a standby, a pooler, no connection left), one connection reads it
    all, as without `side`; so it does for a table the planner estimates under
    `shared_from` rows (a second connection costs more than those reads there).
    `live_first`: load only that many of the live work's newest rows past the summarized
    backlogs, with their families (live_ids); None: all of it, up to MAX_LIVE per status.
    `also`: more workflows to load with their families (the children of a large parent
    read page by page since the session began).
    """
    if side is not None and await _estimated_rows(conn, schema) >= shared_from:
        try:
            return await _snapshot_shared(
                conn, schema, finished_families, opened, side, live_first, also
            )
        except _NotShared:
            pass
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await jit_off_in_transaction(conn)
        totals = await live_totals(conn, schema)
        seeds = await live_ids(conn, schema, totals=totals, opened=opened, live_first=live_first)
        seeds += await recent_finished_roots(conn, schema, finished_families)
        seeds += also
        return await _families(conn, schema, seeds, totals)


class _NotShared(Exception):
    """The picture could not be exported to a second connection: read it on one."""


async def _families(
    conn: asyncpg.Connection,
    schema: str,
    seeds: list[str],
    totals: Totals,
    loaded: tuple[list[Workflow], list[Step]] = ([], []),
) -> list[Row]:
    """The snapshot's rows: the families of `seeds` beside those `loaded` already (read
    earlier in the same transaction), the registry, and the totals with the children of
    the parents loaded by their first children."""
    held = {w.id for w in loaded[0]}
    ids = [i for i in await family_ids(conn, schema, seeds) if i not in held]
    workflows = [*loaded[0], *await fetch_workflows(conn, schema, ids)]
    steps = [*loaded[1], *await fetch_steps(conn, schema, [w.id for w in workflows[len(held) :]])]
    registry = await read_registry(conn, schema)
    counted = await children_totals(conn, schema, many_children(workflows))
    kids: dict[str, int] = {}
    for w in workflows:
        if w.parent_id is not None:
            kids[w.parent_id] = kids.get(w.parent_id, 0) + 1
    families = tuple(f for f in counted if f.count > kids.get(f.parent_id, 0))
    rows: list[Row] = [registry]
    rows.extend(workflows)
    rows.extend(steps)
    rows.append(dataclasses.replace(totals, families=families))
    return rows


async def _snapshot_shared(
    conn: asyncpg.Connection,
    schema: str,
    finished_families: int,
    opened: Mapping[str, int] | None,
    side: SideConnect,
    live_first: int | None,
    also: Sequence[str],
) -> list[Row]:
    connecting = asyncio.ensure_future(side())
    other: asyncpg.Connection | None = None
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            try:
                # First in the transaction (it cannot be exported from a savepoint); if
                # it fails, this transaction is lost and snapshot() starts another.
                picture = await conn.fetchval("SELECT pg_export_snapshot()")
                other = await connecting
            except Exception as exc:  # the server's refusal, or connect()'s DatabaseError
                raise _NotShared from exc
            if not isinstance(picture, str) or not _SNAPSHOT_ID.match(picture):
                raise _NotShared(f"unexpected snapshot id {picture!r}")
            await jit_off_in_transaction(conn)
            beside = asyncio.ensure_future(_side_reads(other, schema, picture, finished_families))
            try:
                # The live part and the count here while the finished families are
                # found beside (a backward scan past every newer live row on a large
                # backlog): the closure of the live part does not wait for them.
                totals = await live_groups(conn, schema)
                seeds = await live_ids(
                    conn, schema, totals=totals, opened=opened, live_first=live_first
                )
                seeds += also
                ids = await family_ids(conn, schema, seeds)
                workflows = await fetch_workflows(conn, schema, ids)
                steps = await fetch_steps(conn, schema, [w.id for w in workflows])
                total = await count_all(conn, schema)
                roots: list[str] = await _or_here(
                    beside, lambda: recent_finished_roots(conn, schema, finished_families)
                )
                rows = await _families(conn, schema, roots, totals, (workflows, steps))
            finally:
                beside.cancel()
                with contextlib.suppress(BaseException):
                    await beside
        last = rows[-1]
        assert isinstance(last, Totals)
        rows[-1] = dataclasses.replace(last, workflows=total)
        return rows
    finally:
        if other is None:
            connecting.cancel()
            with contextlib.suppress(BaseException):
                other = await connecting
        if other is not None:
            await close_quietly(other)


async def _or_here(got: asyncio.Future[T], here: Callable[[], Awaitable[T]]) -> T:
    """What the side connection read; if it failed, read here (the same picture)."""
    try:
        return await asyncio.shield(got)
    except Exception:
        return await here()


async def _side_reads(
    side: asyncpg.Connection, schema: str, picture: str, finished_families: int
) -> list[str]:
    """On the second connection, in the exported picture: the newest finished families'
    roots."""
    async with side.transaction(isolation="repeatable_read", readonly=True):
        await side.execute(f"SET TRANSACTION SNAPSHOT '{picture}'")
        await jit_off_in_transaction(side)
        return await recent_finished_roots(side, schema, finished_families)


def version_line_sql(cols: Columns) -> str:
    """A workflow row's narrow "version" line (status, updated_at, recovery attempts,
    executor, queue, deduplication id) as SQL: it moves whenever the row would show
    differently. The poller compares it from one poll to the next."""
    w = cols.workflow

    def c(name: str) -> str:
        return f"coalesce({quote_ident(name)}::text, '')" if name in w else "''"

    return " || '|' || ".join(
        [
            c("status"),
            c("updated_at"),
            c("recovery_attempts"),
            c("executor_id"),
            c("queue_name"),
            c("deduplication_id"),
        ]
    )
