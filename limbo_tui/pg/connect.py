"""Opening asyncpg connections with errors a user can act on.

Every way a connection can fail is turned into one DatabaseError line (exit status 1) that
names the problem and the fix, and shows the URL only through urls.mask (never a password).
"""

from __future__ import annotations

import asyncio
import socket

import asyncpg

from limbo_tui.errors import DatabaseError, first_line
from limbo_tui.urls import (
    asyncpg_dsn,
    database_name,
    has_password,
    mask,
    params,
    server_list,
    user_name,
    validate_schema_name,
)


def describe_server(url: str) -> str:
    """'host:port' (every host of a failover list) or the unix socket directory."""
    return server_list(url)


def _password_hint(url: str) -> str:
    if has_password(url):
        return "fix the password in the connection string or $PGPASSWORD"
    return (
        "no password was given: put it in the connection string, $PGPASSWORD or "
        "~/.pgpass ($PGPASSFILE), or in the service's entry"
    )


def connection_error(url: str, exc: BaseException) -> DatabaseError:
    """Map a connect-time exception to a one-line DatabaseError."""
    where = describe_server(url)
    shown = mask(url)
    db = database_name(url)
    if isinstance(exc, asyncpg.InvalidPasswordError):
        wrong = "wrong password" if has_password(url) else "password required"
        return DatabaseError(
            f"login refused for user {user_name(url)!r} at {where} ({wrong}): "
            f"{_password_hint(url)} ({shown})"
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return DatabaseError(
            f"database {db!r} does not exist on {where}: create it (DBOS does on first "
            f"launch) or point --db-url at the DBOS system database ({shown})"
        )
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        # pg_hba rejection, unknown role, "role is not permitted to log in".
        first = first_line(exc)
        return DatabaseError(
            f"login refused for user {user_name(url)!r} at {where}: {first}; "
            f"check the user name and the server's pg_hba.conf ({shown})"
        )
    if isinstance(exc, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return DatabaseError(
            f"database server at {where} does not accept connections now ({exc}): "
            "retry when it is up, or check max_connections"
        )
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return DatabaseError(
            f"cannot reach the database server at {where}: timed out; check the host, "
            f"port and firewall ({shown})"
        )
    if isinstance(exc, socket.gaierror):
        return DatabaseError(
            f"cannot reach the database server at {where}: unknown host; check the host "
            f"name in the database URL ({shown})"
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return DatabaseError(
            f"cannot reach the database server at {where}: {reason}; check that PostgreSQL "
            f"runs there and the host and port are right ({shown})"
        )
    if isinstance(exc, asyncpg.PostgresError):
        first = first_line(exc)
        return DatabaseError(f"database at {where} refused the connection: {first} ({shown})")
    first = first_line(exc)
    return DatabaseError(f"cannot connect to the database at {where}: {first} ({shown})")


# PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost on every
# new connection: 0.4-1.1 s for the family query of a snapshot that takes 36 ms without
# it. Nothing limbo-tui runs is long enough to win that back.
SESSION_SETTINGS: dict[str, str] = {"application_name": "limbo-tui", "jit": "off"}
# Poolers refuse startup parameters they do not know (PgBouncer: "unsupported startup
# parameter: jit"). Servers known to refuse get the plain settings at once next time;
# read transactions turn JIT off with SET LOCAL there (see jit_off_in_transaction).
_REFUSES_JIT: set[str] = set()


def connect_timeout(url: str, default: float) -> float:
    """The URL's connect_timeout as libpq reads it (seconds, at least 2), else `default`
    (libpq's 0, wait forever, is not offered: a start would never say why it waits)."""
    try:
        seconds = int(params(url).get("connect_timeout", ""))
    except ValueError:
        return default
    return float(max(seconds, 2)) if seconds > 0 else default


async def connect(url: str, *, timeout: float = 10) -> asyncpg.Connection:
    """A plain (unpooled) asyncpg connection, or a DatabaseError naming the fix. A
    connect_timeout in the URL replaces `timeout`."""
    dsn = asyncpg_dsn(url)
    timeout = connect_timeout(url, timeout)

    async def attempt(settings: dict[str, str]) -> asyncpg.Connection:
        return await asyncpg.connect(
            dsn,
            timeout=timeout,
            # No prepared-statement cache surprises behind pgbouncer; our statements are few.
            statement_cache_size=0,
            server_settings=settings,
        )

    plain = {k: v for k, v in SESSION_SETTINGS.items() if k != "jit"}
    try:
        if dsn in _REFUSES_JIT:
            return await attempt(plain)
        try:
            return await attempt(SESSION_SETTINGS)
        except asyncpg.ProtocolViolationError as exc:
            if "unsupported startup parameter" not in str(exc):
                raise
            _REFUSES_JIT.add(dsn)
            return await attempt(plain)
    except DatabaseError:
        raise
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise connection_error(url, exc) from None


async def jit_off_in_transaction(conn: asyncpg.Connection) -> None:
    """Inside a transaction: JIT off until it ends, also behind a transaction pooler
    (where the startup parameter was refused and a session-wide SET would leak to other
    clients of the same server connection)."""
    await conn.execute("SET LOCAL jit = off")


async def check_dbos_schema(conn: asyncpg.Connection, schema: str) -> None:
    """Raise DatabaseError unless `<schema>.workflow_status` exists and is readable."""
    validate_schema_name(schema)
    row = await conn.fetchrow(
        """
        SELECT to_regclass(format('%I.workflow_status', $1::text)) IS NOT NULL AS ws,
               to_regclass(format('%I.operation_outputs', $1::text)) IS NOT NULL AS oo,
               current_database() AS db, current_user AS usr
        """,
        schema,
    )
    assert row is not None
    db = row["db"]
    if not row["ws"]:
        raise DatabaseError(
            f"no dbos schema {schema!r} in database {db!r}: point --db-url at a DBOS "
            "system database or set --schema"
        )
    if not row["oo"]:
        raise DatabaseError(
            f"schema {schema!r} in database {db!r} has workflow_status but no "
            "operation_outputs: it is not a complete DBOS system schema; check --schema"
        )
    readable = await conn.fetchval(
        "SELECT has_table_privilege(format('%I.workflow_status', $1::text), 'SELECT') "
        "AND has_table_privilege(format('%I.operation_outputs', $1::text), 'SELECT')",
        schema,
    )
    if not readable:
        raise DatabaseError(
            f"user {row['usr']!r} may not read {schema}.workflow_status / operation_outputs "
            f"in database {db!r}: GRANT SELECT on them (or USAGE on schema {schema})"
        )


async def connect_checked(url: str, schema: str, *, timeout: float = 10) -> asyncpg.Connection:
    """connect() then check_dbos_schema(); closes the connection when the check fails."""
    conn = await connect(url, timeout=timeout)
    try:
        await check_dbos_schema(conn, schema)
    except BaseException:
        await close_quietly(conn)
        raise
    return conn


async def close_quietly(conn: asyncpg.Connection) -> None:
    """Close, or cut the socket when the server does not answer (a dead peer)."""
    try:
        await asyncio.wait_for(conn.close(), 1.0)
    except Exception:
        conn.terminate()
