"""Issue 10.7: a full disk under the embedded database shows in the header while DBOS's
writes fail, and goes away when space is freed.

The data dir sits on a real, small tmpfs (mounting needs root, as CI runs); the disk is
filled with a ballast file until the kernel says ENOSPC, a write to DBOS's table fails
for real, and the TUI, fed by the real LiveFeed, says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from limbo_tui.database import Database, prepare_dbos_schema
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.settings import FeedSettings, Settings
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.status_header import StatusHeader
from tests.pg_support import shared_tmp

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0, reason="mounting the small filesystem that fills up needs root"
    ),
    pytest.mark.slow,
]


@pytest.fixture
def small_disk() -> Iterator[Path]:
    mount_point = shared_tmp("limbo-tui-small-disk-")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"mount tmpfs: {done.stderr.strip()}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    ballast = disk / "ballast"
    chunk = b"\0" * (1 << 20)
    with open(ballast, "wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return ballast


async def _header_says(app: LimboApp, words: str, present: bool) -> str:
    text = ""
    for _ in range(300):
        await asyncio.sleep(0.1)
        text = str(app.query_one(StatusHeader).render())
        if (words in text) == present:
            return text
    return text


async def test_a_full_embedded_disk_shows_in_the_header(small_disk: Path) -> None:
    server = EmbeddedServer(small_disk / "pg")
    server.ensure_running()
    try:
        url = server.ensure_database("limbo_tui")
        prepare_dbos_schema(url, "dbos")
        database = Database(url, server)
        settings = Settings(feed=FeedSettings(heartbeat_s=1.0))
        app = LimboApp(
            settings,
            database.display,
            feed_factory=lambda on_batch, on_state: LiveFeed(
                url, settings, on_batch, on_state, disk_problem=database.disk_problem
            ),
        )
        async with app.run_test(size=(80, 24)):
            text = await _header_says(app, "LIVE", present=True)
            assert "disk full" not in text
            ballast = _fill(small_disk)
            # DBOS's writes fail for real now
            with (
                pytest.raises(psycopg.errors.DiskFull),
                psycopg.connect(url, autocommit=True) as conn,
            ):
                conn.execute(
                    "INSERT INTO dbos.workflow_status (workflow_uuid, status, inputs)"
                    " VALUES ('wf-disk-full', 'PENDING', repeat(md5(random()::text), 200000))"
                )
            text = await _header_says(app, "disk full", present=True)
            assert "MB free for the embedded database" in text
            # and an 80-column terminal shows it first thing, as painted
            header = app.query_one(StatusHeader)
            # (before the mode word and the worker: the first thing on the top line)
            assert header.render_line(0).text.startswith("⚠ DISK FULL │ ")
            ballast.unlink()
            text = await _header_says(app, "disk full", present=False)
            assert "disk full" not in text
    finally:
        with contextlib.suppress(Exception):
            server.stop()
