"""The fault tests' own helpers must not leak processes when a test fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults_support import PtyRun, alive, wait


def test_pty_run_kills_the_command_and_its_children_when_wait_times_out(tmp_path: Path) -> None:
    """A limbo-tui that never exits (a failed kill test) is killed with what it started."""
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(600)\n"
    )
    run = PtyRun([sys.executable, "-c", script], tmp_path, dict(os.environ))
    wait(lambda: pids.exists() and len(pids.read_text().split()) == 2, 30, "the processes")
    parent, child = (int(p) for p in pids.read_text().split())
    with pytest.raises(subprocess.TimeoutExpired):
        run.wait(0.5)
    wait(lambda: not alive(parent) and not alive(child), 10, "both processes to be killed")
