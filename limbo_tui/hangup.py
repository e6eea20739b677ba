"""The TUI always ends when its terminal goes away or it is told to (SIGHUP, SIGTERM).

What went wrong without this (seen after SSH drops and `tmux kill-server`):
- A hung-up terminal fails the write of Textual's writer thread (EIO): the thread dies,
  its bounded queue fills, and the app's loop blocks for ever in its next write. Neither
  `q`'s way out nor a signal handler's app.exit() can run then, and worker.stop() is never
  reached.
- Textual's input thread reads end-of-file from a hung-up terminal in a tight loop.
- When the session's leader survives the hang-up (a shell that ignores SIGHUP, nohup-like
  launchers), the kernel sends no SIGHUP at all.

So a thread waits (poll, no CPU) for the terminal to hang up; that, SIGHUP and SIGTERM all
ask the app to exit as `q` does. When the terminal is gone its descriptors are replaced
first: output by /dev/null (a live writer then drains at once), input by a pipe that never
becomes readable (no busy loop). If the process is still there GRACE_S later, its loop is
stuck: a watchdog stops the worker (for at most STOP_WORKER_S) and ends the process with
status 128 + the signal. The embedded server and a worker process die with it (their
parent-death signal).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType

GRACE_S = 5.0
STOP_WORKER_S = 10.0
LEAVING_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
_HUNG_UP = select.POLLHUP | select.POLLERR


class HangupGuard:
    """A context manager around app.run() alone (leaving it means the app's loop ended);
    stop_worker() is the one way the worker is stopped afterwards."""

    def __init__(
        self,
        exit_app: Callable[[], object],
        stop_worker: Callable[[], object],
        *,
        terminal_fds: tuple[int, ...] = (0, 1, 2),
        grace_s: float = GRACE_S,
        stop_worker_s: float = STOP_WORKER_S,
    ) -> None:
        self._exit_app = exit_app
        self._stop_worker = stop_worker
        self._fds = tuple(fd for fd in terminal_fds if _is_terminal(fd))
        self._grace_s = grace_s
        self._stop_worker_s = stop_worker_s
        self._lock = threading.Lock()
        self._leaving = False
        self._detached = False
        self._stop_started = False
        self._worker_stopped = threading.Event()
        self._app_done = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> HangupGuard:
        for sig in LEAVING_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        if self._fds:
            threading.Thread(target=self._watch, name="limbo-tui-hangup", daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._app_done.set()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")  # the watcher's poll returns and it ends

    def leave(self, signum: int) -> None:
        """Ask the app to exit; make sure the process ends even if it cannot."""
        with self._lock:
            first, self._leaving = not self._leaving, True
        if self._terminal_hung_up():
            self._detach_terminal()
        if first:
            threading.Thread(
                target=self._watchdog, args=(128 + signum,), name="limbo-tui-exit", daemon=True
            ).start()
        with contextlib.suppress(Exception):  # a dying app has nothing left to say
            self._exit_app()

    def stop_worker(self) -> None:
        """Stop the worker once, from whichever thread comes first; a later caller waits
        (boundedly) for that stop to finish."""
        with self._lock:
            started, self._stop_started = self._stop_started, True
        if started:
            self._worker_stopped.wait(self._stop_worker_s)
            return
        try:
            self._stop_worker()
        finally:
            self._worker_stopped.set()

    # -- internals -------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.leave(signum)

    def _watch(self) -> None:
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, 0)  # events 0: only hang-up, error and closed are reported
        poller.register(self._wake_r, select.POLLIN)
        watched = set(self._fds)
        while watched:
            events = poller.poll()
            if any(fd == self._wake_r for fd, _ in events):
                return
            if any(mask & _HUNG_UP for fd, mask in events if fd in watched):
                self.leave(signal.SIGHUP)
                return
            for fd, mask in events:  # POLLNVAL: closed under us, nothing left to watch
                if mask & select.POLLNVAL and fd in watched:
                    poller.unregister(fd)
                    watched.discard(fd)

    def _terminal_hung_up(self) -> bool:
        if self._detached or not self._fds:
            return self._detached
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, 0)
        return any(mask & _HUNG_UP for _fd, mask in poller.poll(0))

    def _detach_terminal(self) -> None:
        with self._lock:
            if self._detached:
                return
            self._detached = True
        null = os.open(os.devnull, os.O_WRONLY)
        # The write end stays open for the life of the process: the read end never has
        # data nor end-of-file, so a reader waits instead of spinning.
        never_r, _never_w = os.pipe()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.dup2(never_r if fd == 0 else null, fd)

    def _watchdog(self, status: int) -> None:
        if self._app_done.wait(self._grace_s):
            # The app's loop ended: the normal way out runs (worker, server, interpreter).
            # Give it its time, but not for ever.
            self._worker_stopped.wait(self._stop_worker_s)
            time.sleep(self._grace_s)
            os._exit(status)
        # The app's loop is stuck (a dead writer's full queue): stop the worker from here.
        stopper = threading.Thread(target=self.stop_worker, name="limbo-tui-stop", daemon=True)
        stopper.start()
        self._worker_stopped.wait(self._stop_worker_s)
        os._exit(status)


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
