"""Record docs/session.cast: the real `limbo-tui` in a pseudo-terminal, driven through the
seed's story (enqueue -> crash -> restart until DBOS dead-letters -> limbo -> cancel), as an
asciinema v2 recording. Run from a checkout: `uv run python docs/record_session.py`.

It waits on what the screen says (ANSI codes stripped from the output), never on fixed
sleeps alone, and keeps its own embedded PostgreSQL in a temporary directory."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

WIDTH, HEIGHT = 100, 30
OUT = Path(__file__).parent / "session.cast"
# Idle stretches longer than this are shortened in the recording (waiting is not news).
MAX_GAP_S = 1.5
ANSI = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b."
)


class Session:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        self.proc = subprocess.Popen(
            command, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.started = time.monotonic()
        self.events: list[tuple[float, str, str]] = []
        self.seen = ""  # plain text since the last key
        self.everything = ""  # plain text since the start

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return
        text = data.decode("utf-8", errors="replace")
        self.events.append((time.monotonic() - self.started, "o", text))
        plain = ANSI.sub("", text)
        self.seen = (self.seen + plain)[-200_000:]
        self.everything = (self.everything + plain)[-400_000:]

    def wait_for(self, *words: str, within_s: float = 120.0, ever: bool = False) -> None:
        """Until the output since the last key (ever: since the start) holds `words`."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if all(w in (self.everything if ever else self.seen) for w in words):
                return
            if self.proc.poll() is not None:
                self._pump(0.2)
                raise SystemExit(
                    f"limbo-tui exited ({self.proc.returncode}) waiting for {words}: "
                    f"{self.seen[-500:]}"
                )
            self._pump(0.1)
        Path(tempfile.gettempdir(), "limbo-cast-screen.txt").write_text(self.everything)
        raise SystemExit(f"the screen never showed {words}")

    def linger(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._pump(0.05)

    def key(self, keys: str) -> None:
        self.seen = ""
        self.events.append((time.monotonic() - self.started, "i", keys))
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        os.close(self.master)


def write_cast(events: list[tuple[float, str, str]], path: Path) -> None:
    header = {
        "version": 2,
        "width": WIDTH,
        "height": HEIGHT,
        "timestamp": int(time.time()),
        "title": "limbo-tui: enqueue, crash, restart, limbo, cancel",
        "env": {"TERM": "xterm-256color"},
    }
    lines = [json.dumps(header)]
    shown, last = 0.0, 0.0
    for t, kind, data in events:
        shown += min(t - last, MAX_GAP_S)
        last = t
        lines.append(json.dumps([round(shown, 3), kind, data]))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    command = shutil.which("limbo-tui", path=str(Path(sys.executable).parent))
    if command is None:
        raise SystemExit("limbo-tui is not installed in this environment: run `uv sync` first")
    with tempfile.TemporaryDirectory(prefix="limbo-cast-") as tmp:
        # As root the embedded server runs as an unprivileged user, who must enter it.
        Path(tmp).chmod(0o755)
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[embedded]\ndata_dir = "{tmp}/pg"\n'
            "[experiment]\nchildren = 2\nsteps = 3\ncrash_child = 3\ncrash_step = 2\n"
            "step_delay_ms = 700\nmax_recovery_attempts = 2\nchild_max_recovery_attempts = 2\n"
        )
        env = {"TERM": "xterm-256color", "HOME": tmp, "PATH": os.environ.get("PATH", "")}
        env["LANG"] = os.environ.get("LANG", "C.UTF-8")
        session = Session([command, "--config", str(config)], env)
        try:
            session.wait_for("worker RUNNING", "nothing in limbo")
            session.linger(1.0)
            session.key("e")  # enqueue the seed experiment
            session.wait_for("limbo_demo.child")
            session.linger(1.0)
            session.key("x")  # crash the embedded worker
            session.wait_for("worker DOWN")
            session.linger(1.5)
            for _ in range(8):  # restart until DBOS refuses a dispatch
                session.key("r")
                session.wait_for("RUNNING")
                session.linger(2.0)
                if "refused" in session.everything:
                    break
                session.wait_for("worker DOWN", within_s=60)
                session.linger(1.0)
            session.wait_for("refused", "in limbo", within_s=60, ever=True)
            session.linger(3.0)
            session.key("g")  # the parent, in limbo
            session.linger(1.0)
            session.key("c")  # the fix: cancel it (it asks)
            session.wait_for("(y)")
            session.linger(1.5)
            session.key("y")
            session.wait_for("CANCELLED", within_s=60)
            session.linger(3.0)
            session.key("q")
            session.linger(2.0)
        finally:
            session.close()
        write_cast(session.events, OUT)
    print(f"wrote {OUT} ({len(session.events)} events)")


if __name__ == "__main__":
    main()
