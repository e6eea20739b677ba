"""Install, remove and inspect limbo-tui's NOTIFY triggers (the SQL is in triggers.sql).

DBOS notifies nothing when a workflow or step row changes, so limbo-tui adds AFTER
INSERT/UPDATE/DELETE row triggers on `<schema>.workflow_status` and
`<schema>.operation_outputs` that pg_notify a tiny payload on channel `limbo_tui_<schema>`.
The trigger function lives in limbo-tui's own schema `limbo_tui`, swallows every error
(a DBOS write must never fail because of limbo-tui) and is tagged with a version comment
so that `status` can tell an outdated install.

Every UPDATE notifies, even one that changes only updated_at: comparing whole rows in
the trigger costs more than a coalesced refetch on the listener's side, and a row-compare
on column types without equality would throw (and so degrade to resync notices).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg

from limbo_tui.errors import DatabaseError
from limbo_tui.pg.connect import close_quietly, connect_checked
from limbo_tui.urls import database_name, validate_schema_name

# Bump when triggers.sql changes in a way an old install must be replaced for.
VERSION = "limbo-tui notify triggers v1"
OWN_SCHEMA = "limbo_tui"
FUNCTION = "notify_change"
TRIGGER_NAME = "limbo_tui_notify"
TABLES = ("workflow_status", "operation_outputs")
# One lock for every install/uninstall in a database: concurrent installs serialize
# instead of racing on CREATE SCHEMA / CREATE TRIGGER. ("limbo" in ASCII.)
_LOCK_KEY = 0x6C696D626F
_SQL_PATH = Path(__file__).with_name("triggers.sql")
# Payload of the "reload everything" notice (also sent when a payload would be too long).
RESYNC = "resync"

TriggerState = Literal["installed", "not-installed", "outdated"]


class TriggersUnavailable(DatabaseError):
    """The triggers cannot be installed here (no privilege, read-only, replica).

    The CLI prints it (exit 1); the live feed catches it and falls back to polling.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        # Short form for the feed's state line ("no privilege to create triggers").
        self.reason = reason


@dataclass(frozen=True)
class TriggerStatus:
    state: TriggerState
    detail: str
    channel: str

    @property
    def installed(self) -> bool:
        return self.state == "installed"


def channel_name(schema: str) -> str:
    """The NOTIFY channel for a DBOS schema; at most 63 bytes (longer names are cut)."""
    validate_schema_name(schema)
    name = f"limbo_tui_{schema}"
    if len(name) <= 63:
        return name
    digest = hashlib.md5(schema.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"limbo_tui_{schema[:40]}_{digest}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render_install_sql(schema: str) -> str:
    """triggers.sql with the schema, channel and version filled in (all quoted)."""
    validate_schema_name(schema)
    sql = _SQL_PATH.read_text(encoding="utf-8")
    return (
        sql.replace("__DBOS_SCHEMA__", _quote_ident(schema))
        .replace("__CHANNEL__", _quote_literal(channel_name(schema)))
        .replace("__VERSION__", VERSION.replace("'", "''"))
    )


_STATUS_SQL = """
SELECT c.relname AS table_name,
       t.tgenabled AS enabled,
       encode(t.tgargs, 'escape') AS args,
       pn.nspname AS fn_schema,
       p.proname AS fn_name,
       obj_description(p.oid, 'pg_proc') AS fn_comment
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND t.tgname = $3
"""


async def status(conn: asyncpg.Connection, schema: str) -> TriggerStatus:
    validate_schema_name(schema)
    channel = channel_name(schema)
    rows = await conn.fetch(_STATUS_SQL, schema, list(TABLES), TRIGGER_NAME)
    if not rows:
        return TriggerStatus("not-installed", f"no limbo-tui triggers on schema {schema}", channel)
    problems: list[str] = []
    found = {r["table_name"]: r for r in rows}
    for table in TABLES:
        r = found.get(table)
        if r is None:
            problems.append(f"no trigger on {schema}.{table}")
            continue
        args = [a for a in (r["args"] or "").split("\\000") if a]
        if (r["fn_schema"], r["fn_name"]) != (OWN_SCHEMA, FUNCTION):
            problems.append(f"{schema}.{table} calls {r['fn_schema']}.{r['fn_name']}")
        elif r["fn_comment"] != VERSION:
            problems.append(f"function version {r['fn_comment']!r}, expected {VERSION!r}")
        if args != [channel]:
            problems.append(f"{schema}.{table} notifies {args!r}, expected {channel!r}")
        if r["enabled"] == "D":
            problems.append(f"trigger on {schema}.{table} is disabled")
    if problems:
        return TriggerStatus("outdated", "; ".join(dict.fromkeys(problems)), channel)
    return TriggerStatus("installed", f"{VERSION} on schema {schema}, channel {channel}", channel)


def _unavailable(exc: asyncpg.PostgresError, schema: str) -> TriggersUnavailable:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        reason = "no privilege to create triggers"
        fix = (
            f"run `limbo-tui triggers install` once as the owner of {schema}.workflow_status "
            "(needs CREATE on the database and TRIGGER on the tables)"
        )
    elif isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        reason = "read-only database"
        fix = "install them on the primary: `limbo-tui triggers install --db-url <primary>`"
    else:
        reason = f"cannot install triggers ({first})"
        fix = "check the server log, or run `limbo-tui triggers install` as the schema owner"
    return TriggersUnavailable(f"cannot install limbo-tui triggers: {first}; {fix}", reason)


async def install(conn: asyncpg.Connection, schema: str) -> TriggerStatus:
    """Install (or update) the triggers; a no-op when the current version is in place.

    One transaction under an advisory lock: idempotent and safe when two limbo-tui
    instances install at once. Raises TriggersUnavailable when the role may not.
    """
    current = await status(conn, schema)
    if current.installed:
        return current  # no write at all: works for roles that could not install
    sql = render_install_sql(schema)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            # Another instance may have finished while we waited for the lock.
            if (await status(conn, schema)).installed:
                return await status(conn, schema)
            await conn.execute(sql)
    except asyncpg.PostgresError as exc:
        raise _unavailable(exc, schema) from None
    return await status(conn, schema)


async def uninstall(conn: asyncpg.Connection, schema: str) -> bool:
    """Remove the triggers of `schema`; then the function and schema when nothing else
    uses them. Returns True when there was something to remove."""
    validate_schema_name(schema)
    q = _quote_ident(schema)
    removed = False
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            for table in TABLES:
                exists = await conn.fetchval(
                    "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname = $3",
                    schema,
                    table,
                    TRIGGER_NAME,
                )
                if exists:
                    await conn.execute(
                        f"DROP TRIGGER IF EXISTS {TRIGGER_NAME} ON {q}.{_quote_ident(table)}"
                    )
                    removed = True
            fn = await conn.fetchval(
                "SELECT to_regprocedure($1)::oid", f"{OWN_SCHEMA}.{FUNCTION}()"
            )
            if fn is not None:
                users = await conn.fetchval(
                    "SELECT count(*) FROM pg_trigger WHERE tgfoid = $1::oid", fn
                )
                if users == 0:
                    await conn.execute(f"DROP FUNCTION {OWN_SCHEMA}.{FUNCTION}()")
                    removed = True
            has_schema = await conn.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", OWN_SCHEMA
            )
            if has_schema:
                try:
                    # RESTRICT: only when empty (another schema's triggers keep it).
                    async with conn.transaction():
                        await conn.execute(f"DROP SCHEMA {OWN_SCHEMA} RESTRICT")
                    removed = True
                except asyncpg.DependentObjectsStillExistError:
                    pass
    except asyncpg.PostgresError as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise TriggersUnavailable(
            f"cannot remove limbo-tui triggers: {first}; run `limbo-tui triggers uninstall` "
            "as the role that installed them",
            "cannot remove triggers",
        ) from None
    return removed


def run_triggers_command(url: str, schema: str, action: str) -> int:
    """`limbo-tui triggers install|uninstall|status`: one line on stdout, exit 0.

    Errors are raised as LimboError (the CLI prints them: exit 1 database, 2 usage).
    """
    validate_schema_name(schema)
    if action not in ("install", "uninstall", "status"):
        from limbo_tui.errors import ConfigError

        raise ConfigError(f"unknown triggers action {action!r}: use install, uninstall or status")
    line = asyncio.run(_run(url, schema, action))
    print(line, flush=True)
    return 0


async def _run(url: str, schema: str, action: str) -> str:
    conn = await connect_checked(url, schema)
    try:
        db = database_name(url)
        if action == "status":
            st = await status(conn, schema)
            if st.state == "installed":
                return f"installed: {st.detail}"
            if st.state == "outdated":
                return f"outdated: {st.detail}; run `limbo-tui triggers install` to update"
            return f"not installed in database {db}: run `limbo-tui triggers install`"
        if action == "install":
            before = await status(conn, schema)
            after = await install(conn, schema)
            if before.installed:
                return f"already installed: {after.detail}"
            verb = "updated" if before.state == "outdated" else "installed"
            return f"{verb}: {after.detail}"
        removed = await uninstall(conn, schema)
        if removed:
            return f"uninstalled: no limbo-tui triggers left on schema {schema} in database {db}"
        return f"nothing to uninstall: no limbo-tui triggers on schema {schema} in database {db}"
    finally:
        await close_quietly(conn)
