"""Issue 10.4(b): the embedded server dies with limbo-tui even when limbo-tui was started
with SIGINT ignored (a script's background job, nohup-like launchers).

The server's parent-death signal is SIGINT. An ignored SIGINT is inherited through
exec, so a death signal that arrives before postgres installs its own handler was
dropped and the server lived on as an orphan. The owner here dies in exactly that
window: its server child pauses right after arming the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import shared_tmp

# The owner: limbo-tui's real start path; the server's child lingers for a second after
# arming its death signal, and the owner is SIGKILLed meanwhile.
OWNER = """
import os, signal, sys, threading, time
from limbo_tui.pg import embedded

real_arm = embedded._die_with_parent
def arm_then_linger(*args):
    arm = real_arm(*args) if args else real_arm
    def child():
        arm()
        os.write(2, b"limbo-test: armed\\n")
        time.sleep(1.0)
    return child if args else child()
embedded._die_with_parent = arm_then_linger

real_start = embedded.EmbeddedServer._start
def start_then_die(self, binaries):
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGKILL)).start()
    real_start(self, binaries)
embedded.EmbeddedServer._start = start_then_die
embedded.EmbeddedServer(sys.argv[1]).ensure_running()
"""


def _servers_on(data_dir: Path) -> list[int]:
    """Live processes naming data_dir: the server's child before exec (a fork of the
    owner, whose argv names it) and postgres after."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(data_dir).encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_the_server_dies_with_an_owner_started_with_sigint_ignored(sigint: str) -> None:
    data_dir = shared_tmp("limbo-tui-pdeath-") / "pg"
    first = EmbeddedServer(data_dir)
    first.ensure_running()  # initdb beforehand: the owner only starts the server
    first.stop()

    def owner_signals() -> None:
        if sigint == "ignored":
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)],
        preexec_fn=owner_signals,
        start_new_session=True,
    )
    assert owner.wait(60) == -signal.SIGKILL
    # the owner died while its server child was starting, not before
    assert "limbo-test: armed" in (data_dir / "postgres.log").read_text()
    deadline = time.monotonic() + 10
    while _servers_on(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = _servers_on(data_dir)
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert orphans == [], "postgres outlived an owner that was killed while starting it"
    # and the next start on the same data dir works
    again = EmbeddedServer(data_dir)
    again.ensure_running()
    assert again.owned
    again.stop()
