"""Live push on a monitored database: the `P` key, the consent dialog, the install.

Offered only when the feed says so (a monitor whose triggers are not installed,
`[feed] triggers = "ask"`, not read-only: MonitorState.live_push_offered); nothing is
written before the user confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import App

from limbo_tui.errors import one_line
from limbo_tui.monitor_state import MonitorState
from limbo_tui.ui.live_inputs import LiveInputs

if TYPE_CHECKING:
    from limbo_tui.ui.screens.confirm import Confirmed


class LivePush:
    def __init__(self, app: App[Any], state: MonitorState, inputs: LiveInputs) -> None:
        self._app = app
        self._state = state
        self._inputs = inputs

    def offer(self) -> None:
        """The `P` key: ask first; install only on a yes."""
        if not self._state.live_push_offered:
            self._app.notify("live push is not on offer here", severity="warning")
            return

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self._app.run_worker(
                    self._install(), group="live-push", exclusive=True, exit_on_error=False
                )

        # The consent dialog loads when it first opens (not on the way to the first frame).
        from limbo_tui.ui.screens.live_push import LivePushConsent

        schema = self._state.settings.database.schema
        self._app.push_screen(LivePushConsent(schema), answered)

    async def _install(self) -> None:
        feed = self._inputs.feed
        if feed is None:
            return  # the offer is a feed's own word: there is one
        try:
            line = await feed.install_triggers(
                on_wait=lambda text: self._app.notify(text, severity="warning")
            )
        except Exception as exc:
            self._app.notify(f"live push: {one_line(exc)}", severity="error", timeout=10)
            return
        self._app.notify(line)
