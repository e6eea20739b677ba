"""One live worker per executor id and database.

DBOS recovers the PENDING work of its own executor id. Two limbo-tui on one database
with the same executor id would each recover, and re-run, work the other is running. The
worker holds a session advisory lock on its executor id for as long as limbo-tui runs it
(across crashes and restarts, as the same "machine" would); Postgres drops the lock when
limbo-tui exits or is killed.

A claim that cannot reach the database at all says so apart (ClaimUnreachable): that is
no proof that another limbo-tui runs the worker, and on the embedded default it is the
moment between the private server going (with the limbo-tui that started it) and this
one's feed starting it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

import psycopg

from limbo_tui.errors import LimboError, one_line

APPLICATION_NAME = "limbo-tui executor claim"


def _application_name() -> str:
    # The holder's process id travels in its session's name, so that a second limbo-tui
    # can say which process runs the worker.
    return f"{APPLICATION_NAME} pid={os.getpid()}"


def lock_key(executor_id: str) -> int:
    digest = hashlib.sha256(f"limbo-tui executor:{executor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ClaimUnreachable(LimboError):
    """The claim could not ask the database at all (no connection): nothing is known
    about who runs the executor id."""


class ExecutorClaim:
    def __init__(self, url: str, executor_id: str) -> None:
        self._url = url
        self._executor_id = executor_id
        self._conn: psycopg.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def acquire(self) -> str | None:
        """Take the executor id; None when held, else the one-line reason why not (another
        limbo-tui holds it). Raises ClaimUnreachable when the database cannot be asked."""
        if self.held:
            return None
        conn = None
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                application_name=_application_name(),
                connect_timeout=10,
            )
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (lock_key(self._executor_id),)
            ).fetchone()
        except psycopg.Error as exc:
            if conn is not None:
                conn.close()
            raise ClaimUnreachable(
                f"cannot claim executor id {self._executor_id!r}: {one_line(exc)}"
            ) from None
        if not (row and row[0]):
            holder = self._holder_pid(conn)
            conn.close()
            who = f"another limbo-tui (pid {holder})" if holder else "another limbo-tui"
            return (
                f"executor id {self._executor_id!r} is run by {who} on this "
                "database: set [worker] executor_id to run a second worker here"
            )
        self._conn = conn
        return None

    def _holder_pid(self, conn: psycopg.Connection) -> str | None:
        """The process id of the limbo-tui holding the claim, from its session's name."""
        key = lock_key(self._executor_id)
        # A bigint advisory key is stored as classid (high half) and objid (low half).
        classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        try:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                "current_database())",
                (classid, objid),
            ).fetchone()
        except psycopg.Error:
            return None
        name = str(row[0]) if row and row[0] else ""
        _, found, pid = name.partition(" pid=")
        return pid if found and pid.isdigit() else None

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
