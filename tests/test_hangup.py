"""HangupGuard in real processes: a loop stuck for ever (as Textual's on a dead
terminal) still ends on SIGTERM, with the worker stopped first; a hung-up terminal is
noticed without any signal, and its input no longer reads end-of-file in a loop."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

from tests.faults_support import wait

GUARDED = """
import os, select, sys, threading
from pathlib import Path
from limbo_tui.hangup import HangupGuard
out = Path(sys.argv[1])
asked = threading.Event()
def stop_worker():
    (out / "worker-stopped").write_text("yes")
with HangupGuard(asked.set if sys.argv[2] == "exits" else (lambda: None), stop_worker,
                 grace_s=0.5, stop_worker_s=5):
    (out / "ready").write_text(str(os.getpid()))
    asked.wait()  # 'stuck': never set, like a loop blocked in a full writer queue
    # Asked to exit: the terminal's input must not read end-of-file now.
    readable, _, _ = select.select([0], [], [], 0.3)
    (out / "input").write_text("readable" if readable else "quiet")
(out / "left").write_text("yes")
"""


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", GUARDED, str(tmp_path), mode],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    wait(lambda: (tmp_path / "ready").exists(), 30, "the guarded process")
    return proc, master


def test_a_stuck_loop_still_ends_on_sigterm_after_stopping_the_worker(tmp_path: Path) -> None:
    proc, master = _start(tmp_path, "stuck")
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert (tmp_path / "worker-stopped").read_text() == "yes"
        assert not (tmp_path / "left").exists()  # ended by the watchdog, not by the loop
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_a_hung_up_terminal_is_noticed_without_a_signal(tmp_path: Path) -> None:
    proc, master = _start(tmp_path, "exits")
    # The child has no controlling terminal: no SIGHUP comes, only the hang-up itself.
    os.close(master)  # the terminal goes away (tmux kill-server, an SSH drop)
    try:
        assert proc.wait(30) == 0
        assert (tmp_path / "left").exists()  # the normal way out ran
        assert (tmp_path / "input").read_text() == "quiet"  # no end-of-file to spin on
    finally:
        if proc.poll() is None:
            proc.kill()
