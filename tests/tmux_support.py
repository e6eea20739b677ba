"""A real terminal for end-to-end tests: one tmux server on a socket of its own
(`tmux -L <unique>`, never the default one), its screen read back as text."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# With its output followed, a wait reads the screen again when the pane printed
# something, and at least this often (a screen read just before tmux drew the last
# output is read again).
REREAD_S = 1.0


class Terminal:
    def __init__(self, socket: str, width: int, height: int, session: str = "e2e") -> None:
        self.socket = socket
        self.width = width
        self.height = height
        self.session = session
        self._output: Path | None = None

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        ).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        self.tmux(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            f"env {exports} {command}; echo LIMBO-EXIT=$?; sleep 120",
        )
        self.follow_output()

    def follow_output(self) -> None:
        """Append what the pane prints to a file too: wait_for then reads the screen when
        it grows, where it ran a tmux client ten times a second (~5 ms of CPU each, the
        server's work beside) through waits of up to minutes."""
        fd, name = tempfile.mkstemp(prefix=f"{self.socket}-", suffix=".out")
        os.close(fd)
        self._output = Path(name)
        self.tmux("pipe-pane", "-t", self.session, f"cat >> {shlex.quote(name)}")

    def _printed(self) -> int:
        if self._output is None:
            return -1
        try:
            return self._output.stat().st_size
        except OSError:
            return -1

    def screen(self) -> str:
        # -J joins lines the terminal wrapped, so one long line reads as one.
        return self.tmux("capture-pane", "-p", "-J", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        printed, read_at = -2, 0.0
        while (now := time.monotonic()) < deadline:
            size = self._printed()
            if self._output is None or size != printed or now - read_at >= REREAD_S:
                printed, read_at = size, now
                screen = self.screen()
                if predicate(screen):
                    return screen
            time.sleep(0.1 if self._output is None else 0.05)
        raise AssertionError(f"timed out waiting for {what}; screen was:\n{screen}")

    def kill(self) -> None:
        self.tmux("kill-server")
        if self._output is not None:
            with contextlib.suppress(OSError):
                self._output.unlink()
