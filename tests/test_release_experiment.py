"""The seed experiment, live in the TUI, on the DBOS release of one's choice.

`--worker process --dbos X` against the embedded server: the worker runs dbos X in its
own provisioned venv, on a database that X's own migrations made. Each crash (SIGKILL at
the crash point) and restart (`r`) is checked against the seed's log
(/work/shared/seed): on 2.8.0 the child is dead-lettered, the parent stays PENDING
holding "6/5", a second enqueue is rejected naming it, both diagnosed live; `c` frees
the dedup id. On 3.4 the parent fails with the child and the dedup id is free.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faults_support import until
from release_support import OLD, need_2x_server

from limbo_tui.database import Database, prepare_release_schema
from limbo_tui.launch import build_app
from limbo_tui.model import short_id
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import Settings, UISettings, WorkerSettings
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.worker_log import shutdown_wait_ids
from tests.pg_support import drop_database, fresh_database

# The seed on real DBOS releases, launch after launch: long (`-m "not slow"` leaves it out).
pytestmark = pytest.mark.slow

NEW = "3.4.0"


@pytest.fixture
def release_db(pg_server: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[str]:
    release = request.param
    if release.startswith("2."):
        need_2x_server(pg_server)
    name = fresh_database(pg_server, "template1")
    url = pg_server.url(name)
    prepare_release_schema(url, "dbos", release)
    yield url
    drop_database(pg_server, name)


def _settings(release: str) -> Settings:
    return Settings(
        worker=WorkerSettings(mode="process", dbos=release),
        ui=UISettings(refresh_hz=50),
    )


def _family(url: str) -> dict[str, tuple[str, Any, Any, int]]:
    """{'parent' | 'child': (status, queue, dedup id, recovery attempts)} of the first
    experiment (the parent and its first child)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT workflow_uuid, status, queue_name, deduplication_id, recovery_attempts "
            "FROM dbos.workflow_status ORDER BY created_at, workflow_uuid"
        ).fetchall()
    out: dict[str, tuple[str, Any, Any, int]] = {}
    for wid, status, queue, dedup, attempts in rows:
        role = "child" if wid.endswith("-1") else "parent"
        out.setdefault(role, (status, queue, dedup, attempts))
    return out


def _parent_id(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT workflow_uuid FROM dbos.workflow_status WHERE name = 'limbo_demo.parent' "
            "ORDER BY created_at LIMIT 1"
        ).fetchone()
    assert row is not None
    return str(row[0])


def _recovery_lines(log: Path) -> list[str]:
    text = log.read_text(encoding="utf-8", errors="replace")
    return re.findall(r"(Recovering \d+ workflows|No workflows to recover)", text)


async def _restart_until_crash(app: Any, pilot: Any, crashes: int) -> None:
    """`r`, then wait for the worker to crash at the crash point again (crash #crashes)."""
    await pilot.press("r")
    await until(lambda: app.worker.crash_count == crashes, 120, f"crash {crashes}")


async def _enqueue_succeeds(app: Any, pilot: Any, url: str) -> None:
    """`e` again: accepted, and the new parent holds "6/5"."""
    app.clear_notifications()
    await pilot.press("e")
    await _wait_for(
        app,
        pilot,
        lambda: any(n.startswith("enqueued limbo_demo.parent") for n in _notes(app)),
        "a new enqueue with 6/5",
    )
    with psycopg.connect(url) as conn:
        holders = conn.execute(
            "SELECT count(*) FROM dbos.workflow_status WHERE deduplication_id = '6/5'"
        ).fetchone()
    assert holders == (1,)


async def _answer(app: Any, pilot: Any, key: str) -> None:
    """Answer the dialog once it is painted: it ignores keys typed before it was shown."""
    await _wait_for(
        app,
        pilot,
        lambda: isinstance(app.screen, ConfirmScreen) and app.screen._shown_at is not None,
        "the dialog on screen",
    )
    await pilot.press(key)


def _notes(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def _wait_for(
    app: Any, pilot: Any, check: Callable[[], bool], what: str, timeout: float = 60
) -> None:
    async def ready() -> bool:
        await pilot.pause()
        return check()

    for _ in range(int(timeout * 10)):
        if await ready():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _drive_to_the_seeds_limbo(app: Any, pilot: Any, url: str, log: Path) -> str:
    """The seed's first four launches on 2.8.0, row for row; returns the parent's id,
    in limbo: PENDING holding "6/5", awaiting its dead-lettered child, diagnosed live."""
    worker = app.worker
    header = app.query_one(StatusHeader)
    assert "dbos schema 7 (2.8-2.10) │ worker dbos 2.8.0" in header.database
    await until(lambda: worker.state == "RUNNING", 120, "the 2.8 worker")
    await pilot.press("e")
    # Launch 1: dequeued and started, the child crashes the worker at its step 3.
    await until(lambda: worker.crash_count == 1, 120, "the first crash")
    assert _family(url) == {
        "parent": ("PENDING", "example-queue", "6/5", 1),
        "child": ("PENDING", None, None, 1),
    }
    # Diagnosed live as the state is reached: their worker is down, so both are orphaned.
    first = _parent_id(url)

    def orphaned() -> set[str]:
        return {d.workflow_id for d in app.diagnoses if d.kind == "orphaned"}

    await _wait_for(app, pilot, lambda: orphaned() == {first, f"{first}-1"}, "orphaned")
    # Launch 2 recovers both ("Recovering 2 workflows"): 2.8 puts the queued
    # parent back on its queue, reruns the child, which crashes again.
    await _restart_until_crash(app, pilot, 2)
    assert _family(url) == {
        "parent": ("ENQUEUED", "example-queue", "6/5", 1),
        "child": ("PENDING", None, None, 2),
    }
    # Launch 3 recovers 1 (the child) and crashes once more.
    await _restart_until_crash(app, pilot, 3)
    assert _family(url)["child"] == ("PENDING", None, None, 3)
    # Launch 4: the child is past its max (2): dead-lettered. The parent is
    # dequeued again and waits on it for ever: PENDING, holding "6/5".
    await pilot.press("r")
    await until(
        lambda: (
            _family(url)
            == {
                "parent": ("PENDING", "example-queue", "6/5", 2),
                "child": ("MAX_RECOVERY_ATTEMPTS_EXCEEDED", None, None, 4),
            }
        ),
        120,
        "the seed's limbo",
    )
    assert worker.state == "RUNNING"
    assert _recovery_lines(log) == [
        "No workflows to recover",
        "Recovering 2 workflows",
        "Recovering 1 workflows",
        "Recovering 1 workflows",
    ]
    parent = _parent_id(url)
    child = f"{parent}-1"
    await until(lambda: child in app.graph.workflows, 30, "the family on screen")

    def diagnosed() -> bool:
        kinds = {(d.workflow_id, d.kind) for d in app.diagnoses}
        return {(parent, "awaiting-dead-child"), (parent, "dedup-blocked")} <= kinds

    await _wait_for(app, pilot, diagnosed, "awaiting-dead-child and dedup-blocked")
    await _wait_for(app, pilot, lambda: not orphaned(), "not orphaned: its worker runs")
    assert app.graph.workflows[child].status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    # The fix proposed works on this database: 2.8 would run a resumed parent into the
    # same wait, so only c is offered.
    awaiting = next(
        d for d in app.diagnoses if (d.workflow_id, d.kind) == (parent, "awaiting-dead-child")
    )
    assert awaiting.action == (
        "c: cancel it (frees dedup id 6/5); a resume would only wait again on DBOS 2.8-2.10"
    )
    return parent


@pytest.mark.parametrize("release_db", [OLD], indirect=True)
async def test_the_seed_on_dbos_28_reproduces_the_limbo_row_for_row(
    release_db: str, tmp_path: Path
) -> None:
    url = release_db
    settings = _settings(OLD)
    log = tmp_path / "worker.log"
    app, worker = await asyncio.to_thread(build_app, settings, Database(url), log_path=log)
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            parent = await _drive_to_the_seeds_limbo(app, pilot, url, log)
            child = f"{parent}-1"
            # The timeline (`t`) tells the same story: every dispatch in order, up to the
            # database's own counters, and the three crashes at the instants they happened.
            _assert_every_dispatch_on_the_timeline(app, url, parent)
            _assert_every_dispatch_on_the_timeline(app, url, child)
            crashes = [e.text for e in app.timeline.events(child) if e.kind == "worker"]
            assert [c for c in crashes if c.startswith("worker crashed")] == [
                f"worker crashed (crash {n})" for n in (1, 2, 3)
            ], crashes

            # The seed's second enqueue: rejected, the holder named (and a jump offered).
            await pilot.press("e")
            await _wait_for(
                app, pilot, lambda: any("deduplicated" in n for n in _notes(app)), "rejection"
            )
            rejected = next(n for n in _notes(app) if "deduplicated" in n)
            assert f"held by {parent} (PENDING)" in rejected
            await _answer(app, pilot, "n")

            # c frees "6/5" (with 2.8's own cancel: no children option on 2.8).
            app.jump_to(parent)
            await pilot.pause(0.1)
            await pilot.press("c")
            await _wait_for(app, pilot, lambda: isinstance(app.screen, ConfirmScreen), "c")
            assert not app.screen.query("#option")
            await _answer(app, pilot, "y")
            await until(lambda: _family(url)["parent"][0] == "CANCELLED", 120, "the cancel")
            assert _family(url)["parent"] == ("CANCELLED", None, None, 2)
            await _enqueue_succeeds(app, pilot, url)
    finally:
        worker.stop()


def _assert_every_dispatch_on_the_timeline(app: Any, url: str, wid: str) -> None:
    """The workflow's timeline lists each dispatch DBOS counted, one by one, in order,
    each with a time, up to the database's recovery_attempts."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT recovery_attempts FROM dbos.workflow_status WHERE workflow_uuid = %s", (wid,)
        ).fetchone()
    assert row is not None
    story = app.timeline.events(wid)
    dispatches = [e for e in story if e.kind == "dispatch"]
    # Two dispatches between two reads of the row (a loaded machine) are one event that
    # says so ("dispatches 3..4 (..., not seen one by one)"): each is still listed.
    covered: list[int] = []
    for e in dispatches:
        ranged = re.match(r"dispatches (\d+)\.\.(\d+) \(", e.text)
        if ranged:
            covered += range(int(ranged[1]), int(ranged[2]) + 1)
        else:
            assert e.text.startswith(f"dispatch {e.attempts} ("), e.text
            covered.append(int(e.attempts))
        assert covered[-1] == e.attempts, e
    assert covered == list(range(1, int(row[0]) + 1)), story
    times = [e.at_ms for e in story]
    assert times == sorted(times) and all(t > 0 for t in times), story


def _shutdown_waits(log: Path) -> list[tuple[str, ...]]:
    """The ids of each of DBOS's "Attempting to shut down DBOS ..." lines, in order."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return [ids for line in text.splitlines() if (ids := shutdown_wait_ids(line)) is not None]


@pytest.mark.parametrize("release_db", [OLD], indirect=True)
async def test_the_seed_on_dbos_28_shutdown_waits_for_the_stuck_parent_until_it_dead_letters(
    release_db: str, tmp_path: Path
) -> None:
    """The seed's Ctrl+C in limbo: DBOS's shutdown waits (10 s, the seed's) for the parent
    polling its dead child, on screen, bounded; each further restart burns one parent
    dispatch until the parent is dead-lettered itself and "6/5" is free."""
    url = release_db
    settings = _settings(OLD)
    log = tmp_path / "worker.log"
    app, worker = await asyncio.to_thread(build_app, settings, Database(url), log_path=log)
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            parent = await _drive_to_the_seeds_limbo(app, pilot, url, log)
            short = short_id(parent)
            header = app.query_one(StatusHeader)
            waiting = f"stopping: DBOS waits for {short} (PENDING, awaiting a dead child)"
            # r: the worker stops as the seed's Ctrl+C did, and says what DBOS waits for.
            await pilot.press("r")
            await _wait_for(app, pilot, lambda: waiting in header.worker_detail, "the wait")
            assert header.worker_state == "STOPPING"
            # On screen, first on the header's line: the id, why, and the clock.
            top = str(header.render()).splitlines()[0]
            assert re.search(
                f"worker STOPPING limbo-tui-worker: DBOS waits for {short} \\(PENDING, "
                "awaiting a dead child\\) \\d+ s of 10 s",
                top,
            ), top
            await until(lambda: worker.stop_count == 1, 120, "the stop")
            gave_up = (
                f"DBOS waited its whole 10 s for {short}, still active, and gave up; "
                "it stays PENDING"
            )
            assert worker.last_stop == gave_up
            # The seed's log: only the parent named, once a second, then shut down.
            waits = _shutdown_waits(log)
            assert waits and set(waits) == {(parent,)} and len(waits) <= 10, waits
            text = log.read_text(encoding="utf-8")
            assert text.index("DBOS successfully shut down") > text.rindex("Attempting to shut")
            # The restart: the parent, recovered and dequeued again, waits once more.
            await until(
                lambda: _family(url)["parent"] == ("PENDING", "example-queue", "6/5", 3),
                120,
                "the parent's third dispatch",
            )
            assert _recovery_lines(log)[-1] == "Recovering 1 workflows"
            story = [e.text for e in app.timeline.events(parent) if e.kind == "worker"]
            assert f"worker stopping: DBOS waits for {short} (PENDING, awaiting a dead child)" in (
                story
            ), story
            assert f"worker stopped: {gave_up}" in story, story

            # q in limbo: the app stays up and shows the wait; q again kills the worker.
            await _wait_for(app, pilot, lambda: (parent, "awaiting-dead-child") in {
                (d.workflow_id, d.kind) for d in app.diagnoses}, "limbo again")  # fmt: skip
            await pilot.press("q")
            await _wait_for(app, pilot, lambda: waiting in header.worker_detail, "the quit's wait")
            assert app.is_running
            await pilot.press("q")
            await until(lambda: worker.stop_count == 2, 60, "the kill")
            assert worker.last_stop == (
                f"killed (SIGKILL) on request during DBOS's shutdown; DBOS was waiting for {short}"
            )
            await until(lambda: not app.is_running, 30, "the app's exit")
    finally:
        worker.stop()
    assert _family(url)["parent"] == ("PENDING", "example-queue", "6/5", 3)

    # limbo-tui again: the launch dispatches the parent a fourth time, past its max (2):
    # dead-lettered itself, and "6/5" freed with it, as the seed's last restart.
    app, worker = await asyncio.to_thread(build_app, settings, Database(url), log_path=log)
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await until(
                lambda: _family(url)["parent"] == ("MAX_RECOVERY_ATTEMPTS_EXCEEDED", None, None, 4),
                120,
                "the parent dead-lettered",
            )
            assert f"Workflow {parent} has exceeded its maximum of 2" in log.read_text()
            await _enqueue_succeeds(app, pilot, url)
    finally:
        worker.stop()


@pytest.mark.parametrize("release_db", [NEW], indirect=True)
async def test_the_seed_on_dbos_34_dead_letters_parent_and_child_together(
    release_db: str, tmp_path: Path
) -> None:
    url = release_db
    settings = _settings(NEW)
    log = tmp_path / "worker.log"
    app, worker = await asyncio.to_thread(build_app, settings, Database(url), log_path=log)
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            header = app.query_one(StatusHeader)
            assert "dbos schema 125 (3.4) │ worker dbos 3.4.0" in header.database
            await until(lambda: worker.state == "RUNNING", 120, "the 3.4 worker")
            await pilot.press("e")
            await until(lambda: worker.crash_count == 1, 120, "the first crash")
            assert _family(url) == {
                "parent": ("PENDING", "example-queue", "6/5", 1),
                "child": ("PENDING", None, None, 1),
            }
            await _restart_until_crash(app, pilot, 2)
            assert _family(url)["child"][3] == 2
            await _restart_until_crash(app, pilot, 3)
            await pilot.press("r")
            # 3.4: both dead-lettered together, the dedup id released with them.
            await until(
                lambda: {k: v[0] for k, v in _family(url).items()}
                == {"parent": "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
                    "child": "MAX_RECOVERY_ATTEMPTS_EXCEEDED"},
                120,
                "both dead-lettered",
            )  # fmt: skip
            assert _family(url)["parent"][2] is None
            # The dead-lettering timeline: each dispatch, the crashes, then both refused.
            parent = _parent_id(url)
            for wid in (parent, f"{parent}-1"):
                await _wait_for(
                    app,
                    pilot,
                    lambda wid=wid: any(
                        e.text.endswith("-> MAX_RECOVERY_ATTEMPTS_EXCEEDED")
                        for e in app.timeline.events(wid)
                    ),
                    "the dead-lettering on the timeline",
                )
                _assert_every_dispatch_on_the_timeline(app, url, wid)
            crashes = [e.text for e in app.timeline.events(parent) if e.kind == "worker"]
            assert [c for c in crashes if c.startswith("worker crashed")] == [
                f"worker crashed (crash {n})" for n in (1, 2, 3)
            ], crashes
            kinds = {d.kind for d in app.diagnoses}
            assert "awaiting-dead-child" not in kinds and "dedup-blocked" not in kinds
            # r here: the same shutdown as on 2.8, but nothing is left running to wait for.
            await pilot.press("r")
            await until(lambda: worker.stop_count == 1, 120, "the stop")
            assert worker.last_stop == "DBOS had no active workflow and stopped at once"
            assert _shutdown_waits(log) == []
            said = f"worker stopped: {worker.last_stop}"
            await _wait_for(
                app,
                pilot,
                lambda: said in [e.text for e in app.timeline.worker_events()],
                "the stop on the timeline",
            )
            await until(lambda: worker.state == "RUNNING", 120, "the restart")
            await _enqueue_succeeds(app, pilot, url)
    finally:
        worker.stop()
