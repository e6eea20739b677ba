"""How a DBOS worker that lives on threads of this process is crashed like a killed process.

What a crash means for the database: at one instant the worker stops writing, its
uncommitted transactions roll back, its sessions disappear, and every row it owned stays
as it was (PENDING workflows, steps without an operation_outputs row). Nothing of the
dead worker may write afterwards: not the thread that hit the crash point, not a parent
polling its child, not a queue thread, the notifier or a recovery thread.

The mechanism, per worker incarnation (one launch of DBOS):

1. DBOS gets a SQLAlchemy engine made here (DBOS's `system_database_engine` option). All
   of DBOS's SQL goes through it (checked in dbos 3.4: statements via Connection.execute,
   commits via Transaction, the LISTEN connection via engine.raw_connection()). Two engine
   events guard it: `before_cursor_execute` (every statement, autocommit ones included)
   and `commit` (fires before the DBAPI commit is sent).
2. `trip()` sets the crash flag: from that instant the guard raises WorkerKilled in ANY
   thread that reaches either event, so no statement is sent and no open transaction
   commits (it is rolled back when the connection is released or invalidated).
   WorkerKilled is a BaseException: DBOS catches `Exception` only, so it neither records
   the step nor marks the workflow ERROR; it unwinds the thread, exactly as if the
   process had vanished at that point.
3. The server side is cut like a dead process's: the incarnation's sessions (each engine
   has its own application_name) are terminated with pg_terminate_backend, which rolls back
   in-flight transactions, ends the LISTEN session and frees session advisory locks.
4. Every thread of the old incarnation is condemned (a process-wide set): the threads that
   ever ran SQL through its engine, DBOS's executor threads and background threads. A
   condemned thread raises WorkerKilled on its next SQL through ANY guarded engine, the
   relaunched one included: a stale parent that wakes up after the relaunch cannot write
   through the new DBOS instance (the "second copy of the parent" of DBOS_NOTES.md).
5. The host then waits for the old threads to finish unwinding (they wake up from their
   polls or sleeps within about a second and die at their next database access) before
   it relaunches, so recovery runs with no trace of the old worker.

No thread is killed asynchronously (PyThreadState_SetAsyncExc could fire inside a lock
held by logging or the pool and deadlock the survivors); a foreign step stuck in a long
C call keeps running its own code until it returns, but it can never write again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

from limbo_tui.urls import sqlalchemy_url

log = logging.getLogger(__name__)

_incarnations = itertools.count(1)

# Threads of dead incarnations, for the whole process: never allowed to run SQL again.
_condemned_lock = threading.Lock()
_condemned: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


class WorkerKilled(BaseException):
    """Raised in a thread of a crashed worker at its next database access.

    A BaseException so that DBOS (which catches Exception) records nothing on the way
    out; the worker's excepthook keeps it quiet.
    """


def is_condemned(thread: threading.Thread | None = None) -> bool:
    thread = thread or threading.current_thread()
    with _condemned_lock:
        return thread in _condemned


def condemn(threads: Iterable[threading.Thread]) -> None:
    with _condemned_lock:
        for thread in threads:
            _condemned.add(thread)


_hook_installed = False


def install_quiet_excepthook() -> None:
    """A thread that dies of WorkerKilled is the crash working as intended: do not print
    a traceback (it would also scribble over the terminal UI)."""
    global _hook_installed
    if _hook_installed:
        return
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not None and issubclass(args.exc_type, WorkerKilled):
            return
        previous(args)

    threading.excepthook = hook
    _hook_installed = True


class CrashGuard:
    """The guarded engine of one worker incarnation and its crash switch."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.incarnation = next(_incarnations)
        # A name of its own so that step 3 can find exactly this incarnation's sessions.
        self.application_name = f"limbo-tui-worker-{threading.get_native_id()}-{self.incarnation}"
        self._url = url
        self._tripped = threading.Event()
        self._seen_lock = threading.Lock()
        self._seen: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self._exempt: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self.engine: sa.Engine = sa.create_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=30,
            pool_pre_ping=True,
            connect_args={"application_name": self.application_name, "connect_timeout": 10},
        )
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        event.listen(self.engine, "commit", self._on_commit)

    # -- the guard -------------------------------------------------------------------
    def _check(self) -> None:
        current = threading.current_thread()
        if self._tripped.is_set():
            raise WorkerKilled(f"worker incarnation {self.incarnation} crashed")
        if is_condemned(current):
            raise WorkerKilled("this thread belongs to a crashed worker")
        if current not in self._exempt:
            with self._seen_lock:
                self._seen.add(current)

    def _on_execute(self, *_args: Any) -> None:
        self._check()

    def _on_commit(self, *_args: Any) -> None:
        self._check()

    # -- the host's side -------------------------------------------------------------
    def wait_tripped(self, timeout: float) -> bool:
        return self._tripped.wait(timeout)

    def exempt(self, thread: threading.Thread) -> None:
        """The host's own control thread: it launches DBOS but is not part of it."""
        self._exempt.add(thread)

    def trip(self) -> None:
        """The crash instant: from here on nothing of this incarnation reaches the db."""
        self._tripped.set()

    def seen_threads(self) -> list[threading.Thread]:
        with self._seen_lock:
            return list(self._seen)

    def condemn_threads(self, extra: Iterable[threading.Thread] = ()) -> list[threading.Thread]:
        """Condemn every thread of this incarnation; returns those still alive."""
        threads = {t for t in itertools.chain(self.seen_threads(), extra) if t not in self._exempt}
        condemn(threads)
        return [t for t in threads if t.is_alive()]

    def terminate_sessions(self) -> int:
        """Cut this incarnation's server sessions, as the death of a process does."""
        try:
            with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (self.application_name,),
                ).fetchall()
            return sum(1 for (ok,) in rows if ok)
        except psycopg.Error as exc:
            # Not fatal: the guard already stops every write; the sessions then close
            # when the engine is disposed.
            log.warning("could not terminate the crashed worker's sessions: %s", exc)
            return 0

    def dispose(self) -> None:
        try:
            self.engine.dispose()
        except Exception as exc:  # a crashed engine may fail to close cleanly
            log.debug("dispose after crash: %s", exc)
