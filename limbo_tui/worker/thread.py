"""ThreadWorker: limbo-tui's DBOS worker on a plain thread of this process.

DBOS is a process-wide singleton; it is launched, destroyed and relaunched on one
long-lived control thread of its own (never on an asyncio loop's thread: DBOS's sync APIs
refuse to run there, and its async ones take over the loop's default executor). Every
public method is blocking and may be called from any thread but the UI loop's.

crash() is a faithful kill -9 of the worker (crash_guard.py explains the mechanism):
the crash guard trips at once, so no thread of the old worker writes again; then, on the
control thread, the worker's sessions are cut, DBOS is destroyed, the old threads are
waited for, and the state goes DOWN. The workflows it ran stay PENDING until restart()
relaunches DBOS with the same executor id and application version, which recovers them.
A demo step that reaches the crash point crashes the worker the same way.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from limbo_tui.errors import one_line
from limbo_tui.settings import Settings
from limbo_tui.worker import dbos_launch, demo, progress
from limbo_tui.worker.base import WorkerBase
from limbo_tui.worker.crash_guard import CrashGuard, WorkerKilled, install_quiet_excepthook
from limbo_tui.worker.protocol import (
    DOWN,
    ELSEWHERE,
    RUNNING,
    STARTING,
    StateListener,
)

log = logging.getLogger(__name__)

# How long crash() waits for the old worker's threads to unwind. They wake up from their
# polls (DBOS polls a child's result every 1 s) and die at their next database access.
THREAD_EXIT_TIMEOUT_S = 4.0
# stop() must let the UI quit quickly even with workflows mid-step.
STOP_TIMEOUT_S = 1.5


class _GuardedCrashHost:
    """The demo's CrashHost in thread mode: the crash point crashes this worker."""

    def __init__(self, worker: ThreadWorker, guard: CrashGuard) -> None:
        self._worker = worker
        self._guard = guard

    def crash(self, reason: str) -> NoReturn:
        self._worker._crash_from_step(self._guard, reason)
        raise WorkerKilled(reason)

    def sleep(self, seconds: float) -> None:
        # A sleeping step of a crashed worker must not outlive the crash.
        if self._guard.wait_tripped(seconds):
            raise WorkerKilled("the worker crashed while this step slept")


class ThreadWorker(WorkerBase):
    """DBOS running the demo (and worker.imports) workflows on threads of this process."""

    kind = "thread"

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        log_path: str | Path | None = None,
        on_state: StateListener | None = None,
        server_back: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(
            url, settings, log_path=log_path, on_state=on_state, server_back=server_back
        )
        self._guard: CrashGuard | None = None
        self._dbos: Any = None
        self._commands: queue.Queue[tuple[str, Any, threading.Event | None]] = queue.Queue()
        self._control: threading.Thread | None = None
        install_quiet_excepthook()

    def _launch(self, timeout: float) -> None:
        self._ensure_control_thread()
        self._call("launch", None, timeout)

    def crash(self, timeout: float = THREAD_EXIT_TIMEOUT_S + 15.0) -> None:
        """Crash the worker like a SIGKILL; returns when it is DOWN."""
        guard = self._guard
        if guard is None or self._state != RUNNING:
            return
        guard.trip()  # the crash instant, on the caller's thread
        self._call("crash", (guard, "crashed by request (x)"), timeout)

    def _stop_at_once(self, problem: str) -> None:
        guard = self._guard
        if guard is not None:
            guard.trip()  # no thread of it writes from now on
        self._ensure_control_thread()
        # After a launch under way, which the control thread ends first.
        self._call("stop at once", problem, THREAD_EXIT_TIMEOUT_S + 15.0)

    def _shutdown(self) -> None:
        guard = self._guard
        if guard is not None:
            guard.trip()
        progress.set_sink(None)
        if self._control is not None and self._control.is_alive():
            self._call("stop", guard, STOP_TIMEOUT_S)

    def max_recovery_attempts(self) -> dict[str, int]:
        # What every workflow of this process (worker.imports included) is registered
        # with, as DBOS reads it at each dispatch; the demo's were set by configure() at
        # launch, so ask once the worker runs.
        return demo.registered_limits()

    # -- control thread ----------------------------------------------------------------
    def _ensure_control_thread(self) -> None:
        if self._control is None or not self._control.is_alive():
            self._control = threading.Thread(
                target=self._control_loop, name="limbo-tui-worker-control", daemon=True
            )
            self._control.start()

    def _call(self, command: str, arg: Any, timeout: float) -> None:
        done = threading.Event()
        self._commands.put((command, arg, done))
        done.wait(timeout)

    def _control_loop(self) -> None:
        while True:
            command, arg, done = self._commands.get()
            try:
                if command == "launch":
                    self._do_launch()
                elif command == "crash":
                    guard, reason = arg
                    self._do_crash(guard, reason)
                elif command == "stop at once":
                    # The guard of a launch that ended since the call, too.
                    self._do_teardown(self._guard, wait_threads=THREAD_EXIT_TIMEOUT_S)
                    self._set_state(ELSEWHERE, arg)
                elif command == "stop":
                    self._do_teardown(arg, wait_threads=0.0)
                    return
            except BaseException as exc:  # the control thread must survive anything
                log.exception("worker control: %s failed", command)
                self._set_state(DOWN, f"{command} failed: {one_line(exc)}")
            finally:
                if done is not None:
                    done.set()

    def _do_launch(self) -> None:
        if self._state == RUNNING or self._stopped:
            return
        if self._taken_by is not None:  # taken while this launch waited its turn
            self._set_state(ELSEWHERE, self._taken_by)
            return
        from dbos import DBOS

        self._set_state(STARTING, "launching DBOS")
        dbos_launch.route_dbos_logs(self._log_path)
        try:
            dbos_launch.prepare(self._settings)
        except Exception as exc:
            self._set_state(DOWN, one_line(exc))
            return
        guard = CrashGuard(self._url)
        guard.exempt(threading.current_thread())
        self._board.clear()
        progress.set_sink(self._board.apply)
        demo.set_crash_host(_GuardedCrashHost(self, guard))
        # Known before the launch: an executor id taken from now on (_stop_at_once) trips
        # it; one taken until now (a user's import may take long) stops the launch here.
        self._guard = guard
        if self._taken_by is not None:
            self._guard = None
            guard.dispose()
            self._set_state(ELSEWHERE, self._taken_by)
            return
        try:
            DBOS.destroy()  # a leftover instance (e.g. of a test) would be reused
            dbos = DBOS(config=dbos_launch.dbos_config(self._url, self._settings, guard.engine))  # type: ignore[arg-type]
            DBOS.launch()
        except Exception as exc:
            self._guard = None
            with contextlib.suppress(BaseException):
                DBOS.destroy()
            guard.dispose()
            self._set_state(DOWN, f"DBOS failed to launch: {one_line(exc)}")
            return
        self._guard = guard
        self._dbos = dbos
        problem = dbos_launch.register_experiment_queue(self._settings)
        self._set_state(
            RUNNING,
            problem or f"executor {self.executor_id}, version {self.app_version}, pid-local thread",
        )

    def _crash_from_step(self, guard: CrashGuard, reason: str) -> None:
        """Called by the step that reached the crash point, on its own thread."""
        guard.trip()
        self._commands.put(("crash", (guard, f"crash point: {reason}"), None))

    def _do_crash(self, guard: CrashGuard, reason: str) -> None:
        if guard is not self._guard:
            return  # already handled (a second report of the same crash)
        lingering = self._do_teardown(guard, wait_threads=THREAD_EXIT_TIMEOUT_S)
        self.crash_count += 1
        detail = reason
        if lingering:
            detail += f" ({lingering} old thread(s) still unwinding; they cannot write)"
        self._set_state(DOWN, detail)
        self._schedule_auto_restart()

    def _do_teardown(self, guard: CrashGuard | None, wait_threads: float) -> int:
        """Everything after the crash instant; returns how many old threads linger."""
        if guard is None:
            return 0
        guard.trip()
        dbos = self._dbos
        extra: list[threading.Thread] = []
        if dbos is not None:
            extra.extend(getattr(dbos, "_background_threads", []))
            executor = getattr(dbos, "_executor_field", None)
            if executor is not None:
                extra.extend(getattr(executor, "_threads", ()))
            loop = getattr(getattr(dbos, "_background_event_loop", None), "_thread", None)
            if loop is not None:
                extra.append(loop)
        guard.condemn_threads(extra)
        guard.terminate_sessions()
        self._board.clear()
        self._guard = None
        self._dbos = None
        # destroy() joins DBOS's background threads; bounded so that stop() stays quick.
        destroyer = threading.Thread(
            target=self._destroy_quietly, name="limbo-tui-dbos-destroy", daemon=True
        )
        destroyer.start()
        destroyer.join(max(wait_threads, STOP_TIMEOUT_S * 0.8))
        lingering = guard.condemn_threads(extra)
        deadline = time.monotonic() + wait_threads
        while lingering and time.monotonic() < deadline:
            time.sleep(0.05)
            lingering = [t for t in lingering if t.is_alive()]
        guard.dispose()
        return len(lingering)

    @staticmethod
    def _destroy_quietly() -> None:
        from dbos import DBOS

        with contextlib.suppress(BaseException):
            DBOS.destroy()

    # -- auto restart and state ------------------------------------------------------
