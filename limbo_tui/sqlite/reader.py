"""Reads of a DBOS 3.x SQLite system database (`sqlite:///app.sqlite`), as model rows.

The application owns the file. limbo-tui opens it read-only (`mode=ro` URI plus
`PRAGMA query_only`), never starts a write transaction (no BEGIN IMMEDIATE, nothing
that takes a RESERVED lock), keeps each read transaction to a few milliseconds and waits
at most BUSY_TIMEOUT_MS for a lock: a writer that holds the file makes limbo-tui retry
later, never the other way round (DBOS's own connections wait up to 30 s).

The tables are PostgreSQL's (same names and columns, in the main schema), so the SELECT
lists come from pg/queries; the snapshot scope is the same too: every live workflow,
the most recent finished families, their whole families, their steps.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from limbo_tui.backlog import FIRST_LOADED, GROUP_MIN
from limbo_tui.errors import DatabaseError
from limbo_tui.model import ENQUEUED, LIVE_STATUSES, GroupTotal, Row, Step, Totals, Workflow
from limbo_tui.pg import queries
from limbo_tui.pg.dbos_registry import (
    MAX_QUEUES,
    MAX_VERSIONS,
    VERSIONS_SQL,
    app_version,
    has_queue_registry,
    has_version_registry,
    queue_fields,
    queue_settings,
)
from limbo_tui.pg.queries import MAX_FAMILY, MAX_LIVE, Columns
from limbo_tui.registry import DBOS_3, AppVersion, QueueSettings, Registry

# How long a read waits for a writer's lock before giving up (and trying again later).
BUSY_TIMEOUT_MS = 50
SCHEMA = "main"


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection, or a DatabaseError naming the file and the fix."""
    if not path.is_file():
        raise DatabaseError(
            f"SQLite database {path} does not exist: start the DBOS app once (it creates "
            "it), or point --db-url at its system database (sqlite:///app.sqlite)"
        )
    uri = "file:" + _uri_path(path) + "?mode=ro"
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # no implicit BEGIN: every statement is its own read
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = 1")
        check_tables(conn, path)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot read SQLite database {path}: {exc}") from None
    return conn


def _uri_path(path: Path) -> str:
    return quote(str(path.resolve()), safe="/")


def check_tables(conn: sqlite3.Connection, path: Path) -> None:
    names = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('workflow_status', 'operation_outputs')"
        )
    }
    if "workflow_status" not in names:
        raise DatabaseError(
            f"{path} has no DBOS tables (workflow_status): point --db-url at a DBOS system database"
        )
    if "operation_outputs" not in names:
        raise DatabaseError(
            f"{path} has workflow_status but no operation_outputs: it is not a complete "
            "DBOS system database"
        )


def probe(conn: sqlite3.Connection) -> Columns:
    def columns(table: str) -> frozenset[str]:
        return frozenset(r["name"] for r in conn.execute(f"PRAGMA table_info({table})"))

    return Columns(
        schema=SCHEMA,
        workflow=columns("workflow_status"),
        steps=columns("operation_outputs"),
        input_table="inputs" in columns("workflow_input"),
        output_table={"output", "error"} <= columns("workflow_output"),
    )


@contextmanager
def read(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One consistent read: a DEFERRED transaction holds only a SHARED lock, released at
    the end (a writer's commit waits for it, so it must be short)."""
    conn.execute("BEGIN DEFERRED")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def _ids(values: Iterable[str]) -> str:
    return json.dumps(list(dict.fromkeys(values)))


def fetch_workflows(conn: sqlite3.Connection, cols: Columns, ids: Iterable[str]) -> list[Workflow]:
    sql = f"{queries._ws_select(cols)} WHERE ws.workflow_uuid IN (SELECT value FROM json_each(?))"
    return [queries.workflow_from_record(r) for r in conn.execute(sql, (_ids(ids),))]


def fetch_steps(conn: sqlite3.Connection, cols: Columns, workflow_ids: Iterable[str]) -> list[Step]:
    sql = (
        f"{queries._oo_select(cols)} WHERE o.workflow_uuid IN (SELECT value FROM json_each(?)) "
        "ORDER BY 1, 2"
    )
    return [queries.step_from_record(r) for r in conn.execute(sql, (_ids(workflow_ids),))]


def live_ids(
    conn: sqlite3.Connection,
    cols: Columns,
    totals: Totals | None = None,
    opened: Mapping[str, int] | None = None,
) -> list[str]:
    """queries.live_ids on the SQLite file: at most MAX_LIVE per status, newest first; of
    a queue the tree summarizes (GROUP_MIN or more ENQUEUED counted in `totals`), only
    its newest FIRST_LOADED and the `opened` rows the user read page by page."""
    has_created = "created_at" in cols.workflow
    order = "ORDER BY created_at DESC" if has_created else ""
    by_page = "ORDER BY created_at DESC, workflow_uuid DESC" if has_created else ""
    summarized = {
        g.queue: min(g.count, FIRST_LOADED + (opened or {}).get(g.queue, 0))
        for g in (totals.groups if totals is not None and "queue_name" in cols.workflow else ())
        if g.status == ENQUEUED and g.queue is not None and g.count >= GROUP_MIN
    }
    out: list[str] = []
    for status in LIVE_STATUSES:
        apart = ""
        params: tuple[object, ...] = (status, MAX_LIVE)
        if status == ENQUEUED and summarized:
            apart = "AND coalesce(queue_name, '') NOT IN (SELECT value FROM json_each(?))"
            params = (status, _ids(summarized), MAX_LIVE)
        out += [
            r[0]
            for r in conn.execute(
                f"SELECT workflow_uuid FROM workflow_status WHERE status = ? {apart} "
                f"{order} LIMIT ?",
                params,
            )
        ]
    for queue, n in summarized.items():
        out += [
            r[0]
            for r in conn.execute(
                "SELECT workflow_uuid FROM workflow_status WHERE status = 'ENQUEUED' "
                f"AND queue_name = ? {by_page} LIMIT ?",
                (queue, n),
            )
        ]
    return out


def backlog_page(
    conn: sqlite3.Connection, cols: Columns, queue: str, older_than: tuple[int, str], limit: int
) -> list[Row]:
    """queries.backlog_page on the SQLite file: the next `limit` ENQUEUED workflows of
    `queue` older than (created_at, id), newest first, with their steps."""
    if "created_at" not in cols.workflow or "queue_name" not in cols.workflow:
        return []
    with read(conn):
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT workflow_uuid FROM workflow_status WHERE status = 'ENQUEUED' "
                "AND queue_name = ? AND (created_at, workflow_uuid) < (?, ?) "
                "ORDER BY created_at DESC, workflow_uuid DESC LIMIT ?",
                (queue, older_than[0], older_than[1], limit),
            )
        ]
        workflows = fetch_workflows(conn, cols, ids)
        steps = fetch_steps(conn, cols, [w.id for w in workflows])
    place = {wid: i for i, wid in enumerate(ids)}
    return [*sorted(workflows, key=lambda w: place[w.id]), *steps]


def recent_finished_roots(conn: sqlite3.Connection, cols: Columns, limit: int) -> list[str]:
    if limit <= 0:
        return []
    top = "AND parent_workflow_id IS NULL" if cols.has_parent else ""
    order = "ORDER BY created_at DESC" if "created_at" in cols.workflow else ""
    marks = ", ".join("?" for _ in LIVE_STATUSES)
    rows = conn.execute(
        f"SELECT workflow_uuid FROM workflow_status WHERE coalesce(status, '') NOT IN "
        f"({marks}) {top} {order} LIMIT ?",
        (*LIVE_STATUSES, limit),
    )
    return [r[0] for r in rows]


def family_ids(conn: sqlite3.Connection, cols: Columns, seeds: Iterable[str]) -> list[str]:
    """seeds, their ancestors and all their descendants (a bounded recursive CTE over the
    parent index and the parents' child-call rows)."""
    parent_up = (
        "UNION SELECT w.parent_workflow_id FROM up JOIN workflow_status w "
        "ON w.workflow_uuid = up.id WHERE w.parent_workflow_id IS NOT NULL"
        if cols.has_parent
        else ""
    )
    parent_down = (
        "UNION SELECT w.workflow_uuid FROM down JOIN workflow_status w "
        "ON w.parent_workflow_id = down.id"
        if cols.has_parent
        else ""
    )
    sql = f"""
    WITH RECURSIVE
    up(id) AS (SELECT value FROM json_each(?) {parent_up}),
    down(id) AS (
        SELECT id FROM up
        UNION SELECT o.child_workflow_id FROM down JOIN operation_outputs o
            ON o.workflow_uuid = down.id WHERE o.child_workflow_id IS NOT NULL
        {parent_down}
    )
    SELECT id FROM down LIMIT ?
    """
    return [r[0] for r in conn.execute(sql, (_ids(seeds), MAX_FAMILY))]


def live_totals(conn: sqlite3.Connection, cols: Columns) -> Totals:
    """The true counts (see pg/queries.live_totals), through the same partial indexes."""
    queue = "queue_name" if "queue_name" in cols.workflow else "NULL"
    created = "created_at" if "created_at" in cols.workflow else "NULL"
    groups: list[GroupTotal] = []
    for status in LIVE_STATUSES:
        for q, n, oldest, newest in conn.execute(
            f"SELECT {queue}, count(*), min({created}), max({created}) FROM workflow_status "
            "WHERE status = ? GROUP BY 1",
            (status,),
        ):
            groups.append(GroupTotal(status, q, int(n), oldest, newest))
    total, now_ms = conn.execute(
        "SELECT count(*), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) "
        "FROM workflow_status"
    ).fetchone()
    groups.sort(key=lambda g: (g.status, g.queue or ""))
    return Totals(workflows=int(total or 0), groups=tuple(groups), counted_at_ms=int(now_ms))


def read_registry(conn: sqlite3.Connection) -> Registry:
    """What pg/dbos_registry reads, from the file: SQLite system databases exist only
    since DBOS 3.x, so the release is 3.x; queues and versions as registered there."""

    def columns(table: str) -> set[str]:
        return {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}

    queue_cols, version_cols = columns("queues"), columns("application_versions")
    has_queues = has_queue_registry(queue_cols)
    has_versions = has_version_registry(version_cols)
    queues: list[QueueSettings] = []
    if has_queues:
        fields = queue_fields(queue_cols)
        for r in conn.execute(
            f"SELECT name, {fields} FROM queues ORDER BY name LIMIT ?", (MAX_QUEUES,)
        ):
            queues.append(queue_settings(r))
    versions: list[AppVersion] = []
    if has_versions:
        sql = VERSIONS_SQL.format(table="application_versions", limit="?")
        versions.extend(app_version(r) for r in conn.execute(sql, (MAX_VERSIONS,)))
    return Registry(
        release=DBOS_3,
        queues=tuple(queues),
        versions=tuple(versions),
        has_queue_registry=has_queues,
        has_version_registry=has_versions,
    )


def snapshot(
    conn: sqlite3.Connection,
    cols: Columns,
    finished_families: int,
    opened: Mapping[str, int] | None = None,
) -> list[Row]:
    with read(conn):
        registry = read_registry(conn)
        totals = live_totals(conn, cols)
        seeds = live_ids(conn, cols, totals, opened)
        seeds += recent_finished_roots(conn, cols, finished_families)
        ids = family_ids(conn, cols, seeds)
        workflows = fetch_workflows(conn, cols, ids)
        steps = fetch_steps(conn, cols, [w.id for w in workflows])
    rows: list[Row] = [registry]
    rows.extend(workflows)
    rows.extend(steps)
    rows.append(totals)
    return rows
