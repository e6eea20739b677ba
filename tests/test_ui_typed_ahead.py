"""Keys that would act without the user meaning it: a key typed ahead, before a dialog was
on screen, never answers it; fast `c` `n` never crashes the app; no toast shows raw markup.

Real database, real LiveFeed, real actions (DBOSClient), Pilot. Typing ahead is a burst of
key events queued before the app handled the first one, as a terminal delivers `c y`
typed in one go (or an SSH link delivers several keys in one packet).
"""

from __future__ import annotations

import psycopg
from textual import events

from limbo_tui.settings import FeedSettings, Settings, UISettings
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.screens.fork_picker import ForkStepScreen
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests.faults_support import live_app, screen_lines, until
from tests.test_ui_support import workers_done

SETTINGS = Settings(
    feed=FeedSettings(poll_interval_s=0.2, heartbeat_s=2.0, coalesce_ms=10),
    ui=UISettings(refresh_hz=30),
)
WID = "typed-ahead-1"


def _pending(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name) "
            "VALUES (%s, 'ENQUEUED', 'victim', 'q')",
            (WID,),
        )
        conn.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, "
            "output) VALUES (%s, 1, 'first', NULL)",
            (WID,),
        )


def _status(url: str, wid: str = WID) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = %s", (wid,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def _workflows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM dbos.workflow_status").fetchone()
    assert row is not None
    return int(row[0])


def _burst(app, *keys: str) -> None:  # type: ignore[no-untyped-def]
    for key in keys:
        char = {"enter": "\r", "escape": "\x1b"}.get(key, key)
        app.post_message(events.Key(key, char))


async def _selected(app, pilot, url: str) -> None:  # type: ignore[no-untyped-def]
    await until(lambda: WID in app.graph.workflows, 15, "the workflow")
    await pilot.pause()
    assert app.query_one(WorkflowTree).select_workflow(WID)
    await pilot.pause()


async def test_y_typed_ahead_does_not_confirm_a_cancel(dbos_url: str) -> None:
    _pending(dbos_url)
    app = live_app(dbos_url, SETTINGS)
    async with app.run_test(size=(100, 30)) as pilot:
        await _selected(app, pilot, dbos_url)
        _burst(app, "c", "y")
        await until(lambda: isinstance(app.screen, ConfirmScreen), 5, "the cancel dialog")
        await pilot.pause(0.3)
        await workers_done(app)
        assert isinstance(app.screen, ConfirmScreen), "the typed-ahead y answered the dialog"
        assert _status(dbos_url) == "ENQUEUED"
        # A y typed once the dialog is on screen still answers it.
        await pilot.press("y")
        await until(lambda: not isinstance(app.screen, ConfirmScreen), 5, "the dialog to close")
        await workers_done(app)
        await until(lambda: _status(dbos_url) == "CANCELLED", 10, "the cancel")


async def test_enter_typed_ahead_does_not_fork(dbos_url: str) -> None:
    _pending(dbos_url)
    app = live_app(dbos_url, SETTINGS)
    async with app.run_test(size=(100, 30)) as pilot:
        await _selected(app, pilot, dbos_url)
        before = _workflows(dbos_url)
        _burst(app, "f", "g", "enter")  # the reflexive `fg` Enter after a ctrl+z
        await until(lambda: isinstance(app.screen, ForkStepScreen), 5, "the fork picker")
        await pilot.pause(0.3)
        await workers_done(app)
        assert isinstance(app.screen, ForkStepScreen), "the typed-ahead enter picked a step"
        assert _workflows(dbos_url) == before, "a workflow was forked"
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, ForkStepScreen), 5, "the picker to close")


async def test_fast_c_n_and_dialog_churn_never_crash(dbos_url: str) -> None:
    _pending(dbos_url)
    app = live_app(dbos_url, SETTINGS)
    async with app.run_test(size=(100, 30)) as pilot:
        await _selected(app, pilot, dbos_url)
        for _ in range(10):
            _burst(app, "c", "n", "escape", "u", "n", "f", "escape")
            await pilot.pause()
        # Answered in the very instant it opens, before its widgets were mounted (as `n`
        # handled in the same tick as `c` does).
        for action in (app.action_cancel, app.action_resume, app.action_fork):
            action()
            app.screen.dismiss(None)
            await pilot.pause()
        await pilot.pause(0.3)
        # Whatever was left open: close it with keys typed after it was shown.
        for _ in range(5):
            if not isinstance(app.screen, ConfirmScreen | ForkStepScreen):
                break
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert app.is_running
        assert not isinstance(app.screen, ConfirmScreen | ForkStepScreen)
        assert _status(dbos_url) == "ENQUEUED"


async def test_no_toast_shows_raw_markup(dbos_url: str) -> None:
    app = live_app(dbos_url, SETTINGS)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        # Textual's own notice (the ctrl+c hint, the screenshot's) keeps its markup...
        app.action_help_quit()
        # ...while text of ours, which may quote the database, is shown as it is.
        app.notify("[b]literal[/b] from a row")
        await pilot.pause(0.3)
        shown = "\n".join(screen_lines(app))
        assert "to quit the app" in shown
        assert "[b]ctrl" not in shown and "[/b] to quit" not in shown
        assert "[b]literal[/b] from a row" in shown
