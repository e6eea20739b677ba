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

The lock lives as long as its session, and a server restart (a restart or failover of the
user's database, the embedded server started again by another limbo-tui) ends the session
with no word to us: psycopg learns it only when the connection is next used. So a thread
of the claim waits on the session's socket (a wait, not a query: the server writes to an
idle session only to end it, or with the odd notice), with TCP keepalives for a server
that vanished without closing it. The moment the session ends it takes the id again as
soon as the server answers; if another limbo-tui took it first, on_taken says who, and
the worker stops (WorkerBase).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import selectors
import socket
import threading
from collections.abc import Callable

import psycopg

from limbo_tui.errors import LimboError, one_line

log = logging.getLogger(__name__)

APPLICATION_NAME = "limbo-tui executor claim"
# A lost claim tries to take its id again this often while the server is away: a refused
# connection costs the server nothing, and the first try that connects takes the id.
RETAKE_EVERY_S = 0.5
# A server gone silent (a dead host, a failover without a reset) errors the claim's TCP
# socket after about idle + interval x count seconds; a unix socket ignores these.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 10, 5, 3
CONNECT_TIMEOUT_S = 10
# A lost claim whose own old session still holds the lock (its connection broke, the
# server has not noticed yet: its own keepalives take up to hours) asks again this often.
STALE_SESSION_RETRY_S = 5.0
# A try to take a lost id again gives up sooner (libpq's least): the next one follows.
RETAKE_CONNECT_TIMEOUT_S = 2
# How long a release waits for the claim's thread. It wakes at once from its wait on the
# session; a try to connect under way ends on its own and lets go of what it took.
WATCH_JOIN_S = 0.5


def _application_name() -> str:
    # The holder's process id travels in its session's name, so that a second limbo-tui
    # can say which process runs the worker; the token tells this claim's own sessions.
    return f"{APPLICATION_NAME} pid={os.getpid()} {secrets.token_hex(4)}"


def lock_key(executor_id: str) -> int:
    digest = hashlib.sha256(f"limbo-tui executor:{executor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ClaimUnreachable(LimboError):
    """The claim could not ask the database at all (no connection): nothing is known
    about who runs the executor id."""


class _StillOurs(Exception):
    """The lock is held by this claim's own old session: its connection is gone, but the
    server has not ended the session yet. Nobody else can take the id meanwhile."""


TakenListener = Callable[[str], None]


class ExecutorClaim:
    def __init__(
        self, url: str, executor_id: str, *, on_taken: TakenListener | None = None
    ) -> None:
        """on_taken(problem): called on the claim's own thread when the claim was lost
        with its session and another limbo-tui holds the id (problem says who)."""
        self._url = url
        self._executor_id = executor_id
        self._on_taken = on_taken
        self._conn: psycopg.Connection | None = None
        self._name = _application_name()
        # acquire, release and the claim's thread take the lock one at a time.
        self._guard = threading.Lock()
        self._watch: _Watch | None = None

    @property
    def held(self) -> bool:
        """True while the lock's session is known to be alive: False from the moment
        its end is noticed (its socket closed or errored) until the id is taken again."""
        conn = self._conn
        return conn is not None and not conn.closed

    def acquire(self) -> str | None:
        """Take the executor id; None when held, else the one-line reason why not (another
        limbo-tui holds it). Raises ClaimUnreachable when the database cannot be asked."""
        if self.held:
            return None
        self._end_watch()  # a claim lost and being taken again: this try is the one
        conn = self._connect(CONNECT_TIMEOUT_S)
        with self._guard:
            try:
                problem = self._lock_on(conn)
            except _StillOurs:
                raise ClaimUnreachable(
                    f"cannot claim executor id {self._executor_id!r}: this limbo-tui's "
                    "session from before its connection broke still holds it; the server "
                    "ends that session when it notices, then r takes the id"
                ) from None
            if problem is None:
                self._watch = _Watch(self)
        return problem

    def release(self) -> None:
        self._end_watch()
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    # -- taking the lock -----------------------------------------------------------------
    def _unreachable(self, exc: psycopg.Error) -> ClaimUnreachable:
        return ClaimUnreachable(f"cannot claim executor id {self._executor_id!r}: {one_line(exc)}")

    def _connect(self, timeout: int) -> psycopg.Connection:
        try:
            return psycopg.connect(
                self._url,
                autocommit=True,
                application_name=self._name,
                connect_timeout=timeout,
                keepalives=1,
                keepalives_idle=KEEPALIVE_IDLE_S,
                keepalives_interval=KEEPALIVE_INTERVAL_S,
                keepalives_count=KEEPALIVE_COUNT,
            )
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None

    def _lock_on(self, conn: psycopg.Connection) -> str | None:
        """Under the guard: try the lock on conn, which is the claim's when it is taken
        (None), else closed (see acquire)."""
        try:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (lock_key(self._executor_id),)
            ).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise self._unreachable(exc) from None
        if not (row and row[0]):
            holder = self._holder_name(conn)
            conn.close()
            if holder == self._name:
                raise _StillOurs
            _, found, rest = (holder or "").partition(" pid=")
            pid = rest.split(" ")[0]
            who = (
                f"another limbo-tui (pid {pid})" if found and pid.isdigit() else "another limbo-tui"
            )
            return (
                f"executor id {self._executor_id!r} is run by {who} on this "
                "database: set [worker] executor_id to run a second worker here"
            )
        self._conn = conn
        return None

    def _holder_name(self, conn: psycopg.Connection) -> str | None:
        """The session name of the claim's holder (it carries its process id)."""
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
        return str(row[0]) if row and row[0] else None

    # -- the claim's thread ----------------------------------------------------------------
    def _end_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.end()

    def _session_ended(self, conn: psycopg.Connection) -> None:
        with self._guard:
            if self._conn is conn:
                self._conn = None
        with contextlib.suppress(psycopg.Error):
            conn.close()
        log.warning(
            "the session holding executor id %r ended (server restarted?): taking it again",
            self._executor_id,
        )

    def _retake(self, ended: threading.Event) -> bool:
        """Take the id again once the server answers; True when held again, False when
        another limbo-tui took it (on_taken is told) or the watch was ended."""
        pause = RETAKE_EVERY_S
        while not ended.wait(pause):
            pause = RETAKE_EVERY_S
            try:
                conn = self._connect(RETAKE_CONNECT_TIMEOUT_S)
                with self._guard:
                    if ended.is_set():  # released meanwhile: never left holding it
                        conn.close()
                        return False
                    problem = self._lock_on(conn)
            except ClaimUnreachable:
                continue
            except _StillOurs:
                pause = STALE_SESSION_RETRY_S
                continue
            if problem is None:
                log.warning("executor id %r taken again", self._executor_id)
                return True
            log.warning("executor id %r lost: %s", self._executor_id, problem)
            if self._on_taken is not None:
                self._on_taken(problem)
            return False
        return False


class _Watch:
    """The claim's thread: waits on the lock's session, takes the id again when it ends."""

    def __init__(self, claim: ExecutorClaim) -> None:
        self._claim = claim
        self._ended = threading.Event()
        # ended also wakes the wait on the session's socket through this pair.
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(
            target=self._run, name="limbo-tui-executor-claim", daemon=True
        )
        self._thread.start()

    def end(self) -> None:
        self._ended.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(WATCH_JOIN_S)

    def _run(self) -> None:
        try:
            while not self._ended.is_set():
                conn = self._claim._conn
                if conn is None or not self._wait_for_end(conn):
                    return
                self._claim._session_ended(conn)
                if not self._claim._retake(self._ended):
                    return
        except Exception:
            log.exception("executor claim: the watch on its session failed")
        finally:
            self._wake_r.close()
            self._wake_w.close()

    def _wait_for_end(self, conn: psycopg.Connection) -> bool:
        """Block until the session ends (True) or the watch is ended (False)."""
        pgconn = conn.pgconn
        try:
            fd = pgconn.socket
        except psycopg.Error:
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ)
            selector.register(fd, selectors.EVENT_READ)
            while not self._ended.is_set():
                selector.select()
                if self._ended.is_set():
                    return False
                # Readable: its end (end of file, an error) or a message the server sends
                # an idle session unasked (a notice, a parameter's new value), read here.
                try:
                    pgconn.consume_input()
                    pgconn.is_busy()
                except psycopg.Error:
                    return True
                if pgconn.status != psycopg.pq.ConnStatus.OK:
                    return True
        return False
