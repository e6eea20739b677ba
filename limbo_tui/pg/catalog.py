"""Which columns a schema's tables have: the one catalog read behind every
version-tolerant query (queries.probe, dbos_registry.read_registry)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from limbo_tui.urls import validate_schema_name


async def table_columns(
    conn: asyncpg.Connection, schema: str, tables: Sequence[str]
) -> dict[str, frozenset[str]]:
    """table -> its column names, for each of `tables` that exists in `schema` (a table
    that does not is absent: an older DBOS never made it)."""
    validate_schema_name(schema)
    rows = await conn.fetch(
        """
        SELECT c.relname AS table_name, a.attname AS column_name
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relname = ANY($2::text[])
        """,
        schema,
        list(tables),
    )
    by_table: dict[str, set[str]] = {}
    for r in rows:
        by_table.setdefault(r["table_name"], set()).add(r["column_name"])
    return {table: frozenset(names) for table, names in by_table.items()}
