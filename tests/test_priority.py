"""A monitor yields the CPU: `watch` on a user's database runs at a lower priority
(`[feed] nice`), so that on a shared host it never takes CPU the application needs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.faults_support import clean_env, limbo_cmd


def _nice_of_watch(url: str, tmp_path: Path, config: str) -> int:
    path = tmp_path / "config.toml"
    path.write_text(f'[feed]\nsource = "poll"\n{config}')
    proc = subprocess.Popen(
        limbo_cmd("watch", "--json", "--config", str(path), "--db-url", url),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        while json.loads(proc.stdout.readline())["type"] != "feed":
            pass
        # Every thread of the process, not only the first: all run at the lower priority.
        threads = list(Path(f"/proc/{proc.pid}/task").iterdir())
        nices = {int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in threads}
        assert len(nices) == 1, nices
        return nices.pop()
    finally:
        proc.kill()
        proc.wait()


def test_a_monitor_lowers_its_cpu_priority(dbos_url: str, tmp_path: Path) -> None:
    assert _nice_of_watch(dbos_url, tmp_path, "") == min(19, os.nice(0) + 10)


def test_nice_zero_keeps_the_priority(dbos_url: str, tmp_path: Path) -> None:
    assert _nice_of_watch(dbos_url, tmp_path, "nice = 0\n") == os.nice(0)
