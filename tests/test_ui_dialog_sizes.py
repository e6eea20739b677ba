"""Every dialog at 80x24 and 60x15: its question, its choices and its error line are on
screen (what is longer scrolls), and nothing of it lies outside the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_ui_support import NOW_MS, WorkerDouble, make_app, screen_lines

from limbo_tui.model import Step, Workflow
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.screens.fork_picker import ForkStepScreen
from limbo_tui.ui.screens.help import HelpScreen
from limbo_tui.ui.screens.live_push import LivePushConsent
from limbo_tui.ui.screens.send_form import SendFormScreen
from limbo_tui.ui.screens.worker_log import WorkerLogScreen

SIZES = [(80, 24), (60, 15)]
WF = "3c1d9a70-5b2e-4f7a-9e61-0d4f2b8c7a11"


def visible(app: Any) -> str:
    return "\n".join(screen_lines(app))


def assert_inside(app: Any, size: tuple[int, int]) -> None:
    """The dialog's frame and every button lie wholly on screen."""
    width, height = size
    for widget in app.screen.query("#dialog, #queue-dialog, #log-dialog, Button"):
        region = widget.region
        assert region.x >= 0 and region.y >= 0, widget
        assert region.right <= width and region.bottom <= height, (widget, region)
        assert region.height > 0, widget


def many_steps() -> list[Step]:
    return [Step(WF, n, f"step_{n}", started_at_ms=NOW_MS) for n in range(1, 31)]


def queued_rows() -> list[Workflow]:
    """Twelve queues with work waiting: more rows than a 60x15 dialog holds."""
    return [
        Workflow(
            id=f"{WF}-{n}",
            status="ENQUEUED",
            name="job",
            queue=f"queue-{n:02d}",
            created_at_ms=NOW_MS - 5_000,
            updated_at_ms=NOW_MS - 5_000,
        )
        for n in range(12)
    ]


@pytest.mark.parametrize("size", SIZES)
async def test_enqueue_form_shows_a_bad_values_error_and_its_buttons(
    size: tuple[int, int],
) -> None:
    app, _ = make_app(worker=WorkerDouble())
    async with app.run_test(size=size) as pilot:
        await pilot.press("E")
        await pilot.pause()
        await pilot.pause()
        assert_inside(app, size)
        shown = visible(app)
        assert "Enqueue (enter)" in shown and "Close (esc)" in shown
        for label in ("children", "steps", "crash child", "crash step", "dedup id"):
            assert label in shown, label
        field = app.screen.query_one("#children")
        field.value = "0"
        await pilot.press("enter")
        await pilot.pause()
        shown = visible(app)
        assert "children: between 1 and 100" in shown, shown
        assert "Enqueue (enter)" in shown
        # The bad field has the focus, so the user types the fix where it is needed.
        assert app.focused is field


def dialogs() -> list[tuple[str, Any, list[str]]]:
    return [
        (
            "confirm",
            lambda: ConfirmScreen(
                f"Cancel {WF} and its 6 children?", option="children too", yes="Cancel"
            ),
            ["Cancel (y)", "No (n)", "children too"],
        ),
        ("live-push", lambda: LivePushConsent("dbos"), ["Install (y)", "Keep polling (n)"]),
        ("fork", lambda: ForkStepScreen(WF, many_steps()), ["step 31: the next", "escape"]),
        (
            "send",
            lambda: SendFormScreen(WF, "It waits in DBOS.recv for topic ? since 3 min."),
            ["topic", "message", "Send", "Close"],
        ),
        ("help", lambda: HelpScreen(False), ["limbo-tui help", "escape closes"]),
    ]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", [d[0] for d in dialogs()])
async def test_each_dialog_fits_with_its_choices_on_screen(
    size: tuple[int, int], name: str
) -> None:
    _, make, words = next(d for d in dialogs() if d[0] == name)
    app, _ = make_app(worker=WorkerDouble())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.push_screen(make())
        # A table fills in after its first paint: wait for the screen to settle.
        for _ in range(20):
            await pilot.pause(0.05)
            shown = visible(app)
            if all(word in shown for word in words):
                break
        assert_inside(app, size)
        for word in words:
            assert word in shown, (word, shown)


@pytest.mark.parametrize("size", SIZES)
async def test_queue_view_fits_and_scrolls(size: tuple[int, int]) -> None:
    app, feeds = make_app(worker=WorkerDouble())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        feeds[0].push(queued_rows(), full=True)
        await pilot.pause()
        await pilot.press("Q")
        for _ in range(20):
            await pilot.pause(0.05)
            if "queue-00" in visible(app):
                break
        assert_inside(app, size)
        shown = visible(app)
        assert "Queues (enter" in shown and "queue-00" in shown, shown
        await pilot.press(*["down"] * 11)
        await pilot.pause()
        assert "queue-11" in visible(app)


@pytest.mark.parametrize("size", SIZES)
async def test_worker_log_names_its_path_at_every_size(
    size: tuple[int, int], tmp_path: Path
) -> None:
    log = tmp_path / "w.log"
    log.write_text("Recovering 2 workflows\n")
    app, _ = make_app(worker=WorkerDouble())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.push_screen(WorkerLogScreen(log))
        for _ in range(20):
            await pilot.pause(0.05)
            shown = visible(app)
            if "Recovering 2 workflows" in shown:
                break
        assert_inside(app, size)
        assert "Recovering 2 workflows" in shown and "escape closes" in shown
