"""A real terminal for end-to-end tests: one tmux server on a socket of its own
(`tmux -L <unique>`, never the default one), its screen read back as text."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


class Terminal:
    def __init__(self, socket: str, width: int, height: int, session: str = "e2e") -> None:
        self.socket = socket
        self.width = width
        self.height = height
        self.session = session

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

    def screen(self) -> str:
        # -J joins lines the terminal wrapped, so one long line reads as one.
        return self.tmux("capture-pane", "-p", "-J", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen was:\n{screen}")

    def kill(self) -> None:
        self.tmux("kill-server")
