"""Entry point of the worker child process: `python -m limbo_tui.worker.process_main`.

Started by ProcessWorker. The line protocol, one JSON object per line:

- stdin (parent -> child): the first line is the launch request
  `{"url": ..., "settings": {...}, "log_path": ...}` (on stdin, not argv, so a password
  in the URL never shows in `ps`). Nothing else is sent; end of file means the parent is
  gone or wants the worker stopped: the child exits at once (its running work stays
  PENDING, as after any crash).
- stdout (child -> parent): `{"type": "ready", "pid", "limits", "detail", "dbos"}` (its
  DBOS release),
  `{"type": "failed", "message"}`, `{"type": "crashing", "reason"}` (just before a crash
  point's SIGKILL), and the progress events of progress.to_wire().

Commands that act on workflows (enqueue, cancel, resume, fork) do not go through the
child: the parent uses DBOSClient (actions.py), which works whether the child is up,
down or crashed. Everything the child or DBOS prints goes to the log file (fds 1 and 2
are pointed at it; the protocol uses a private copy of the original stdout).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
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
        demo.set_crash_host(_ReportingCrashHost())
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

    # End of file on stdin: the parent died or asks us to stop. Either way the worker
    # ends like a crash (no graceful drain): its running work stays PENDING.
    for _line in sys.stdin:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
