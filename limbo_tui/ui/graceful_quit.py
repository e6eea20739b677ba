"""`q` with a running worker: stop it as the seed's Ctrl+C did, on screen, then quit.

The worker's graceful stop (Worker.stop_gracefully) lets DBOS wait for the workflows
still running; on dbos 2.8 the seed's parent never ends and DBOS waits its whole
shutdown_wait_s. The app stays up meanwhile, so the header shows what DBOS waits for
and for how long; a second `q` kills the worker at once. The stop is bounded by the
worker itself, and its outcome is the last line printed once the screen is gone.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App

from limbo_tui.errors import one_line
from limbo_tui.worker.protocol import Worker


class GracefulQuit:
    def __init__(self, app: App[Any], worker: Worker | None) -> None:
        self._app = app
        self._worker = worker
        self.stopping = False

    def press(self) -> None:
        """One `q` (or ctrl+c)."""
        app, worker = self._app, self._worker
        if worker is None or worker.state not in ("RUNNING", "STOPPING"):
            app.exit()
            return
        if self.stopping:
            # Again: no more waiting. The stop in progress then ends and quits.
            app.notify("killing the worker now (SIGKILL); its running work stays PENDING")
            app.run_worker(worker.crash, thread=True, group="quit-kill", exit_on_error=False)
            return
        self.stopping = True
        if worker.state == "STOPPING":
            # A restart's stop is waiting: quitting does not wait for it as well.
            app.notify("killing the worker now (SIGKILL); its running work stays PENDING")
            app.run_worker(self._kill, thread=True, group="quit", exit_on_error=False)
            return
        app.notify(
            "quitting: DBOS's shutdown waits for the worker's active workflows "
            "(q again: kill the worker now)",
            timeout=30,
        )
        app.run_worker(self._stop, thread=True, group="quit", exit_on_error=False)

    def _stop(self) -> None:
        worker = self._worker
        assert worker is not None
        try:
            outcome = f"worker stopped: {worker.stop_gracefully()}"
        except Exception as exc:
            outcome = f"worker stop failed: {one_line(exc)}"
        self._exit(outcome)

    def _kill(self) -> None:
        worker = self._worker
        assert worker is not None
        try:
            worker.crash()
            worker.stop()
            outcome = "worker killed (SIGKILL) during a restart's stop; its work stays PENDING"
        except Exception as exc:
            outcome = f"worker stop failed: {one_line(exc)}"
        self._exit(outcome)

    def _exit(self, outcome: str) -> None:
        app = self._app
        app.call_from_thread(app.exit, None, 0, Text(f"limbo-tui: {outcome}"))
