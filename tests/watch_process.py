"""`limbo-tui watch --json` as a child process, as a script would run it: started with
the environment of a user who configured nothing, its stdout read one JSON document at a
time, always ended with the test."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.faults_support import clean_env, limbo_cmd


class Watch:
    """`limbo-tui watch --json ARGS` in `cwd`. `guard_s`: kill it after that long, so that
    a watch that stops printing fails the read instead of hanging the suite."""

    def __init__(
        self,
        *args: str,
        cwd: Path,
        env: dict[str, str] | None = None,
        stderr: int = subprocess.PIPE,
        guard_s: float | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            limbo_cmd("watch", "--json", *args),
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            env=clean_env() if env is None else env,
        )
        self._guard = threading.Timer(guard_s, self.proc.kill) if guard_s else None
        if self._guard is not None:
            self._guard.start()

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def line(self) -> dict[str, Any]:
        """The next document it prints."""
        raw = self.stdout.readline()
        if not raw:
            err = self.proc.stderr.read() if self.proc.stderr is not None else ""
            raise AssertionError(f"watch ended (exit {self.proc.wait()}): {err}")
        doc: dict[str, Any] = json.loads(raw)
        return doc

    def next(self, kind: str, where: Callable[[dict[str, Any]], bool] = bool) -> dict[str, Any]:
        """The next document of this type ("feed", "workflow", "resync"...) that `where`
        accepts; the snapshot's rows and anything else before it are passed over."""
        while True:
            doc = self.line()
            if doc["type"] == kind and where(doc):
                return doc

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        """The next line about this workflow."""
        return self.next("workflow", lambda doc: doc["workflow"]["id"] == workflow_id)

    def stop(self, sig: int = signal.SIGINT) -> str:
        """End it as a user would (ctrl+c, or `sig`): it exits 0 with no traceback; its
        stderr."""
        self.proc.send_signal(sig)
        _out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, (self.proc.returncode, err)
        assert "Traceback" not in (err or ""), err
        return err or ""

    def close(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a test may have stopped it
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
