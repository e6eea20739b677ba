"""Install, remove and inspect limbo-tui's NOTIFY triggers (the SQL is in triggers.sql).

DBOS notifies nothing when a workflow or step row changes, so limbo-tui can add AFTER
INSERT / UPDATE / DELETE statement triggers on `<schema>.workflow_status` and
`<schema>.operation_outputs` that pg_notify one small payload per statement on channel
`limbo_tui_<schema>`. The trigger function lives in limbo-tui's own schema `limbo_tui`,
swallows every error (a DBOS write must never fail because of limbo-tui), goes silent
above QUEUE_LIMIT of the server's NOTIFY queue, and is tagged with a version comment so
that `status` can tell an install of another build.

Cost (bench/sources.py, BENCHMARKS.md): a transaction that sends a notification takes a
server-wide lock through its commit's WAL flush, which costs concurrent writers their
group commit; NOTIFY_COST says so in the consent dialog. Delta polling costs nothing.

Every DDL runs with a short lock_timeout and is retried (install_sql_with_retries): behind
an open transaction on a DBOS table, CREATE / DROP TRIGGER would otherwise wait in the
lock queue and stall every DBOS write queued behind it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg

from limbo_tui.errors import DatabaseError, first_line
from limbo_tui.pg.connect import close_quietly, connect_checked
from limbo_tui.pg.sql_text import quote_ident, quote_literal
from limbo_tui.urls import database_name, validate_schema_name

# Bump when triggers.sql changes in a way an old install must be replaced for.
VERSION_NUMBER = 2
VERSION = f"limbo-tui notify triggers v{VERSION_NUMBER}"
OWN_SCHEMA = "limbo_tui"
FUNCTION = "notify_rows"
# Names of earlier builds' objects, removed by install (replaced) and uninstall.
OLD_FUNCTIONS = ("notify_change",)
OLD_TRIGGERS = ("limbo_tui_notify",)
TRIGGERS = ("limbo_tui_notify_ins", "limbo_tui_notify_upd", "limbo_tui_notify_del")
TABLES = ("workflow_status", "operation_outputs")
# The triggers send nothing once the server's NOTIFY queue is this full.
QUEUE_LIMIT = 0.05
# What live push costs the application: the share of its commit rate it kept, the NOTIFY
# source's median in the run of `python -m bench.sources` that BENCHMARKS.md's table of
# the sources reports (pgbench single-row UPDATEs of workflow_status, 8 clients, fsync and
# synchronous_commit on); quoted by the consent dialog. tests/test_live_push.py checks
# that the table and this say the same figure.
NOTIFY_RATIO_8 = 0.21
NOTIFY_COST = (
    "each committing transaction that notifies takes a server-wide lock through its WAL "
    "flush: measured here with 8 concurrent writers and durable commits, the application "
    f"kept {NOTIFY_RATIO_8:g} of its commit rate (bench.sources; delta polling writes "
    "nothing and adds no lock)"
)
# The queue rows and application versions limbo-tui's worker registers (worker APP_NAME).
APP_NAME = "limbo-tui"
# One lock for every install/uninstall in a database: concurrent installs serialize
# instead of racing on CREATE SCHEMA / CREATE TRIGGER. ("limbo" in ASCII.)
_LOCK_KEY = 0x6C696D626F
_SQL_PATH = Path(__file__).with_name("triggers.sql")
# Payload of the "reload everything" notice (also sent when a payload would be too long).
RESYNC = "resync"
# Each DDL attempt waits at most this long for a lock; then it lets go and retries.
LOCK_TIMEOUT_MS = 200
# Pause between attempts, and how long to go on trying before giving up.
RETRY_PAUSE_S = 0.5
RETRY_FOR_S = 30.0

TriggerState = Literal["installed", "not-installed", "outdated", "other-build"]


class TriggersUnavailable(DatabaseError):
    """The triggers cannot be installed here (no privilege, read-only, replica).

    The CLI prints it (exit 1); the live feed catches it and falls back to polling.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        # Short form for the feed's state line ("no privilege to create triggers").
        self.reason = reason


class LockBusy(TriggersUnavailable):
    """Another session kept a lock on a DBOS table for all of RETRY_FOR_S."""


@dataclass(frozen=True)
class TriggerStatus:
    state: TriggerState
    detail: str
    channel: str
    # The version number found ("v<N>" of the function's comment), when one was.
    found_version: int | None = None

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


def render_install_sql(schema: str) -> str:
    """triggers.sql with the schema, channel and version filled in (all quoted)."""
    validate_schema_name(schema)
    sql = _SQL_PATH.read_text(encoding="utf-8")
    return (
        sql.replace("__DBOS_SCHEMA__", quote_ident(schema))
        .replace("__CHANNEL__", quote_literal(channel_name(schema)))
        .replace("__VERSION__", VERSION.replace("'", "''"))
        .replace("__QUEUE_LIMIT__", repr(float(QUEUE_LIMIT)))
    )


_STATUS_SQL = """
SELECT c.relname AS table_name,
       t.tgname AS trigger_name,
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
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND t.tgname LIKE 'limbo\\_tui\\_notify%'
"""
_VERSION_RE = re.compile(r"^limbo-tui notify triggers v(\d+)$")


def version_number(comment: str | None) -> int | None:
    """N of a 'limbo-tui notify triggers vN' comment, else None."""
    match = _VERSION_RE.match(comment or "")
    return int(match.group(1)) if match else None


async def status(conn: asyncpg.Connection, schema: str) -> TriggerStatus:
    validate_schema_name(schema)
    channel = channel_name(schema)
    rows = await conn.fetch(_STATUS_SQL, schema, list(TABLES))
    if not rows:
        return TriggerStatus("not-installed", f"no limbo-tui triggers on schema {schema}", channel)
    versions = {v for r in rows if (v := version_number(r["fn_comment"])) is not None}
    found = max(versions) if versions else None
    if found is not None and found != VERSION_NUMBER:
        # Another build's triggers (older or newer): they were replaced, not removed.
        return TriggerStatus(
            "other-build",
            f"limbo-tui notify triggers v{found} of another limbo-tui build "
            f"(this build's are v{VERSION_NUMBER})",
            channel,
            found,
        )
    problems: list[str] = []
    by_key = {(r["table_name"], r["trigger_name"]): r for r in rows}
    for table in TABLES:
        for name in TRIGGERS:
            r = by_key.get((table, name))
            if r is None:
                problems.append(f"no trigger {name} on {schema}.{table}")
                continue
            args = [a for a in (r["args"] or "").split("\\000") if a]
            if (r["fn_schema"], r["fn_name"]) != (OWN_SCHEMA, FUNCTION):
                problems.append(f"{schema}.{table} calls {r['fn_schema']}.{r['fn_name']}")
            elif r["fn_comment"] != VERSION:
                problems.append(f"function version {r['fn_comment']!r}, expected {VERSION!r}")
            if args != [channel]:
                problems.append(f"{schema}.{table} notifies {args!r}, expected {channel!r}")
            if r["enabled"] == "D":
                problems.append(f"trigger {name} on {schema}.{table} is disabled")
    if problems:
        return TriggerStatus("outdated", "; ".join(dict.fromkeys(problems)), channel, found)
    return TriggerStatus(
        "installed", f"{VERSION} on schema {schema}, channel {channel}", channel, found
    )


def _unavailable(exc: asyncpg.PostgresError, schema: str) -> TriggersUnavailable:
    first = first_line(exc)
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


WaitReport = Callable[[str], None]


async def lock_holder(conn: asyncpg.Connection, schema: str) -> int | None:
    """A session holding a lock on a DBOS table that our DDL must wait for (the oldest)."""
    pid: int | None = await conn.fetchval(
        """
        SELECT l.pid FROM pg_locks l
        LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.granted AND l.pid <> pg_backend_pid() AND l.locktype = 'relation'
          AND l.relation = ANY(ARRAY[to_regclass(format('%I.workflow_status', $1::text)),
                                     to_regclass(format('%I.operation_outputs', $1::text))])
        ORDER BY a.xact_start NULLS LAST LIMIT 1
        """,
        schema,
    )
    return pid


async def run_ddl(
    conn: asyncpg.Connection,
    schema: str,
    body: Callable[[], object],
    on_wait: WaitReport | None = None,
    retry_for_s: float = RETRY_FOR_S,
) -> None:
    """Run `body` (an async function doing DDL) in one transaction with a short
    lock_timeout; while a lock is busy let go, say who holds it, and try again.

    Waiting in PostgreSQL's lock queue would make every later DBOS write on the table
    queue behind us: the application stalls for as long as the other transaction lasts.
    With a lock_timeout of LOCK_TIMEOUT_MS the stall is bounded by that."""
    deadline = time.monotonic() + retry_for_s
    while True:
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                await body()  # type: ignore[misc]
            return
        except asyncpg.LockNotAvailableError:
            pid = await lock_holder(conn, schema)
            who = f"pid {pid}" if pid is not None else "another session"
            if time.monotonic() >= deadline:
                raise LockBusy(
                    f"gave up after {retry_for_s:g} s waiting for a lock on {schema}'s tables "
                    f"held by {who} (a long transaction?): retry when it has finished",
                    f"a lock held by {who}",
                ) from None
            if on_wait is not None:
                on_wait(f"waiting for a lock held by {who}")
            await asyncio.sleep(RETRY_PAUSE_S)


async def install(
    conn: asyncpg.Connection,
    schema: str,
    *,
    on_wait: WaitReport | None = None,
    retry_for_s: float = RETRY_FOR_S,
) -> TriggerStatus:
    """Install (or update) the triggers; a no-op when the current version is in place.

    One transaction under an advisory lock: idempotent and safe when two limbo-tui
    instances install at once. Raises TriggersUnavailable when the role may not, or
    another build's newer triggers are there (they are left alone: two builds must not
    take turns replacing each other's).
    """
    current = await status(conn, schema)
    if current.installed:
        return current  # no write at all: works for roles that could not install
    _refuse_newer(current)
    sql = render_install_sql(schema)

    async def body() -> None:
        # Another instance may have finished while we waited for the lock.
        again = await status(conn, schema)
        if again.installed:
            return
        _refuse_newer(again)
        await conn.execute(sql)

    try:
        await run_ddl(conn, schema, body, on_wait, retry_for_s)
    except LockBusy:
        raise
    except asyncpg.PostgresError as exc:
        raise _unavailable(exc, schema) from None
    return await status(conn, schema)


def _refuse_newer(current: TriggerStatus) -> None:
    if current.found_version is not None and current.found_version > VERSION_NUMBER:
        raise TriggersUnavailable(
            f"a newer limbo-tui build installed its triggers (v{current.found_version}); "
            f"this build (v{VERSION_NUMBER}) leaves them in place: use that build, or run "
            "its `limbo-tui triggers uninstall` first",
            f"triggers replaced by a newer limbo-tui build (v{current.found_version})",
        )


async def uninstall(
    conn: asyncpg.Connection,
    schema: str,
    *,
    on_wait: WaitReport | None = None,
    retry_for_s: float = RETRY_FOR_S,
) -> list[str]:
    """Remove everything limbo-tui ever created in this database: its triggers on
    `schema` (of any build), then its function and schema when nothing else uses them,
    and the queue rows and application versions its worker registered. Returns what was
    removed (empty: there was nothing)."""
    validate_schema_name(schema)
    q = quote_ident(schema)
    removed: list[str] = []

    async def body() -> None:
        removed.clear()
        names = [*TRIGGERS, *OLD_TRIGGERS]
        for table in TABLES:
            present = await conn.fetch(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname = ANY($3::text[])",
                schema,
                table,
                names,
            )
            for r in present:
                await conn.execute(
                    f"DROP TRIGGER IF EXISTS {quote_ident(r[0])} ON {q}.{quote_ident(table)}"
                )
            if present:
                removed.append(f"{len(present)} triggers on {schema}.{table}")
        for fn_name in (FUNCTION, *OLD_FUNCTIONS):
            fn = await conn.fetchval("SELECT to_regprocedure($1)::oid", f"{OWN_SCHEMA}.{fn_name}()")
            if fn is None:
                continue
            users = await conn.fetchval(
                "SELECT count(*) FROM pg_trigger WHERE tgfoid = $1::oid", fn
            )
            if users == 0:
                await conn.execute(f"DROP FUNCTION {OWN_SCHEMA}.{fn_name}()")
                removed.append(f"function {OWN_SCHEMA}.{fn_name}")
        has_schema = await conn.fetchval(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1", OWN_SCHEMA
        )
        if has_schema:
            try:
                # RESTRICT: only when empty (another schema's triggers keep it).
                async with conn.transaction():
                    await conn.execute(f"DROP SCHEMA {OWN_SCHEMA} RESTRICT")
                removed.append(f"schema {OWN_SCHEMA}")
            except asyncpg.DependentObjectsStillExistError:
                pass
        for table, what in (("queues", "queue rows"), ("application_versions", "versions")):
            owned = await conn.fetchval(
                "SELECT count(*) FROM pg_attribute a WHERE a.attrelid = "
                "to_regclass(format('%I.%I', $1::text, $2::text)) "
                "AND a.attname = 'application_name' AND NOT a.attisdropped",
                schema,
                table,
            )
            if owned:
                status_text = await conn.execute(
                    f"DELETE FROM {q}.{quote_ident(table)} WHERE application_name = $1",
                    APP_NAME,
                )
                count = int(status_text.rsplit(" ", 1)[-1])
                if count:
                    removed.append(f"{count} {what} of limbo-tui's worker in {schema}.{table}")

    try:
        await run_ddl(conn, schema, body, on_wait, retry_for_s)
    except LockBusy:
        raise
    except asyncpg.PostgresError as exc:
        first = first_line(exc)
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


def _say_wait(line: str) -> None:
    import sys

    print(f"limbo-tui: {line}", file=sys.stderr, flush=True)


async def _run(url: str, schema: str, action: str) -> str:
    conn = await connect_checked(url, schema)
    try:
        db = database_name(url)
        if action == "status":
            st = await status(conn, schema)
            if st.state == "installed":
                return f"installed: {st.detail}"
            if st.state in ("outdated", "other-build"):
                return f"{st.state}: {st.detail}; run `limbo-tui triggers install` to update"
            return f"not installed in database {db}: run `limbo-tui triggers install`"
        if action == "install":
            before = await status(conn, schema)
            after = await install(conn, schema, on_wait=_say_wait)
            if before.installed:
                return f"already installed: {after.detail}"
            if before.state == "other-build":
                return f"replaced v{before.found_version} of another build: {after.detail}"
            verb = "updated" if before.state == "outdated" else "installed"
            return f"{verb}: {after.detail}"
        removed = await uninstall(conn, schema, on_wait=_say_wait)
        if removed:
            return (
                f"uninstalled: from database {db}: {', '.join(removed)}; nothing of "
                "limbo-tui is left"
            )
        return f"nothing to uninstall: nothing of limbo-tui in schema {schema} of database {db}"
    finally:
        await close_quietly(conn)
