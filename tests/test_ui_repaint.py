"""When the screen paints a change: a lone change at once, a burst at the frame cap; and
the first snapshot's objects leave the collector's walk once they are on screen."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_ui_support import (
    NOW_MS,
    AgeTicks,
    RepaintCount,
    WorkerDouble,
    make_app,
    workers_done,
)

from limbo_tui.model import Workflow
from limbo_tui.pg.feed import FeedState
from limbo_tui.ui import app as app_module
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.workflow_tree import WorkflowTree

SIZE = (120, 30)


def _row(wid: str, attempts: int = 0) -> Workflow:
    return Workflow(
        wid,
        "ENQUEUED",
        "job",
        queue="q",
        created_at_ms=NOW_MS - 1000,
        updated_at_ms=NOW_MS - 1000 + attempts,
        recovery_attempts=attempts,
    )


async def test_a_lone_change_is_painted_at_once_after_a_header_repaint() -> None:
    """The frame cap holds back a change only while changes come faster than it: the
    header's repaint for the feed's state (once a second with its ev/s) does not."""
    app, feeds = make_app()
    app.settings = replace(app.settings, ui=replace(app.settings.ui, refresh_hz=2.0))
    repaints = RepaintCount(app)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push([_row("lone")], full=True)
        await pilot.pause(0.6)  # longer than one frame slot: the screen is quiet
        tree = app.query_one(WorkflowTree)
        assert "rec 1/" not in tree.line_text("lone")
        feeds[0].on_state(FeedState("LIVE", "", 3.0))  # the header's events/s: painted at once
        feeds[0].push([_row("lone", attempts=1)])
        before = repaints.count
        await pilot.pause()
        # Painted by the frame its own message asked for, not by a timer a slot later.
        assert "disp 1/" in tree.line_text("lone") or "rec 1/" in tree.line_text("lone")
        assert repaints.count - before <= 2


async def test_with_no_worker_an_idle_screen_is_not_repainted() -> None:
    """`--worker none` (a worker that says NONE): one poll puts it in the header, then
    nothing polls it twice a second and nothing repaints for it while the screen idles."""
    app, feeds = make_app(worker=WorkerDouble(state="NONE", executor_id=""))
    ticks = AgeTicks(app)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push([_row("idle")], full=True)
        await workers_done(app)
        await pilot.pause()
        assert app.query_one(StatusHeader).worker_state == "NONE"
        repaints = RepaintCount(app)
        await ticks.wait(pilot, 3)
        await workers_done(app)
        await pilot.pause()
        assert repaints.count == 0


async def test_a_worker_that_runs_is_still_polled_while_the_screen_idles() -> None:
    """Polled twice a second, an idle worker repaints nothing (nothing it tells the
    screen changed); the poll after it died on its own shows it."""
    worker = WorkerDouble()
    app, _feeds = make_app(worker=worker)
    ticks = AgeTicks(app)
    async with app.run_test(size=SIZE) as pilot:
        await workers_done(app)
        await pilot.pause()
        header = app.query_one(StatusHeader)
        assert header.worker_state == "RUNNING"
        repaints = RepaintCount(app)
        await ticks.wait(pilot, 2)
        await workers_done(app)
        await pilot.pause()
        assert repaints.count == 0
        worker.state = "DOWN"  # the worker died on its own: no key was pressed
        await ticks.wait(pilot, 2)
        await workers_done(app)
        await pilot.pause()
        assert header.worker_state == "DOWN"


async def test_changes_in_a_burst_wait_for_the_next_frame_slot() -> None:
    app, feeds = make_app()
    app.settings = replace(app.settings, ui=replace(app.settings.ui, refresh_hz=0.5))
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push([_row("burst")], full=True)  # painted at once: nothing was before
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        first = tree.line_text("burst")
        assert "job" in first
        feeds[0].push([_row("burst", attempts=1)])  # right after: the next slot (2 s on)
        await pilot.pause()
        assert tree.line_text("burst") == first
        await pilot.pause(2.5)
        assert tree.line_text("burst") != first


async def test_the_first_snapshot_is_frozen_once_it_is_on_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_with: list[str] = []
    app, feeds = make_app()

    def freeze() -> bool:
        frozen_with.append(app.query_one(WorkflowTree).line_text("first"))
        return True

    monkeypatch.setattr(app_module, "freeze_long_lived", freeze)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert frozen_with == []  # nothing loaded yet: the snapshot's objects are to come
        feeds[0].push([_row("first")], full=True)
        await pilot.pause()
        await pilot.pause()
        feeds[0].push([_row("second")], full=True)
        await pilot.pause()
        await pilot.pause()
    assert len(frozen_with) == 1 and "job" in frozen_with[0]


async def test_a_costly_frame_spaces_the_next_frames_of_a_burst(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However high refresh_hz, a burst's frames begin FRAME_SPACING times the last one's
    CPU apart: a tree whose frames cost much never paints a burst back to back. A rebuild
    (the snapshot here, a filter typed) is not a burst's frame and holds nothing back."""
    spent = iter(range(1_000_000))
    # Each burst frame reads the loop's CPU twice (its start, its refresh): it costs 10 s.
    monkeypatch.setattr(app_module, "loop_cpu_s", lambda: 10.0 * next(spent))
    app, feeds = make_app()
    app.settings = replace(app.settings, ui=replace(app.settings.ui, refresh_hz=10_000.0))
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push([_row("costly")], full=True)
        await pilot.pause()
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert "job" in tree.line_text("costly")
        feeds[0].push([_row("costly", attempts=1)])  # at once, after the snapshot's frame
        await pilot.pause()
        await pilot.pause()
        first = tree.line_text("costly")
        assert "disp 1/" in first or "rec 1/" in first
        feeds[0].push([_row("costly", attempts=2)])  # held: 30 s after that frame began
        await pilot.pause()
        await pilot.pause(0.3)
        assert tree.line_text("costly") == first
