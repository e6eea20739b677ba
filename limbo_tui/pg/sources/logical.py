"""Logical decoding source (opt-in, `[feed] source = "logical"`): zero work added to the
application's commits, at any write rate.

A temporary logical replication slot with the built-in `test_decoding` plugin (no
publication, so nothing to create in the user's schema), or `pgoutput` over a
publication the user made (`[feed] publication`, pgoutput.py: the server then formats
only the two tables' keys), consumed continuously over SQL on a connection of its own.
Temporary: the server drops the slot when that session ends, however it ends (kill -9
of limbo-tui included).
Only rows of `<schema>.workflow_status` and `<schema>.operation_outputs` are read from
the decoded stream; their keys become Changes.

Preflight (`preflight`) names in one line what is missing: wal_level = logical, the
REPLICATION privilege, a free replication slot; and warns when max_slot_wal_keep_size is
unlimited (a stopped limbo-tui would retain WAL without bound; while it runs it consumes
continuously). The header shows how much WAL the slot retains, of that bound. Liveness:
the slot exists and its confirmed position follows the server's WAL.

What a read costs the server: every call of pg_logical_slot_get_changes decodes again
from the slot's restart_lsn, which moves only at the server's running-xacts records
(about every 15 s), and test_decoding formats every column of every change. So reads
are few and large: the next read waits DUTY times as long as the last one took (our
backend busy at most 1/DUTY of the time), between MIN_INTERVAL_S and MAX_BUSY_S; idle,
the interval doubles up to MAX_INTERVAL_S. Measured at 8 durable writers: reading every
50 ms cost 0.10 CPU s/s of server time, every 0.25-1 s 0.04.

Why SQL reads and not the replication protocol (START_REPLICATION over a walsender,
which decodes each change once): it was built and measured (BENCHMARKS.md, "Change
sources: where the cost was"). At 8 durable writers its walsender took 19-34 ms of CPU
per 1,000 commits where these reads take 13-21 ms: it wakes at every WAL flush and
decodes a few records each time, where a read decodes one large batch, and the WAL a
read decodes again (from restart_lsn) is only replayed, with no output. And a walsender
whose client is stopped blocks on its full socket; when the server then invalidates the
slot it cannot even send its FATAL message, and the checkpointer, which waits for it to
let go of the slot, hangs as long as the client stays stopped (no checkpoint for
minutes, PostgreSQL 18). A SQL read holds nothing between reads.

A stalled limbo-tui (SIGSTOP) cannot grow the server's disk past max_slot_wal_keep_size:
the server invalidates the slot and ends its session; `explain_loss` then says so in one
line and the feed opens a new slot and resyncs.
"""

from __future__ import annotations

import re
import secrets
import time

import asyncpg

from limbo_tui.pg.sources import Changes, SourceFailed, wait_for_turn
from limbo_tui.pg.sources.pgoutput import Relations, parse_message, publication_sql
from limbo_tui.pg.sql_text import quote_ident

# Changes read per call; after a full batch more is waiting and the next read comes
# after the last one's own duration (half our backend's time) rather than DUTY times it.
MAX_CHANGES = 50_000
MIN_INTERVAL_S = 0.1
# Idle, the interval doubles up to this.
MAX_INTERVAL_S = 1.0
# While changes flow: the next read waits DUTY x the last read's duration, at most this.
DUTY = 10
MAX_BUSY_S = 1.0
# The slot's confirmed position may trail the server's WAL this long before prove() fails.
STALL_S = 30.0

_WID = re.compile(r"workflow_uuid\[text\]:'((?:[^']|'')*)'")
_FID = re.compile(r"function_id\[integer\]:(-?\d+)")


# test_decoding prints an old key (" UPDATE: old-key: ... new-tuple: ...") only when an
# UPDATE changed the key or the table has REPLICA IDENTITY FULL.
_OLD_KEY = " old-key: "


def _ids(rest: str) -> list[str]:
    # The keys are the tables' first columns in every DBOS schema: the first match is the
    # key, and the rest of the line (inputs, outputs: most of its length) is not scanned.
    if rest.find(_OLD_KEY, 0, 24) < 0:
        m = _WID.search(rest)
        return [m.group(1).replace("''", "'")] if m else []
    return [m.replace("''", "'") for m in _WID.findall(rest)]


def _fids(rest: str) -> list[str]:
    if rest.find(_OLD_KEY, 0, 24) < 0:
        m = _FID.search(rest)
        return [m.group(1)] if m else []
    return _FID.findall(rest)


def parse_change(line: str, schema: str) -> Changes | None:
    """One line of test_decoding output -> Changes, or None for other tables / BEGIN."""
    head = f"table {schema}."
    if not line.startswith(head):
        return None
    table, _, rest = line[len(head) :].partition(":")
    out = Changes()
    if table == "workflow_status":
        out.workflows.update(_ids(rest))
    elif table == "operation_outputs":
        wids, fids = _ids(rest), _fids(rest)
        if len(wids) == len(fids) and wids:
            out.steps.update(zip(wids, (int(f) for f in fids), strict=True))
        else:
            # A key we cannot pair (an unchanged TOAST value, a custom replica identity).
            out.all_steps.update(wids)
            if not wids:
                out.resync = True
    else:
        return None
    return out


def _pretty(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


async def preflight(conn: asyncpg.Connection) -> str | None:
    """What is missing for a logical slot, in one line (None: nothing); also the warning
    about unbounded WAL retention, returned separately by `wal_warning`."""
    row = await conn.fetchrow(
        """
        SELECT current_setting('wal_level') AS wal_level,
               (SELECT rolreplication OR rolsuper FROM pg_roles
                 WHERE rolname = current_user) AS may,
               current_setting('max_replication_slots')::int
                 - (SELECT count(*) FROM pg_replication_slots) AS free,
               pg_is_in_recovery() AS standby
        """
    )
    assert row is not None
    missing: list[str] = []
    if row["wal_level"] != "logical":
        missing.append(f"wal_level is {row['wal_level']} (set wal_level = logical and restart)")
    if not row["may"]:
        missing.append("the role lacks REPLICATION (ALTER ROLE ... REPLICATION)")
    if row["free"] <= 0:
        missing.append("no free replication slot (raise max_replication_slots)")
    if missing:
        return "logical decoding unavailable: " + "; ".join(missing)
    return None


async def keep_size(conn: asyncpg.Connection) -> int | None:
    """max_slot_wal_keep_size in bytes; None when unlimited (-1)."""
    mb = await conn.fetchval(
        "SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'"
    )
    return None if mb is None or mb < 0 else int(mb) * 1024 * 1024


def wal_warning(keep: int | None) -> str:
    if keep is None:
        return "max_slot_wal_keep_size is unlimited: a stopped limbo-tui retains WAL"
    return ""


def next_interval(current: float, took: float, *, full: bool, found: bool) -> float:
    """The wait before the next read, after one that took `took` s (see the docstring)."""
    if full:
        return min(max(took, MIN_INTERVAL_S), MAX_BUSY_S)
    if found:
        return min(max(DUTY * took, MIN_INTERVAL_S), MAX_BUSY_S)
    return min(max(current, MIN_INTERVAL_S) * 2, MAX_INTERVAL_S)


class LogicalSource:
    kind = "logical"

    def __init__(self, conn: asyncpg.Connection, schema: str, publication: str = "") -> None:
        self._conn = conn
        self._schema = schema
        # A publication the user made: pgoutput over it (pgoutput.py), else test_decoding.
        self.publication = publication
        self._relations: Relations = {}
        self.slot = f"limbo_tui_{secrets.token_hex(6)}"
        self.retained = 0
        self.keep: int | None = None
        self.warning = ""
        self.interval_s = MIN_INTERVAL_S
        self._next_at = 0.0
        self._confirmed: str | None = None
        self._still_since = time.monotonic()

    async def start(self) -> None:
        missing = await preflight(self._conn)
        if missing is not None:
            raise SourceFailed(missing)
        self.keep = await keep_size(self._conn)
        self.warning = wal_warning(self.keep)
        if self.publication:
            await self._check_publication()
        plugin = "pgoutput" if self.publication else "test_decoding"
        try:
            await self._conn.execute(
                "SELECT pg_create_logical_replication_slot($1, $2, true)", self.slot, plugin
            )
        except asyncpg.PostgresError as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise SourceFailed(f"cannot create a logical slot: {first}") from None
        await self.prove()

    async def changes(self, timeout: float) -> Changes:
        if not await wait_for_turn(self._next_at, timeout):
            return Changes()
        began = time.monotonic()
        if self.publication:
            rows = await self._conn.fetch(
                "SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, $2, "
                "'proto_version', '1', 'publication_names', $3)",
                self.slot,
                MAX_CHANGES,
                quote_ident(self.publication),
            )
        else:
            rows = await self._conn.fetch(
                "SELECT data FROM pg_logical_slot_get_changes($1, NULL, $2, "
                "'skip-empty-xacts', '1', 'include-xids', '0')",
                self.slot,
                MAX_CHANGES,
            )
        took = time.monotonic() - began
        out = Changes()
        for (data,) in rows:
            got = (
                parse_message(data, self._relations, self._schema)
                if self.publication
                else parse_change(data, self._schema)
            )
            if got is not None:
                out.merge(got)
        self.interval_s = next_interval(
            self.interval_s, took, full=len(rows) >= MAX_CHANGES, found=bool(out)
        )
        self._next_at = time.monotonic() + self.interval_s
        return out

    async def prove(self) -> None:
        row = await self._conn.fetchrow(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained, "
            "wal_status, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS behind, "
            "confirmed_flush_lsn::text AS confirmed "
            "FROM pg_replication_slots WHERE slot_name = $1",
            self.slot,
        )
        if row is None:
            raise SourceFailed(f"logical slot {self.slot} is gone (dropped by someone?)")
        self.retained = int(row["retained"] or 0)
        if row["wal_status"] == "lost":
            raise SourceFailed(f"logical slot {self.slot} was invalidated by the server")
        # Consumed continuously, the confirmed position moves on whenever there is WAL
        # behind it; one that stays put for STALL_S means the slot does not advance.
        now = time.monotonic()
        if int(row["behind"] or 0) == 0 or row["confirmed"] != self._confirmed:
            self._confirmed, self._still_since = row["confirmed"], now
        elif now - self._still_since > STALL_S:
            raise SourceFailed(f"logical slot {self.slot} does not advance")

    async def _check_publication(self) -> None:
        covered = await self._conn.fetchval(
            "SELECT count(*) FROM pg_publication_tables WHERE pubname = $1 "
            "AND schemaname = $2 AND tablename IN ('workflow_status', 'operation_outputs')",
            self.publication,
            self._schema,
        )
        if covered != 2:
            raise SourceFailed(
                f"publication {self.publication} does not cover {self._schema}.workflow_status "
                f"and {self._schema}.operation_outputs; to make it (a write, yours to do): "
                f"{publication_sql(self.publication, self._schema)}"
            )

    def describe(self) -> str:
        via = f"via logical ({self.publication})" if self.publication else "via logical"
        words = f"{via}, slot retains {_pretty(self.retained)}"
        if self.keep is not None:
            words += f" of {_pretty(self.keep)}"
        return f"{words} ({self.warning})" if self.warning else words

    async def explain_loss(self, query: asyncpg.Connection) -> str | None:
        """The slot's session ended under us (the feed's other connection still works):
        one line on why, from what the server says now. None: nothing to add."""
        if self._confirmed is None:
            return None
        row = await query.fetchrow(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::bigint AS since, "
            "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $2) AS kept",
            self._confirmed,
            self.slot,
        )
        if row is None or row["kept"]:
            return None
        since = int(row["since"] or 0)
        if self.keep is not None and since > self.keep:
            return (
                f"logical slot {self.slot} was invalidated by the server: "
                f"{_pretty(since)} of WAL since its last read passed max_slot_wal_keep_size "
                f"({_pretty(self.keep)}); a new slot and a full resync"
            )
        return f"the server ended logical slot {self.slot}'s session; a new slot and a full resync"

    async def close(self) -> None:
        # The slot is temporary: it goes with the session, which the feed closes.
        return None
