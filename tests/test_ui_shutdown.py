"""Quitting is always clean: the feed, the worker poll and the age tick keep calling in
while Textual tears the widgets down, and none of them may raise out of the app."""

from __future__ import annotations

import asyncio

import pytest
from test_ui_support import NOW_MS, WorkerDouble, family_rows, make_app
from textual.app import App

from limbo_tui.pg.feed import FeedState
from limbo_tui.ui import app as app_module
from limbo_tui.ui.teardown import quiet_in_teardown
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests import seed

STATES = ("LIVE", "RECONNECTING", "POLLING", "DOWN")


@pytest.mark.parametrize("paused", [False, True], ids=["live", "paused"])
@pytest.mark.parametrize("how", ["q", "host"], ids=["key-q", "host-stops-app"])
async def test_quitting_while_batches_and_feed_states_keep_arriving(
    paused: bool, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tick and poll as often as the loop allows, so that they fire during teardown.
    monkeypatch.setattr(app_module, "AGE_TICK_S", 0.001)
    monkeypatch.setattr(app_module, "WORKER_POLL_S", 0.001)
    app, feeds = make_app(worker=WorkerDouble())
    storming = True
    sent = 0

    async def storm() -> None:
        nonlocal sent
        while storming:
            feed = feeds[0]
            feed.push(family_rows(f"wf-{sent:05d}", NOW_MS - sent, status="PENDING", kids=1))
            feed.on_state(FeedState(STATES[sent % len(STATES)], f"detail {sent}", float(sent)))
            sent += 1
            await asyncio.sleep(0)

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        if paused:
            await pilot.press("p")
        task = asyncio.create_task(storm())
        await pilot.pause(0.2)
        assert sent > 0
        if not paused:
            assert len(app.query_one(WorkflowTree).shown_ids()) > 2
        if how == "q":
            await pilot.press("q")
        # Else the program hosting the app ends it (as the benchmark does): leaving
        # run_test shuts the app down while its own messages and timers still run.
        # Either way the storm goes on through the whole teardown.
    storming = False
    await task
    # run_test re-raises what escaped a handler and the storm what escaped a feed
    # callback: getting here means nothing did. The app also let go of its feed.
    assert feeds[0].stopped
    if how == "q":
        assert app.return_code == 0


class _LateCaller(App[None]):
    """An app whose callback reads the current screen, as a feed state that changes the
    offered keys does (refresh_bindings)."""

    @quiet_in_teardown
    def late(self) -> str:
        self.refresh_bindings()
        return f"bindings of {self.screen.id or 'the screen'} refreshed"


async def test_a_callback_after_the_last_screen_went_stops_quietly() -> None:
    app = _LateCaller()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert app.late().startswith("bindings of")
    # run_test has left: the screen stack is empty, as when a feed state arrives in the
    # last moment of a quit. Reading the screen raises ScreenStackError then.
    assert not app.is_running
    assert app.late() is None
