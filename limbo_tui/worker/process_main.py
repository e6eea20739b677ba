"""Entry point of the worker child process: `python -m limbo_tui.worker.process_main`.

Started by ProcessWorker. The line protocol, one JSON object per line:

- stdin (parent -> child): the first line is the launch request
  `{"url": ..., "settings": {...}, "log_path": ...}` (on stdin, not argv, so a password
  in the URL never shows in `ps`). Then at most `{"type": "stop", "wait_s": N}`: stop as
  the seed's Ctrl+C did, with `DBOS.destroy(workflow_completion_timeout_sec=N)`, which
  waits up to N s for the workflows still running here. End of file means the parent is
  gone or wants the worker stopped at once: the child exits (its running work stays
  PENDING, as after any crash).
- stdout (child -> parent): `{"type": "ready", "pid", "limits", "detail", "dbos"}` (its
  DBOS release),
  `{"type": "failed", "message"}`, `{"type": "crashing", "reason"}` (just before a crash
  point's SIGKILL), the progress events of progress.to_wire(), and during a stop
  `{"type": "waiting", "active": [ids]}` (each of DBOS's once-a-second "workflows remain
  active" lines) then `{"type": "stopped", "elapsed_s", "still_active": [ids],
  "problem"}` just before the child exits.

Commands that act on workflows (enqueue, cancel, resume, fork) do not go through the
child: the parent uses DBOSClient (actions.py), which works whether the child is up,
down or crashed. Everything the child or DBOS prints goes to the log file (fds 1 and 2
are pointed at it; the protocol uses a private copy of the original stdout).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from limbo_tui.errors import LimboError, one_line

_PR_SET_PDEATHSIG = 1


def _die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when limbo-tui dies (Linux), and exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if expected_parent and os.getppid() != expected_parent:
        os._exit(0)


class _Channel:
    """The protocol pipe to the parent; writes from many threads, one line each."""

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":"))
        with self._lock:
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # the parent is gone


class _ShutdownWaitReporter(logging.Handler):
    """Passes each of DBOS's shutdown-waiting lines to the parent as it is logged."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(logging.INFO)
        self._channel = channel
        self.last: tuple[str, ...] = ()

    def emit(self, record: logging.LogRecord) -> None:
        from limbo_tui.worker_log import shutdown_wait_ids

        ids = shutdown_wait_ids(record.getMessage())
        if ids is not None:
            self.last = ids
            self._channel.send({"type": "waiting", "active": list(ids)})


def _stop_gracefully(channel: _Channel, wait_s: int) -> NoReturn:
    """DBOS.destroy with its wait for active workflows, told to the parent, then exit.

    DBOS checks once a second until none is active or wait_s passed, so a destroy that
    returns before wait_s found none; one that took wait_s gave up on the last ids it
    named. os._exit, not a return: a workflow thread that never ends (the seed's parent
    polling its dead child) would hold up the interpreter's exit for ever.
    """
    from dbos import DBOS

    reporter = _ShutdownWaitReporter(channel)
    logging.getLogger("dbos").addHandler(reporter)
    started = time.monotonic()
    problem = None
    try:
        DBOS.destroy(workflow_completion_timeout_sec=wait_s)
    except Exception as exc:
        traceback.print_exc()
        problem = one_line(exc)
    elapsed = time.monotonic() - started
    gave_up = wait_s > 0 and elapsed >= wait_s and bool(reporter.last)
    channel.send(
        {
            "type": "stopped",
            "elapsed_s": round(elapsed, 1),
            "still_active": list(reporter.last) if gave_up else [],
            "problem": problem,
        }
    )
    with contextlib.suppress(Exception):
        logging.shutdown()
    os._exit(0 if problem is None else 1)


def _settings_from(data: dict[str, Any]) -> Any:
    from limbo_tui.settings import DatabaseSettings, ExperimentSettings, Settings, WorkerSettings

    worker = dict(data.get("worker", {}))
    worker["imports"] = tuple(worker.get("imports", ()))
    return Settings(
        database=DatabaseSettings(**data.get("database", {})),
        worker=WorkerSettings(**worker),
        experiment=ExperimentSettings(**data.get("experiment", {})),
    )


def main() -> NoReturn:
    expected_parent = int(os.environ.get("LIMBO_TUI_PARENT_PID", "0") or 0)
    _die_with_parent(expected_parent)
    channel = _Channel(os.dup(1))
    request = json.loads(sys.stdin.readline() or "{}")
    log_path = request.get("log_path")
    if log_path:
        from limbo_tui.private_paths import open_private_file

        try:
            log_fd = open_private_file(Path(log_path), what="the worker log")
        except LimboError as exc:
            channel.send({"type": "failed", "message": exc.message})
            os._exit(1)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115

    from dbos import DBOS

    from limbo_tui.worker import dbos_launch, demo, progress

    class _ReportingCrashHost(demo.ProcessCrashHost):
        def crash(self, reason: str) -> NoReturn:
            channel.send({"type": "crashing", "reason": reason})
            super().crash(reason)

    try:
        settings = _settings_from(request.get("settings", {}))
        if log_path:
            dbos_launch.route_dbos_logs(Path(log_path))
        dbos_launch.prepare(settings)
        dbos_launch.declare_experiment_queue(settings)
        progress.set_sink(lambda event: channel.send(progress.to_wire(event)))
        demo.set_crash_host(_ReportingCrashHost(settings.experiment.crash_signal))
        DBOS(config=dbos_launch.dbos_config(request["url"], settings))  # type: ignore[arg-type]
        DBOS.launch()
        problem = dbos_launch.register_experiment_queue(settings)
    except Exception as exc:
        traceback.print_exc()
        channel.send({"type": "failed", "message": one_line(exc)})
        os._exit(1)
    limits = demo.registered_limits()
    limits.update(demo.max_recovery_attempts())
    from importlib import metadata

    channel.send(
        {
            "type": "ready",
            "pid": os.getpid(),
            "limits": limits,
            "detail": problem,
            "dbos": metadata.version("dbos"),
        }
    )

    # A stop request: DBOS's own shutdown. End of file on stdin: the parent died or asks
    # us to stop at once; the worker ends like a crash: its running work stays PENDING.
    for line in sys.stdin:
        with contextlib.suppress(ValueError):
            command = json.loads(line)
            if isinstance(command, dict) and command.get("type") == "stop":
                _stop_gracefully(channel, max(0, int(command.get("wait_s") or 0)))
    os._exit(0)


if __name__ == "__main__":
    main()
