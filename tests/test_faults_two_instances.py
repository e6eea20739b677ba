"""Two limbo-tui on one database, started together, quit in either order.

- Two `watch --json` (the same LiveFeed as the TUI) on one database: both go LIVE, the
  triggers are installed once, both see every change; one quits and the other goes on;
  `limbo-tui triggers uninstall` from a third terminal turns the survivor to POLLING
  (it notices at its next heartbeat) instead of freezing, and it still sees changes.
- Two TUIs on the embedded default share one private server, which stops with the one
  that started it: the other restarts it and carries on (real command, tmux).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults_support import clean_env, limbo_cmd, postgres_pids, wait
from tests.pg_support import shared_tmp
from tests.test_triggers import _traces
from tests.tmux_support import Terminal

# Long fault tests: `-m "not slow"` leaves them out of a quick run.
pytestmark = pytest.mark.slow


class Watch:
    """A running `limbo-tui watch --json`, its lines collected by a reader thread."""

    def __init__(self, url: str, config: Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            limbo_cmd("watch", "--json", "--db-url", url, "--config", str(config)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=clean_env(),
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def states(self) -> list[str]:
        return [x["state"] for x in self.lines if x["type"] == "feed"]

    def saw(self, workflow_id: str) -> bool:
        return any(
            x["type"] == "workflow" and x["workflow"]["id"] == workflow_id for x in self.lines
        )

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 15) -> None:
        wait(predicate, timeout, what)

    def quit(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        _out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0 and "Traceback" not in err, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _insert(url: str, workflow_id: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            "VALUES (%s, 'ENQUEUED', 'job')",
            (workflow_id,),
        )


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for w in started:
        w.kill()


@pytest.mark.parametrize("first_to_quit", [0, 1])
def test_two_watchers_start_together_and_quit_in_any_order(
    dbos_url: str, tmp_path: Path, watches: list[Watch], first_to_quit: int
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("lab = true\n[feed]\nheartbeat_s = 1\npoll_interval_s = 0.2\n")
    watches += [Watch(dbos_url, config, tmp_path), Watch(dbos_url, config, tmp_path)]
    for w in watches:
        w.wait(lambda w=w: "LIVE" in w.states(), "both to go LIVE")  # type: ignore[misc]
    # Installed once, whoever won the race.
    assert _traces(dbos_url) == {"schema": 1, "functions": 1, "triggers": 6}
    _insert(dbos_url, "seen-by-both")
    for w in watches:
        w.wait(lambda w=w: w.saw("seen-by-both"), "both to see the row")  # type: ignore[misc]

    watches[first_to_quit].quit()
    survivor = watches[1 - first_to_quit]
    _insert(dbos_url, "after-one-quit")
    survivor.wait(lambda: survivor.saw("after-one-quit"), "the survivor to see the row")
    assert survivor.states() == ["LIVE"]
    assert _traces(dbos_url) == {"schema": 1, "functions": 1, "triggers": 6}

    # Someone uninstalls the triggers from a third terminal: the survivor must not sit
    # there LIVE with no notification ever coming again.
    out = subprocess.run(
        limbo_cmd("triggers", "uninstall", "--db-url", dbos_url),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.startswith("uninstalled"), out
    survivor.wait(lambda: survivor.states()[-1:] == ["POLLING"], "the survivor to poll", 10)
    polling = next(x for x in reversed(survivor.lines) if x.get("state") == "POLLING")
    assert "triggers were removed" in polling["detail"]
    _insert(dbos_url, "after-uninstall")
    survivor.wait(lambda: survivor.saw("after-uninstall"), "the polling survivor to see it")
    survivor.quit()
    # It respected the uninstall (no trace left) and writes work.
    assert _traces(dbos_url) == {"schema": 0, "functions": 0, "triggers": 0}
    _insert(dbos_url, "plain-write")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_two_tuis_on_the_embedded_default_outlive_each_other(tmp_path: Path) -> None:
    """The second TUI reuses the first one's private server (and leaves the executor id to
    the first one's worker); when the first quits (and its server stops with it), the
    second starts the server again, takes over the worker and goes on working."""
    data_dir = shared_tmp("limbo-tui-two-") / "pg"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[embedded]\ndata_dir = "{data_dir}"\n[feed]\nheartbeat_s = 1\n'
        "[experiment]\nchildren = 1\nsteps = 2\ncrash_enabled = false\nstep_delay_ms = 50\n"
    )
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path), "PATH": clean_env()["PATH"]}
    command = " ".join(limbo_cmd("--config", str(config)))
    first = Terminal(f"limbo-two-{uuid.uuid4().hex[:8]}", 100, 30)
    second = Terminal(f"limbo-two-{uuid.uuid4().hex[:8]}", 100, 30)
    try:
        first.start(command, env)
        first.wait_for(lambda s: "worker RUNNING" in s and "LIVE" in s, 60, "a live monitor")
        second.start(command, env)
        # Same database, same executor id: only one worker may run it, or each would
        # recover (and run again) what the other is running. The second says why.
        # It is not DOWN: it runs, in the first one, whose process it names.
        second.wait_for(
            lambda s: "worker ELSEWHERE" in s and "LIVE" in s and "another limbo-tui (pid" in s,
            60,
            "a live monitor whose worker says it runs in the first one",
        )
        owners = postgres_pids(data_dir)
        assert owners, "one shared server runs"

        first.keys("q")
        # `r` the moment the first one's server is gone, as the second's notice invites
        # ("r here takes it over once that one quits"): its feed has most likely not yet
        # noticed (its header still says LIVE). The claim waits for the feed to start the
        # server again (it failed on the missing socket and stayed ELSEWHERE for good).
        wait(lambda: not set(postgres_pids(data_dir)) & set(owners), 15, "the server to stop")
        second.keys("r")
        first.wait_for(lambda s: "LIMBO-EXIT=0" in s, 15, "the first to quit")
        second.wait_for(lambda s: "worker RUNNING" in s, 45, "the second's worker to run")
        second.wait_for(lambda s: "LIVE" in s.splitlines()[0], 45, "the second to be live")
        assert postgres_pids(data_dir) and set(postgres_pids(data_dir)) != set(owners)
        second.keys("e")
        second.wait_for(lambda s: "SUCCESS" in s and "limbo_demo" in s, 45, "an experiment")
        second.keys("q")
        second.wait_for(lambda s: "LIMBO-EXIT=0" in s, 15, "the second to quit")
        deadline = time.monotonic() + 10
        while postgres_pids(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not postgres_pids(data_dir), "a postgres process outlived both"
    finally:
        first.kill()
        second.kill()
