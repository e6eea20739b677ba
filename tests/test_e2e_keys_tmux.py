"""The keys a terminal user types by reflex, in a real terminal (tmux) with a real shell:
`c y` typed in one burst never cancels (the dialog ignores keys typed before it was
shown), ctrl+z suspends the job to the shell and `fg` brings the whole screen back, and
ctrl+c quits with status 0. And a hostile status shown in the cancel dialog does not
retitle the terminal.

The real `limbo-tui` command, on a real database, from an interactive bash (job control).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults_support import COMMAND, ROOT
from tests.tmux_support import Terminal

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,
]

WID = "reflex-victim-1"


class Shell(Terminal):
    """An interactive bash in a tmux pane of its own server (a unique -L socket)."""

    def __init__(self, home: Path) -> None:
        super().__init__(f"limbo-keys-{os.getpid()}-{uuid.uuid4().hex[:8]}", 100, 30, "keys")
        env = {"TERM": "xterm-256color", "HOME": str(home), "PS1": "shell$ "}
        env |= {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
        exports = " ".join(f"{k}='{v}'" for k, v in env.items())
        self.tmux(
            "new-session", "-d", "-s", "keys", "-x", "100", "-y", "30",
            f"env -i {exports} bash --norc --noprofile -i",
        )  # fmt: skip
        self.follow_output()

    def type(self, text: str) -> None:
        """Literal text in one write to the terminal: what a fast typist's burst is."""
        self.tmux("send-keys", "-t", "keys", "-l", text)

    def tty(self) -> str:
        return self.tmux("display", "-p", "-t", "keys", "#{pane_tty}").strip()


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    sh = Shell(tmp_path)
    yield sh
    sh.kill()


def _app_state(tty: str) -> str | None:
    """The process state (R, S, T...) of limbo-tui on that terminal, None when gone."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            tty_nr = int(stat[4])
        except (OSError, IndexError, ValueError):
            continue
        if str(COMMAND) in cmdline and os.stat(tty).st_rdev == tty_nr and stat[0] != "Z":
            return stat[0]
    return None


def _monitor_up(screen: str) -> bool:
    # LIVE via notify, or POLLING where the triggers are not installed (monitor mode).
    return ("feed LIVE" in screen or "feed POLLING" in screen) and "victim" in screen


def _status(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = %s", (WID,)
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("launcher", ["limbo-tui", "uv run limbo-tui"])
def test_reflex_keys_in_a_real_terminal(shell: Shell, dbos_url: str, launcher: str) -> None:
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name) "
            "VALUES (%s, 'ENQUEUED', 'victim', 'q')",
            (WID,),
        )
    shell.wait_for(lambda s: "shell$" in s, 20, "the shell")
    if launcher == "uv run limbo-tui":
        # The README's command: uv waits for limbo-tui, so ctrl+z must stop uv too.
        uv = shutil.which("uv")
        assert uv is not None
        command = f"{uv} run --quiet --project {ROOT} limbo-tui"
    else:
        command = str(COMMAND)
    shell.type(f"{command} --worker none --db-url '{dbos_url}'")
    shell.keys("Enter")
    shell.wait_for(_monitor_up, 60, "the monitor")

    # `c y` in one burst: the dialog opens, the y typed ahead of it is ignored.
    shell.type("cy")
    shell.wait_for(lambda s: "Cancel victim" in s, 10, "the cancel dialog")
    time.sleep(1.0)  # give a typed-ahead y every chance to act
    assert _status(dbos_url) == "ENQUEUED", "a key typed ahead confirmed the cancel"
    assert "Cancel victim" in shell.screen()
    shell.type("n")
    shell.wait_for(lambda s: "Cancel victim" not in s, 10, "the dialog to close")

    # ctrl+z: the job stops and the shell has the terminal; fg: the whole screen is back.
    tty = shell.tty()
    shell.keys("C-z")
    shell.wait_for(lambda s: "Stopped" in s and s.rstrip().endswith("shell$"), 15, "the shell")
    assert _app_state(tty) == "T"
    shell.type("fg")
    shell.keys("Enter")
    screen = shell.wait_for(
        lambda s: "worker NONE" in (s.splitlines() or [""])[0] and "victim" in s,
        15,
        "the monitor back",
    )
    assert "feed " in screen.splitlines()[0]
    assert _app_state(tty) in ("S", "R")

    # ctrl+c quits cleanly.
    shell.keys("C-c")
    shell.wait_for(lambda s: s.rstrip().endswith("shell$"), 20, "limbo-tui to quit")
    shell.type("echo LIMBO-EXIT=$?")
    shell.keys("Enter")
    screen = shell.wait_for(lambda s: "LIMBO-EXIT=" in s, 10, "the exit status")
    assert "LIMBO-EXIT=0" in screen
    assert "Traceback" not in screen
    assert _app_state(tty) is None
    assert _status(dbos_url) == "ENQUEUED"


def test_a_hostile_status_in_the_cancel_dialog_does_not_retitle_the_terminal(
    shell: Shell, dbos_url: str
) -> None:
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            "VALUES (%s, %s, 'victim')",
            (WID, "PENDING\x1b]2;pwned-title\x07\x1b]0;pwned-title\x07"),
        )
    shell.wait_for(lambda s: "shell$" in s, 20, "the shell")
    before = shell.tmux("display", "-p", "-t", "keys", "#{pane_title}").strip()
    shell.type(f"{COMMAND} --worker none --db-url '{dbos_url}'")
    shell.keys("Enter")
    shell.wait_for(_monitor_up, 60, "the monitor")
    shell.type("c")
    shell.wait_for(lambda s: "Cancel victim" in s, 10, "the cancel dialog")
    time.sleep(0.5)
    title = shell.tmux("display", "-p", "-t", "keys", "#{pane_title}").strip()
    assert "pwned" not in title, title
    assert title == before
    shell.type("n")
    shell.wait_for(lambda s: "Cancel victim" not in s, 10, "the dialog to close")
    shell.type("q")
    shell.wait_for(lambda s: s.rstrip().endswith("shell$"), 20, "limbo-tui to quit")
