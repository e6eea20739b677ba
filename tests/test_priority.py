"""A monitor yields the CPU: `watch` on a user's database runs at a lower priority
(`[feed] nice`), so that on a shared host it never takes CPU the application needs."""

from __future__ import annotations

import os
from pathlib import Path
from subprocess import DEVNULL

from tests.watch_process import Watch


def _nice_of_watch(url: str, tmp_path: Path, config: str) -> int:
    path = tmp_path / "config.toml"
    path.write_text(f'[feed]\nsource = "poll"\n{config}')
    with Watch("--config", str(path), "--db-url", url, cwd=tmp_path, stderr=DEVNULL) as watch:
        watch.next("feed")
        # Every thread of the process, not only the first: all run at the lower priority.
        threads = list(Path(f"/proc/{watch.proc.pid}/task").iterdir())
        nices = {int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in threads}
        assert len(nices) == 1, nices
        return nices.pop()


def test_a_monitor_lowers_its_cpu_priority(dbos_url: str, tmp_path: Path) -> None:
    assert _nice_of_watch(dbos_url, tmp_path, "") == min(19, os.nice(0) + 10)


def test_nice_zero_keeps_the_priority(dbos_url: str, tmp_path: Path) -> None:
    assert _nice_of_watch(dbos_url, tmp_path, "nice = 0\n") == os.nice(0)
