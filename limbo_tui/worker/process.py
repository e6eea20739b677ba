"""ProcessWorker: the same DBOS worker in a child process, crashed with a real SIGKILL.

The child is `python -m limbo_tui.worker.process_main` (its docstring has the line
protocol). It runs with the same pinned executor id and application version as the
thread worker, so a respawn recovers the PENDING work of the killed one, exactly as the
seed's `uv run python main.py` after a segfault. Its DBOS log goes to a file (log_path).

Workflow commands (enqueue, cancel, resume, fork) do not go through the child: they use
DBOSClient from this process (actions.py), so they work while the child is down too.

A stop for a restart (r) or for quitting (q) is the seed's Ctrl+C: the child runs
DBOS.destroy(workflow_completion_timeout_sec=[worker] shutdown_wait_s), which waits for
the workflows still running there; on dbos <= 2.11 the seed's parent, polling its
dead-lettered child, never ends, so DBOS waits the whole time. The child tells each of
DBOS's waiting lines (ids) as it comes; shutdown_wait() is what the header shows. limbo-tui
bounds its own wait: STOP_GRACE_S past DBOS's, it kills the child (SIGKILL) and says so.

The child dies with limbo-tui: it sets PR_SET_PDEATHSIG(SIGKILL), which Linux ties to
the THREAD that forked it, so children are always spawned by one long-lived supervisor
thread of this worker; it also exits on end of file on its stdin (our end of the pipe).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO, Any

from limbo_tui.errors import LimboError
from limbo_tui.settings import Settings
from limbo_tui.shutdown_wait import short_waited_id
from limbo_tui.worker import progress
from limbo_tui.worker.base import WorkerBase
from limbo_tui.worker.interpreter import Interpreter, foreign_release, worker_interpreter
from limbo_tui.worker.protocol import (
    DOWN,
    ELSEWHERE,
    RUNNING,
    STOPPING,
    ShutdownWait,
    StateListener,
    WorkerState,
)
from limbo_tui.worker.release_client import installed_release

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 1.5
# How long past DBOS's own shutdown wait limbo-tui waits for the worker to exit before
# it kills it: DBOS then still joins its background threads (2.8 with no timeout), and
# its queue manager gives each queue thread 10 s; a loaded machine needs some of it.
STOP_GRACE_S = 10.0
ENTRY_MODULE = "limbo_tui.worker.process_main"


class _Child:
    """One spawned worker process and what we learnt from it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.ready = threading.Event()
        self.failed: str | None = None
        self.crash_reason: str | None = None
        self.killed_by_us = False
        self.stopping = False
        self.limits: dict[str, int] = {}
        self.detail: str | None = None
        self.dbos: str | None = None
        # The child's last word on a graceful stop ({"type": "stopped", ...}).
        self.stopped: dict[str, Any] | None = None
        self.reader_done = threading.Event()


class ProcessWorker(WorkerBase):
    """DBOS running the demo (and worker.imports) workflows in a child process."""

    kind = "process"

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
        self._child: _Child | None = None
        self._limits: dict[str, int] = {}
        self._wait: ShutdownWait | None = None
        self._spawn_requests: queue.Queue[tuple[queue.Queue[Any], Interpreter] | None] = (
            queue.Queue()
        )
        # The release of a foreign interpreter ([worker] python): asked now, for the
        # header; a --dbos release is known from the settings.
        self._dbos_running: str | None = foreign_release(settings)
        self._supervisor = threading.Thread(
            target=self._supervise, name="limbo-tui-worker-supervisor", daemon=True
        )
        self._supervisor.start()

    # -- the Worker contract ---------------------------------------------------------
    @property
    def pid(self) -> int | None:
        child = self._child
        return child.proc.pid if child is not None and child.proc.poll() is None else None

    @property
    def dbos_release(self) -> str | None:
        """The DBOS release the worker runs when it is not limbo-tui's own."""
        return self._settings.worker.dbos or self._dbos_running

    starting_detail = "spawning the worker process"

    def _launch(self, timeout: float) -> None:
        try:
            # Provisioning a release may take a while the first time: here, not on the
            # supervisor thread, whose spawn must answer within seconds.
            interpreter = worker_interpreter(self._settings)
        except LimboError as exc:
            self._set_state(DOWN, exc.message)
            return
        reply: queue.Queue[Any] = queue.Queue()
        self._spawn_requests.put((reply, interpreter))
        try:
            child = reply.get(timeout=10)
        except queue.Empty:
            self._set_state(DOWN, "could not spawn the worker process")
            return
        if isinstance(child, BaseException):
            self._set_state(DOWN, f"could not spawn the worker process: {child}")
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not child.ready.is_set():
            if child.proc.poll() is not None:
                break
            child.ready.wait(0.05)
        with self._lock:
            taken = self._taken_by
            if child.stopping and taken is None:
                return  # stopped while it started: stop() says the state
            if taken is None and child.ready.is_set() and child.proc.poll() is None:
                self._limits = child.limits
                if child.dbos and child.dbos != installed_release():
                    self._dbos_running = child.dbos
                release = f", dbos {self.dbos_release}" if self.dbos_release else ""
                self._set_state(
                    RUNNING,
                    child.detail
                    or f"executor {self.executor_id}, worker process pid {child.proc.pid}{release}",
                )
                return
        if taken is not None:  # the executor id was taken while it started
            self._stop_at_once(taken)
            return
        if child.proc.poll() is None:
            self._kill(child)
        child.proc.wait()
        self._set_state(DOWN, f"worker process failed to start: {child.failed or 'see log'}")

    def crash(self, timeout: float = 10.0) -> None:
        """SIGKILL the worker process (a real crash); returns when it is DOWN."""
        child = self._child
        if child is None or child.proc.poll() is not None:
            return
        child.crash_reason = "crashed by request (x): SIGKILL"
        child.killed_by_us = True
        self._kill(child)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(timeout)
        self._wait_state_not(RUNNING, timeout)

    def _stop_at_once(self, problem: str) -> None:
        with self._lock:
            child = self._child
            if child is not None and child.proc.poll() is None:
                child.stopping = True  # neither a crash nor a failed start: no restart
                child.killed_by_us = True
                self._kill(child)
            else:
                child = None
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(STOP_GRACE_S)
        with self._lock:
            self._board.clear()
            self._set_state(ELSEWHERE, problem)

    def _shutdown(self) -> None:
        child = self._child
        if child is not None and child.proc.poll() is None:
            child.stopping = True
            with contextlib.suppress(OSError):
                if child.proc.stdin is not None:
                    child.proc.stdin.close()
            try:
                child.proc.wait(STOP_TIMEOUT_S * 0.6)
            except subprocess.TimeoutExpired:
                self._kill(child)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(STOP_TIMEOUT_S * 0.3)
        self._spawn_requests.put(None)

    def shutdown_wait(self) -> ShutdownWait | None:
        return self._wait

    def stop_gracefully(self) -> str:
        """Quitting as the seed's Ctrl+C did: DBOS's shutdown, waiting, then stop()."""
        outcome = self._graceful_stop()
        self.stop()
        self._set_state(DOWN, f"stopped: {outcome}")
        return outcome

    def _stop_for_restart(self) -> None:
        self._graceful_stop()

    def _graceful_stop(self) -> str:
        """DBOS.destroy in the child, waiting up to shutdown_wait_s for its workflows;
        the child is killed STOP_GRACE_S after that. Returns what happened, one line."""
        wait_s = self._settings.worker.shutdown_wait_s
        bound = wait_s + STOP_GRACE_S
        with self._lock:
            child = self._child
            if child is None or child.proc.poll() is not None or not child.ready.is_set():
                return "the worker was not running"
            if child.stopping:
                return "a stop is already in progress"
            child.stopping = True
            self._cancel_auto_restart()
            self._wait = ShutdownWait(wait_s, time.monotonic(), (), bound)
            self._set_state(STOPPING, self._waiting_detail())
        with contextlib.suppress(OSError, ValueError):
            if child.proc.stdin is not None:
                child.proc.stdin.write(json.dumps({"type": "stop", "wait_s": wait_s}) + "\n")
                child.proc.stdin.flush()
        killed_at_bound = False
        try:
            child.proc.wait(bound)
        except subprocess.TimeoutExpired:
            killed_at_bound = True
            self._kill(child)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(STOP_TIMEOUT_S)
        child.reader_done.wait(STOP_TIMEOUT_S)  # its last lines, "stopped" among them
        outcome = self._stop_outcome(child, bound, killed_at_bound)
        with self._lock:
            self.stop_count += 1
            self.last_stop = outcome
            self._wait = None
            self._board.clear()
            self._set_state(DOWN, f"stopped: {outcome}")
        return outcome

    def _stop_outcome(self, child: _Child, bound: float, killed_at_bound: bool) -> str:
        wait = self._wait
        named = wait.active if wait is not None else ()
        waited_for = f"; DBOS was waiting for {_ids(named)}" if named else ""
        if killed_at_bound:
            return (
                f"the worker had not exited {bound:g} s after the stop: limbo-tui killed it "
                f"(SIGKILL){waited_for}"
            )
        if child.killed_by_us:
            return f"killed (SIGKILL) on request during DBOS's shutdown{waited_for}"
        said = child.stopped
        if said is None:
            code = child.proc.returncode
            how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
            return f"the worker ended ({how}) before DBOS's shutdown finished{waited_for}"
        if said.get("problem"):
            return f"DBOS's shutdown failed: {said['problem']}"
        elapsed = float(said.get("elapsed_s") or 0)
        still = tuple(str(i) for i in said.get("still_active") or ())
        if still:
            left = "it stays" if len(still) == 1 else "they stay"
            whole = wait.wait_s if wait is not None else int(elapsed)
            return (
                f"DBOS waited its whole {whole} s for {_ids(still)}, still active, and gave "
                f"up; {left} PENDING"
            )
        if named:
            return f"DBOS waited {elapsed:.0f} s until {_ids(named)} ended"
        return "DBOS had no active workflow and stopped at once"

    def _waiting_detail(self) -> str:
        wait = self._wait
        if wait is None:
            return ""
        if not wait.active:
            return f"stopping: DBOS's shutdown waits up to {wait.wait_s} s for active workflows"
        return f"stopping: DBOS waits for {_ids(wait.active)} (up to {wait.wait_s} s)"

    def max_recovery_attempts(self) -> dict[str, int]:
        # What the worker process registered, as its ready message said ({} before).
        return dict(self._limits)

    # -- spawning (on the supervisor thread only: PR_SET_PDEATHSIG follows the thread) --
    def _supervise(self) -> None:
        while True:
            request = self._spawn_requests.get()
            if request is None:
                return
            reply, interpreter = request
            try:
                reply.put(self._spawn(interpreter))
            except Exception as exc:
                reply.put(exc)

    def _launch_request(self) -> str:
        s = self._settings
        payload = {
            "url": self._url,
            "log_path": str(self._log_path),
            "settings": {
                "database": {"schema": s.database.schema},
                "worker": {**asdict(s.worker), "imports": list(s.worker.imports)},
                "experiment": asdict(s.experiment),
            },
        }
        return json.dumps(payload) + "\n"

    def _spawn(self, interpreter: Interpreter) -> _Child:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(interpreter.env)
        env["LIMBO_TUI_PARENT_PID"] = str(os.getpid())
        with open(self._log_path, "a", encoding="utf-8") as log_file:
            proc = subprocess.Popen(
                [interpreter.python, "-m", ENTRY_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                encoding="utf-8",
                env=env,
                close_fds=True,
                start_new_session=True,  # a ctrl-c in the terminal is for the UI, not it
            )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(self._launch_request())
        proc.stdin.flush()
        child = _Child(proc)
        self._board.clear()
        with self._lock:
            self._child = child
            if self._taken_by is not None:  # the executor id was taken meanwhile
                child.stopping = True
                child.killed_by_us = True
                self._kill(child)  # before its DBOS could launch
        threading.Thread(
            target=self._read_child,
            args=(child, proc.stdout),
            name=f"limbo-tui-worker-reader-{proc.pid}",
            daemon=True,
        ).start()
        return child

    def _read_child(self, child: _Child, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "ready":
                raw = message.get("limits") or {}
                child.limits = {str(k): int(v) for k, v in raw.items()}
                child.detail = message.get("detail")
                child.dbos = str(message.get("dbos") or "") or None
                child.ready.set()
            elif kind == "failed":
                child.failed = str(message.get("message"))
            elif kind == "crashing":
                child.crash_reason = f"crash point: {message.get('reason')}"
            elif kind == "waiting":
                self._waiting(child, tuple(str(i) for i in message.get("active") or ()))
            elif kind == "stopped":
                child.stopped = message
            else:
                event = progress.from_wire(message)
                if event is not None:
                    self._board.apply(event)
        code = child.proc.wait()
        child.reader_done.set()
        self._on_child_exit(child, code)

    def _waiting(self, child: _Child, active: tuple[str, ...]) -> None:
        with self._lock:
            wait = self._wait
            if child is not self._child or wait is None:
                return
            self._wait = replace(wait, active=active)
            self._set_state(STOPPING, self._waiting_detail())

    def _on_child_exit(self, child: _Child, code: int) -> None:
        with self._lock:
            if child is not self._child:
                return
            self._board.clear()
            if not child.ready.is_set() or child.stopping:
                return  # start() or stop() reports this one
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            reason = child.crash_reason or "worker process died"
            self.crash_count += 1
            self._set_state(DOWN, f"{reason} ({how})")
        self._schedule_auto_restart()

    @staticmethod
    def _kill(child: _Child) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            child.proc.send_signal(signal.SIGKILL)

    # -- auto restart and state ------------------------------------------------------
    def _wait_state_not(self, state: WorkerState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._state == state and time.monotonic() < deadline:
            time.sleep(0.02)


def _ids(ids: tuple[str, ...]) -> str:
    return ", ".join(short_waited_id(i, ids) for i in ids)
