"""The TUI ends when its terminal goes away, and with it its worker: a real terminal
(tmux, a server of its own) killed under it, with the shell that started it ignoring SIGHUP
(so that no SIGHUP comes, only the hang-up itself: EIO on writes, end-of-file on reads) or
not; and SIGTERM with the terminal still there. The real `limbo-tui` command on a real
database, with a real DBOS worker (thread and process).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.faults_support import COMMAND, alive, wait

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,
]

# Generous: a liveness bound (the process must end at all), not a measure of speed.
EXIT_TIMEOUT_S = 60


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=20
    ).stdout


def _descendants(pid: int) -> set[int]:
    """pid and every live process under it."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def _limbo_pid(url: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmdline]
        if str(COMMAND) in args and url in args and alive(int(proc.name)):
            return int(proc.name)
    return None


@pytest.mark.parametrize(
    ("how", "worker"),
    [
        ("hangup, the shell ignores SIGHUP", "thread"),
        ("hangup, the shell ignores SIGHUP", "process"),
        ("hangup", "thread"),
        ("SIGTERM", "process"),
    ],
)
def test_the_tui_ends_with_its_terminal(
    dbos_url: str, tmp_path: Path, how: str, worker: str
) -> None:
    socket = f"limbo-hangup-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    status = tmp_path / "status"
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    env |= {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    exports = " ".join(f"{k}='{v}'" for k, v in env.items())
    limbo = f"{COMMAND} --worker {worker} --db-url '{dbos_url}'"
    trap = "trap '' HUP; " if "ignores" in how else ""
    script = f"{trap}env {exports} {limbo}; echo $? > {status}"
    try:
        _tmux(socket, "new-session", "-d", "-s", "hup", "-x", "100", "-y", "30", script)

        def screen() -> str:
            return _tmux(socket, "capture-pane", "-p", "-t", "hup")

        def up() -> bool:
            # LIVE via notify, or POLLING where the triggers are not installed (monitor mode)
            shown = screen()
            return "worker RUNNING" in shown and ("feed LIVE" in shown or "feed POLLING" in shown)

        wait(up, 90, "the monitor")
        pid = _limbo_pid(dbos_url)
        assert pid is not None
        family = _descendants(pid)
        if worker == "process":
            assert len(family) > 1, "the worker process should be running"
        _tmux(socket, "send-keys", "-t", "hup", "e")  # work in flight, the screen busy
        time.sleep(1.0)

        if how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        else:
            _tmux(socket, "kill-server")

        try:
            wait(lambda: not alive(pid), EXIT_TIMEOUT_S, f"limbo-tui to end after {how}")
        except AssertionError:
            for p in family:
                if alive(p):
                    os.kill(p, signal.SIGKILL)
            raise
        wait(lambda: not any(alive(p) for p in family), 20, "its worker to end")
        if how == "SIGTERM" or "ignores" in how:  # the shell lived on to write the status
            wait(status.exists, 10, "the exit status")
            assert status.read_text().strip() in ("0", "143" if how == "SIGTERM" else "129")
    finally:
        _tmux(socket, "kill-server")
