"""Diagnoses that read the clock compare with the database server's now, not with the
clock of the host limbo-tui runs on: with limbo-tui's clock 6 minutes ahead, a workflow
written a second ago is not "stalled" (nor its executor silent), while one idle for 10
minutes by the server's clock still is.

The real `limbo-tui snapshot` and `watch --json` run under faketime (libfaketime: this
process's clock 6 minutes ahead, the server's untouched); the TUI is the real app, built
by launch.build_app, with its host clock read 6 minutes ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import IO

import psycopg
import pytest

from limbo_tui.database import Database
from limbo_tui.launch import build_app
from limbo_tui.server_clock import ServerClock, wall_clock_ms
from limbo_tui.settings import FeedSettings, Settings, WorkerSettings
from tests.faults_support import clean_env, limbo_cmd, until

AHEAD_MS = 6 * 60 * 1000
FRESH, IDLE = "fresh-just-written", "idle-for-ten-minutes"
needs_faketime = pytest.mark.skipif(
    shutil.which("faketime") is None, reason="faketime is not installed (apt: faketime)"
)


def _write(url: str) -> None:
    """Two PENDING workflows stamped by the server's clock: one now, one 10 min ago."""
    with psycopg.connect(url, autocommit=True) as conn:
        for wid, ago_s in ((FRESH, 0), (IDLE, 600)):
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, "
                "created_at, updated_at) VALUES (%s, 'PENDING', 'work', 'exec-1', "
                "(extract(epoch FROM now()) * 1000)::bigint - %s, "
                "(extract(epoch FROM now()) * 1000)::bigint - %s)",
                (wid, ago_s * 1000, ago_s * 1000),
            )


def _ahead(*args: str) -> list[str]:
    # Only the wall clock moves: monotonic time (timeouts, rates) stays true.
    return ["faketime", "-f", "+6m", *limbo_cmd(*args)]


def _env() -> dict[str, str]:
    return clean_env(FAKETIME_DONT_FAKE_MONOTONIC="1")


def _kinds(diagnoses: list[dict[str, str]], wid: str) -> set[str]:
    return {d["kind"] for d in diagnoses if d["workflow_id"] == wid}


@needs_faketime
def test_snapshot_with_the_client_6_minutes_ahead(dbos_url: str) -> None:
    _write(dbos_url)
    proc = subprocess.run(
        _ahead("snapshot", "--json", "--worker", "none", "--db-url", dbos_url),
        capture_output=True, text=True, env=_env(), timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr
    doc = json.loads(proc.stdout)
    assert _kinds(doc["diagnoses"], FRESH) == set(), doc["diagnoses"]
    assert _kinds(doc["diagnoses"], IDLE) & {"stalled", "orphaned"}, doc["diagnoses"]


@needs_faketime
def test_watch_with_the_client_6_minutes_ahead(dbos_url: str) -> None:
    _write(dbos_url)
    proc = subprocess.Popen(
        _ahead("watch", "--json", "--worker", "none", "--db-url", dbos_url),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    lines: list[dict[str, object]] = []
    try:
        assert proc.stdout is not None
        arrived = _lines_of(proc.stdout)
        deadline = time.monotonic() + 60
        # Until the idle one is diagnosed, then 3 s more of watching (three ticks of the
        # time-based rules): watch prints nothing more unless a diagnosis changes.
        seen_idle_at: float | None = None
        while True:
            end = deadline if seen_idle_at is None else min(deadline, seen_idle_at + 3)
            try:
                line = arrived.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(json.loads(line))
            if (
                seen_idle_at is None
                and any(
                    d.get("type") == "diagnosis" and d["diagnosis"]["workflow_id"] == IDLE  # type: ignore[index]
                    for d in lines[-1:]
                )
            ):
                seen_idle_at = time.monotonic()
    finally:
        # faketime runs limbo-tui as its child: end the whole session, not just faketime.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    appeared = [
        d["diagnosis"] for d in lines if d.get("type") == "diagnosis" and d.get("op") == "appear"
    ]
    assert _kinds(appeared, IDLE), lines[-5:]  # type: ignore[arg-type]
    assert _kinds(appeared, FRESH) == set(), appeared  # type: ignore[arg-type]


def _lines_of(stream: IO[str]) -> queue.Queue[str | None]:
    """The stream's lines as they arrive (None at its end), to wait on with a timeout."""
    arrived: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            arrived.put(line)
        arrived.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return arrived


@pytest.fixture
def database(dbos_url: str) -> Iterator[Database]:
    yield Database(dbos_url)


async def test_tui_with_its_clock_6_minutes_ahead(database: Database) -> None:
    _write(database.url)
    settings = Settings(
        feed=FeedSettings(poll_interval_s=0.2, heartbeat_s=2.0, coalesce_ms=10),
        worker=WorkerSettings(mode="none"),
    )
    clock = ServerClock(local_ms=lambda: wall_clock_ms() + AHEAD_MS)
    # build_app checks the database with asyncio.run: not on this test's loop.
    app, worker = await asyncio.to_thread(build_app, settings, database, server_clock=clock)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(lambda: {FRESH, IDLE} <= set(app.graph.workflows), 15, "the rows")
            await until(
                lambda: any(d.workflow_id == IDLE for d in app.diagnoses), 10, "the idle one"
            )
            await pilot.pause(1.5)  # a tick of the time-based rules
            assert abs(clock.offset_ms + AHEAD_MS) < 60_000, clock.offset_ms
            assert not [d for d in app.diagnoses if d.workflow_id == FRESH], app.diagnoses
    finally:
        worker.stop()
