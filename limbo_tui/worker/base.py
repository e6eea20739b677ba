"""What ThreadWorker and ProcessWorker share: state and its listener, the actions, the
live step board, auto restart after a crash.

The two differ only in where DBOS runs and how it dies (a guarded crash on threads of
this process, or SIGKILL of a child process); everything a caller sees is here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path

from limbo_tui.model import RegisteredMax
from limbo_tui.pg.registered_max import keep_registered, registered_history
from limbo_tui.settings import Settings
from limbo_tui.worker import dbos_launch, progress
from limbo_tui.worker.actions import Actions
from limbo_tui.worker.executor_claim import ClaimUnreachable, ExecutorClaim
from limbo_tui.worker.protocol import (
    DOWN,
    ELSEWHERE,
    NONE,
    RUNNING,
    STARTING,
    STOPPING,
    EnqueueResult,
    ExperimentParams,
    ShutdownWait,
    StateListener,
    StepProgress,
    WorkerState,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
SERVER_WAIT_DETAIL = (
    "waiting for the embedded PostgreSQL server: it stopped with the limbo-tui that "
    "started it, and this one starts it again"
)


class WorkerBase(ABC):
    """The Worker contract's plumbing; subclasses implement start/crash/restart/stop."""

    kind = "worker"

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        log_path: str | Path | None = None,
        on_state: StateListener | None = None,
        server_back: Callable[[], bool] | None = None,
    ) -> None:
        """server_back: on the embedded default, waits until the private server accepts
        connections again (Database.wait_until_running); True when it does."""
        self._url = url
        self._server_back = server_back
        self._settings = settings
        self._log_path = Path(log_path) if log_path else dbos_launch.default_log_path(self.kind)
        self._on_state = on_state
        self._actions = Actions(url, settings)
        self._board = progress.StepProgressBoard()
        self._lock = threading.RLock()
        self._state: WorkerState = DOWN
        self._detail = "not started"
        self._auto_restart: threading.Timer | None = None
        self._stopped = False
        self._claim = ExecutorClaim(url, settings.worker.executor_id, on_taken=self._executor_taken)
        # Who took the executor id from under this worker (a server restart), until it
        # claims the id again: a launch under way then never brings DBOS up.
        self._taken_by: str | None = None
        self.crash_count = 0
        # Graceful stops (r, q) so far and the last one's outcome, for the timeline.
        self.stop_count = 0
        self.last_stop = ""

    # -- the Worker contract ---------------------------------------------------------
    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def detail(self) -> str:
        return self._detail

    @property
    def executor_id(self) -> str | None:
        return self._settings.worker.executor_id

    @property
    def app_version(self) -> str:
        return self._settings.worker.app_version

    @property
    def log_path(self) -> str | None:
        return str(self._log_path)

    @property
    def actions(self) -> Actions:
        return self._actions

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Launch DBOS (recovering this executor's PENDING work); returns when RUNNING or
        DOWN (see detail)."""
        if self._settings.read_only:
            self._set_state(NONE, "read-only: no worker is launched (it would write)")
            return
        with self._lock:
            if self._stopped:
                raise RuntimeError("this worker was stopped; create a new one")
            if self._state in (RUNNING, STARTING):
                return
            unreachable: ClaimUnreachable | None = None
            try:
                if not self._claim_executor():
                    return
            except ClaimUnreachable as exc:
                if self._server_back is None:
                    self._set_state(DOWN, exc.message)
                    return
                # The embedded default: the private server went with the limbo-tui that
                # started it (a moment before this one's feed notices). The feed starts
                # it again on the main thread, which this thread cannot do itself.
                self._set_state(STARTING, SERVER_WAIT_DETAIL)
                unreachable = exc
        if unreachable is not None and not self._claim_when_server_is_back(unreachable):
            return
        self._launch(timeout)

    def _claim_executor(self) -> bool:
        """Under the lock: take the executor id (STARTING) or say who holds it (ELSEWHERE).
        Raises ClaimUnreachable when the database cannot be asked."""
        problem = self._claim.acquire()
        if problem is not None:
            self._set_state(ELSEWHERE, problem)
            return False
        self._taken_by = None
        self._set_state(STARTING, self.starting_detail)
        return True

    def _claim_when_server_is_back(self, unreachable: ClaimUnreachable) -> bool:
        """Wait for the embedded server outside the lock (a quit meanwhile never waits
        for it), then claim once more; False when the worker is not to be launched."""
        assert self._server_back is not None
        back = self._server_back()
        with self._lock:
            if self._stopped:
                return False  # quit meanwhile: stop() has said DOWN
            if not back:
                self._set_state(
                    DOWN, f"{unreachable.message}; the embedded server did not start again"
                )
                return False
            try:
                return self._claim_executor()
            except ClaimUnreachable as exc:
                self._set_state(DOWN, exc.message)
                return False

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Relaunch; DBOS recovers the PENDING workflows of this executor. A running
        worker is stopped first as this kind of worker stops for a restart
        (_stop_for_restart)."""
        if self._state == RUNNING:
            self._stop_for_restart()
        if self._state == STOPPING:
            return  # a stop in progress (a q, or another r): it ends DOWN; r again
        self._cancel_auto_restart()
        self.start(timeout)

    def _stop_for_restart(self) -> None:
        """As kill -9 and a new start would (the thread worker has no graceful stop)."""
        self.crash()

    def stop_gracefully(self) -> str:
        """The thread worker stops as stop() does: at once, its running work PENDING."""
        self.stop()
        return "stopped at once (the thread worker does not wait for its workflows)"

    def shutdown_wait(self) -> ShutdownWait | None:
        return None

    @abstractmethod
    def crash(self) -> None:
        """Crash the worker like a kill -9; returns when it is DOWN."""

    def stop(self) -> None:
        """For quitting: returns in < 2 s even with workflows mid-step. Running work stays
        PENDING and is recovered by the next start with the same executor id."""
        with self._lock:
            self._stopped = True
            self._cancel_auto_restart()
        self._shutdown()
        self._board.clear()
        self._actions.close()
        self._claim.release()
        if self._state != NONE:
            self._set_state(DOWN, "stopped")

    def _executor_taken(self, problem: str) -> None:
        """On the claim's thread: the claim went with its session (a server restart) and
        another limbo-tui took the executor id before this one took it again. That one's
        DBOS recovers this one's PENDING work, so this one stops at once, as a crash
        would (what it ran stays PENDING, for the other), is not restarted, and says who
        runs the id."""
        with self._lock:
            if self._stopped:
                return  # quitting: stop() ends it
            self._taken_by = problem
            self._cancel_auto_restart()
            # Seen at once, while a launch under way may still hold the stop up.
            self._set_state(STOPPING, f"stopping at once: {problem}")
        log.warning("the worker stops: %s", problem)
        self._stop_at_once(problem)

    @abstractmethod
    def _stop_at_once(self, problem: str) -> None:
        """Stop DBOS now, as a crash would, but neither counted as one nor restarted
        (what it ran stays PENDING), then say ELSEWHERE with problem. Also when a launch
        was under way: its DBOS is stopped as soon as it is up."""

    starting_detail = "launching DBOS"

    @abstractmethod
    def _launch(self, timeout: float) -> None:
        """Bring DBOS up; ends in RUNNING or DOWN."""

    @abstractmethod
    def _shutdown(self) -> None:
        """Stop DBOS for good, quickly; what was running stays PENDING."""

    def enqueue_experiment(self, params: ExperimentParams) -> EnqueueResult:
        return self._actions.enqueue_experiment(params)

    def registered_history(self) -> dict[str, RegisteredMax]:
        """The maxima earlier sessions saw this database's workflows dispatched with."""
        return registered_history(self._url, self._settings)

    def keep_registered(self, seen: Mapping[str, RegisteredMax]) -> None:
        """Keep what this session saw, in a lab that may be written; a failure to keep
        it costs only the history, so it is logged, not raised."""
        keep_registered(self._url, self._settings, seen)

    def step_progress(self) -> dict[str, StepProgress]:
        return self._board.snapshot() if self._state == RUNNING else {}

    # -- auto restart and state ------------------------------------------------------
    def _schedule_auto_restart(self) -> None:
        delay = self._settings.worker.auto_restart_s
        if delay <= 0 or self._stopped:
            return
        with self._lock:
            self._cancel_auto_restart()
            timer = threading.Timer(delay, self._auto_restart_now)
            timer.daemon = True
            timer.name = "limbo-tui-worker-auto-restart"
            self._auto_restart = timer
            timer.start()
        self._detail += f"; restarting in {delay:g} s"
        self._notify()

    def _auto_restart_now(self) -> None:
        if self._stopped or self._state != DOWN:
            return
        with contextlib.suppress(Exception):
            self.start()

    def _cancel_auto_restart(self) -> None:
        timer, self._auto_restart = self._auto_restart, None
        if timer is not None:
            timer.cancel()

    def _set_state(self, state: WorkerState, detail: str) -> None:
        self._state = state
        self._detail = detail
        self._notify()

    def _notify(self) -> None:
        listener = self._on_state
        if listener is not None:
            try:
                listener(self._state, self._detail)
            except Exception:
                log.exception("worker state listener failed")
