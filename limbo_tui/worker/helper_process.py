"""Release helpers kept running: one release_helper.py process per interpreter for the
session, each request a JSON line on its stdin and each reply a JSON line on its stdout.

Starting the helper costs its interpreter's start and the import of that release's dbos
(SQLAlchemy, psycopg, ...): a second or more of CPU, several seconds on a loaded machine,
which a helper started per action paid every time. Kept running, only the first request
of a session pays it.

A helper that is gone (killed, crashed, its pipe closed) is started again by the next
request. The request it was answering when it died fails and is never sent again: an
enqueue or a fork is not idempotent. One request at a time per helper (a lock); the
helper holds no database connection between requests (each makes its DBOSClient and
destroys it). It ends when limbo-tui closes its stdin (close_all, at exit) or dies.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import queue
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

HELPER = Path(__file__).with_name("release_helper.py")
# The last lines the helper wrote to stderr (DBOS's log), for the message of a failure.
_STDERR_LINES = 20


class HelperFailed(Exception):
    """No reply: the helper could not start, died, or did not answer in time."""


class HelperProcess:
    """One running release_helper.py in `python`, started on first use."""

    def __init__(self, python: Path) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self.starts = 0

    def request(self, request: dict[str, Any], timeout: float) -> Any:
        """The decoded reply line to `request`; HelperFailed when there is none."""
        line = (json.dumps(request) + "\n").encode()
        with self._lock:
            proc = self._running()
            try:
                self._send(proc, line)
            except OSError:
                # Gone before it could read the request (a closed pipe): it acted on
                # nothing, so a fresh helper may take it.
                self._stop(proc)
                proc = self._running()
                try:
                    self._send(proc, line)
                except OSError as exc:
                    self._stop(proc)
                    raise HelperFailed(f"cannot send to the helper: {exc}") from None
            try:
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                self._stop(proc)
                raise HelperFailed(f"no reply within {timeout:g} s") from None
            if reply is None:
                status = proc.wait()
                self._proc = None
                raise HelperFailed(self._last_words(f"exit status {status}"))
        try:
            return json.loads(reply)
        except ValueError:
            raise HelperFailed(self._last_words("an unreadable reply")) from None

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._stop(self._proc)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _running(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:
            self._stop(proc)
        try:
            proc = subprocess.Popen(
                [str(self.python), "-I", str(HELPER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise HelperFailed(str(exc)) from None
        self.starts += 1
        self._replies = queue.Queue()
        assert proc.stdout is not None and proc.stderr is not None
        threading.Thread(
            target=_read_replies, args=(proc.stdout, self._replies), daemon=True
        ).start()
        threading.Thread(
            target=_read_log, args=(proc.stderr, self._stderr, self.python), daemon=True
        ).start()
        self._proc = proc
        return proc

    @staticmethod
    def _send(proc: subprocess.Popen[bytes], line: bytes) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line)
        proc.stdin.flush()

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """End `proc`: EOF on its stdin first (it finishes nothing half), then a kill."""
        if self._proc is proc:
            self._proc = None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _last_words(self, fallback: str) -> str:
        lines = [line for line in self._stderr if line.strip()]
        return lines[-1].strip() if lines else fallback


def _read_replies(stream: IO[bytes], replies: queue.Queue[bytes | None]) -> None:
    for line in stream:
        if line.strip():
            replies.put(line)
    replies.put(None)


def _read_log(stream: IO[bytes], tail: collections.deque[str], python: Path) -> None:
    # Drained all the time: a full stderr pipe would block the helper mid-request.
    for raw in stream:
        text = raw.decode("utf-8", "replace").rstrip()
        tail.append(text)
        log.debug("DBOS helper (%s) said: %s", python, text)


_helpers: dict[Path, HelperProcess] = {}
_helpers_lock = threading.Lock()


def helper_for(python: Path) -> HelperProcess:
    """The session's helper for `python` (made, not started, on first use)."""
    with _helpers_lock:
        helper = _helpers.get(python)
        if helper is None:
            helper = _helpers[python] = HelperProcess(python)
        return helper


@atexit.register
def close_all() -> None:
    """End every helper of this process (at exit; their stdin's EOF ends them anyway)."""
    with _helpers_lock:
        helpers = list(_helpers.values())
    for helper in helpers:
        helper.close()
