"""The max_recovery_attempts each workflow was dispatched with, kept in a lab database.

DBOS stores no maximum: it reads the function's registration at each dispatch. limbo-tui
sees its own worker dispatch a workflow (WorkflowGraph.worker_registered) and keeps what
that worker had registered, so that a later session, run with another [experiment]
config, still shows an old workflow's own maximum. One table in limbo-tui's own schema
(pg/triggers.OWN_SCHEMA), written only in a lab that may be written (never on a
monitor's database, never with --read-only); read wherever it exists (a SELECT).

Blocking (load: asyncpg in its own loop; save: psycopg, a lab only): the worker's poll
thread calls these, never the UI loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from limbo_tui.errors import one_line
from limbo_tui.model import RegisteredMax
from limbo_tui.pg.connect import connect
from limbo_tui.pg.sql_text import quote_ident
from limbo_tui.pg.triggers import OWN_SCHEMA
from limbo_tui.settings import Settings
from limbo_tui.urls import is_sqlite

log = logging.getLogger(__name__)

TABLE = "registered_max"
_QUALIFIED = f"{quote_ident(OWN_SCHEMA)}.{quote_ident(TABLE)}"

_CREATE = f"""
CREATE SCHEMA IF NOT EXISTS {quote_ident(OWN_SCHEMA)};
CREATE TABLE IF NOT EXISTS {_QUALIFIED} (
    dbos_schema text NOT NULL,
    workflow_uuid text NOT NULL,
    max_recovery_attempts integer NOT NULL,
    recovery_attempts integer NOT NULL,
    executor_id text NOT NULL,
    PRIMARY KEY (dbos_schema, workflow_uuid)
)
"""

_UPSERT = f"""
INSERT INTO {_QUALIFIED}
    (dbos_schema, workflow_uuid, max_recovery_attempts, recovery_attempts, executor_id)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (dbos_schema, workflow_uuid) DO UPDATE SET
    max_recovery_attempts = EXCLUDED.max_recovery_attempts,
    recovery_attempts = EXCLUDED.recovery_attempts,
    executor_id = EXCLUDED.executor_id
"""

# Two limbo-tui on one lab may create the table at once: CREATE ... IF NOT EXISTS still
# races in the catalog, so creation is serialised ("limboreg" in ASCII).
_CREATE_LOCK_KEY = 0x6C696D626F726567
# (url, table) pairs this process made sure of: the DDL runs once per process.
_made: set[str] = set()


def load(url: str, dbos_schema: str) -> dict[str, RegisteredMax]:
    """{workflow id: what it was dispatched with}; {} where nothing was ever kept.

    Read through asyncpg, which every session has loaded already: a monitor
    (`--worker none`) must not pay psycopg's import for a table only a lab writes. Call
    it from a thread or a sync command, never from inside a running event loop."""
    return asyncio.run(_load(url, dbos_schema))


async def _load(url: str, dbos_schema: str) -> dict[str, RegisteredMax]:
    conn = await connect(url)
    try:
        present = await conn.fetchval("SELECT to_regclass($1)::text", f"{OWN_SCHEMA}.{TABLE}")
        if present is None:
            return {}
        rows = await conn.fetch(
            f"SELECT workflow_uuid, max_recovery_attempts, recovery_attempts, executor_id "
            f"FROM {_QUALIFIED} WHERE dbos_schema = $1",
            dbos_schema,
        )
    finally:
        await conn.close()
    return {str(r[0]): RegisteredMax(int(r[1]), int(r[2]), str(r[3])) for r in rows}


def save(url: str, dbos_schema: str, seen: Mapping[str, RegisteredMax]) -> None:
    """Keep these (one transaction; the newest dispatch of a workflow wins)."""
    if not seen:
        return
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        if url not in _made:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK_KEY,))
                conn.execute(_CREATE)
            _made.add(url)
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                _UPSERT,
                [
                    (dbos_schema, wid, r.max_recovery_attempts, r.recovery_attempts, r.executor_id)
                    for wid, r in seen.items()
                ],
            )


def registered_history(url: str, settings: Settings) -> dict[str, RegisteredMax]:
    """load() for any session; {} on SQLite (no worker of ours runs there) or a failure
    (the history is a display aid: it never stops the monitor)."""
    if is_sqlite(url):
        return {}
    try:
        return load(url, settings.database.schema)
    except Exception as exc:
        # The feed says itself when the database is unreachable; this is a display aid.
        log.debug("could not read the kept max_recovery_attempts: %s", one_line(exc))
        return {}


def keep_registered(url: str, settings: Settings, seen: Mapping[str, RegisteredMax]) -> None:
    """save() in a lab that may be written; nowhere else, and a failure is logged."""
    if not seen or not settings.lab or settings.read_only or is_sqlite(url):
        return
    try:
        save(url, settings.database.schema, seen)
    except Exception as exc:
        log.warning("could not keep max_recovery_attempts: %s", one_line(exc))
