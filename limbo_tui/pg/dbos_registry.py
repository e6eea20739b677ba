"""Read what a system database says about its DBOS release, queues and app versions.

The release comes from the schema version (dbos_migrations, see dbos_schema.py), else
from the schema's shape. Version-tolerant like queries.py: one catalog query says which
of dbos.queues (2.21+), dbos.application_versions (3.x) and
workflow_status.parent_workflow_id (2.11+) exist,
and each table is read only with the columns it has. Both tables hold one row per queue
or version (a few, never the size of the workflow table), read whole with a bound.
The snapshot reads it in its own transaction, so a resync brings a new queue or version.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

import asyncpg

from limbo_tui.pg.catalog import table_columns
from limbo_tui.pg.dbos_schema import read_with_asyncpg
from limbo_tui.pg.sql_text import quote_ident
from limbo_tui.registry import (
    AppVersion,
    QueueSettings,
    Registry,
    release_from_schema,
    release_of,
)

# Bounds on rows read: a registry of thousands of queues is summarised, not loaded.
MAX_QUEUES = 1_000
MAX_VERSIONS = 200

_QUEUE_COLUMNS = (
    ("concurrency", "concurrency"),
    ("worker_concurrency", "worker_concurrency"),
    ("rate_limit_max", "rate_limit_max"),
    ("rate_limit_period_sec", "rate_limit_period_s"),
    ("priority_enabled", "priority_enabled"),
    ("partition_queue", "partitioned"),
)


class _Row(Protocol):
    def __getitem__(self, key: str) -> Any: ...


def queue_fields(present: Collection[str]) -> str:
    """The queue settings to select, for PostgreSQL and SQLite alike: a column this DBOS
    release does not have reads as NULL."""
    return ", ".join(
        f"{quote_ident(col)} AS {alias}" if col in present else f"NULL AS {alias}"
        for col, alias in _QUEUE_COLUMNS
    )


def has_queue_registry(queue_columns: Collection[str]) -> bool:
    """The database has DBOS's queue registry (3.x's `queues` table)."""
    return "name" in queue_columns


def has_version_registry(version_columns: Collection[str]) -> bool:
    """The database has DBOS's registry of application versions."""
    return {"version_name", "version_timestamp"} <= set(version_columns)


# The newest registered versions first; {table} and {limit} are the driver's.
VERSIONS_SQL = (
    "SELECT version_name, version_timestamp FROM {table} "
    "ORDER BY version_timestamp DESC LIMIT {limit}"
)


def app_version(r: _Row) -> AppVersion:
    """One row selected with VERSIONS_SQL."""
    return AppVersion(r["version_name"], int(r["version_timestamp"] or 0))


def queue_settings(r: _Row) -> QueueSettings:
    """One row selected with queue_fields (an asyncpg Record or a sqlite3.Row)."""
    return QueueSettings(
        name=r["name"],
        concurrency=r["concurrency"],
        worker_concurrency=r["worker_concurrency"],
        rate_limit_max=r["rate_limit_max"],
        rate_limit_period_s=r["rate_limit_period_s"],
        priority_enabled=bool(r["priority_enabled"]),
        partitioned=bool(r["partitioned"]),
    )


async def read_registry(conn: asyncpg.Connection, schema: str) -> Registry:
    columns = await table_columns(
        conn, schema, ("queues", "application_versions", "workflow_status")
    )
    queue_cols = columns.get("queues", frozenset())
    version_cols = columns.get("application_versions", frozenset())
    has_queues = has_queue_registry(queue_cols)
    has_versions = has_version_registry(version_cols)
    schema_version = await read_with_asyncpg(conn, schema)
    first = schema_version.first_release
    if first is not None:
        release = release_of(schema_version.releases, first)
    else:
        release = release_from_schema(
            has_parent_column="parent_workflow_id" in columns.get("workflow_status", ()),
            has_version_registry=has_versions,
        )
    queues: list[QueueSettings] = []
    if has_queues:
        fields = queue_fields(queue_cols)
        for r in await conn.fetch(
            f"SELECT name, {fields} FROM {quote_ident(schema)}.queues ORDER BY name LIMIT $1",
            MAX_QUEUES,
        ):
            queues.append(queue_settings(r))
    versions: list[AppVersion] = []
    if has_versions:
        table = f"{quote_ident(schema)}.application_versions"
        sql = VERSIONS_SQL.format(table=table, limit="$1")
        versions.extend(app_version(r) for r in await conn.fetch(sql, MAX_VERSIONS))
    return Registry(
        release=release,
        queues=tuple(queues),
        versions=tuple(versions),
        has_queue_registry=has_queues,
        has_version_registry=has_versions,
    )
