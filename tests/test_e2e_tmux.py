"""End to end: the real `limbo-tui` command, embedded default, in a real terminal (tmux).

A newcomer's session of the seed experiment: `e` fills the tree, `x` crashes the worker
(DOWN, rows PENDING), `r` restarts it and the recovery counters climb, until DBOS
dead-letters the workflows; `q` quits and leaves no postgres behind. (How fast it quits
is a figure of bench/, not a bound here: a loaded machine would fail it.)
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults_support import postgres_pids
from tests.pg_support import shared_tmp
from tests.tmux_support import Terminal

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,
]

COMMAND = Path(sys.executable).parent / "limbo-tui"


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"limbo-e2e-{uuid.uuid4().hex[:8]}", 100, 30)
    yield term
    term.kill()


def _header(screen: str) -> str:
    return screen.splitlines()[0] if screen else ""


def test_seed_experiment_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-e2e-") / "pg"
    config = tmp_path / "config.toml"
    # Small and quick, with the seed's shape: the crash point sits in the last child so
    # that there is time to press x while the first one runs.
    config.write_text(
        f'[embedded]\ndata_dir = "{data_dir}"\n'
        "[experiment]\nchildren = 2\nsteps = 3\ncrash_child = 3\ncrash_step = 2\n"
        "step_delay_ms = 700\nmax_recovery_attempts = 2\nchild_max_recovery_attempts = 2\n"
    )
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    env |= {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    terminal.start(f"{COMMAND} --config {config}", env)

    terminal.wait_for(
        lambda s: "worker RUNNING" in s and "nothing in limbo" in s, 60, "the empty monitor"
    )
    terminal.keys("e")
    screen = terminal.wait_for(
        lambda s: "limbo_demo.child" in s and "RUNNING" in _header(s), 30, "the tree to fill"
    )
    assert "limbo_demo.parent" in screen

    terminal.keys("x")
    screen = terminal.wait_for(lambda s: "worker DOWN" in s, 20, "the crash")
    assert "PENDING" in screen
    assert "disp 1/3" in screen  # the parent's first dispatch

    # Restart until DBOS gives up on the workflows, as in the seed.
    restarts = 0
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        screen = terminal.screen()
        if screen.count("DEAD") >= 2 and "worker RUNNING" in screen:
            break
        if "worker DOWN" in screen:
            terminal.keys("r")
            restarts += 1
            terminal.wait_for(lambda s: "worker DOWN" not in s, 30, "the restart")
            if restarts == 1:
                terminal.wait_for(lambda s: "disp 2/3" in s, 20, "the counter to climb")
        time.sleep(0.2)
    else:
        raise AssertionError(f"the workflows were never dead-lettered; screen:\n{screen}")
    assert restarts >= 3
    assert "disp 4/3 refused" in screen  # dead-lettered: the dispatch found attempts > max + 1

    assert postgres_pids(data_dir), "the embedded server should run while limbo-tui does"
    terminal.keys("q")
    screen = terminal.wait_for(lambda s: "LIMBO-EXIT=" in s, 60, "limbo-tui to exit")
    assert "LIMBO-EXIT=0" in screen
    deadline = time.monotonic() + 5
    while postgres_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not postgres_pids(data_dir), "a postgres process outlived limbo-tui"


def test_bad_db_url_in_a_real_terminal_is_one_line(terminal: Terminal) -> None:
    env = {"TERM": "xterm-256color", "PATH": os.environ.get("PATH", "")}
    terminal.start(f"{COMMAND} --db-url postgresql://someone:hunter2@127.0.0.1:1/nothing", env)
    screen = terminal.wait_for(lambda s: "LIMBO-EXIT=" in s, 30, "limbo-tui to exit")
    assert "LIMBO-EXIT=1" in screen
    assert "hunter2" not in screen
    assert "Traceback" not in screen
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].startswith("limbo-tui: ")
    assert lines[1] == "LIMBO-EXIT=1"
