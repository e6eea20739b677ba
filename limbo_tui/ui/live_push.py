"""Live push on a monitored database: the `P` key, the consent dialog, the install.

A mixin of LimboApp. Offered only when the feed says so (a monitor whose triggers are
not installed, `[feed] triggers = "ask"`, not read-only); nothing is written before the
user confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from limbo_tui.errors import one_line
from limbo_tui.ui.screens.confirm import Confirmed
from limbo_tui.ui.screens.live_push import LivePushConsent
from limbo_tui.ui.status_header import StatusHeader

if TYPE_CHECKING:
    from limbo_tui.ui.app import LimboApp

    _Base = LimboApp
else:
    _Base = object


class LivePush(_Base):
    @property
    def live_push_offered(self) -> bool:
        if self.settings.read_only:
            return False
        try:
            return self.query_one(StatusHeader).live_push_offer
        except Exception:
            return False

    def action_live_push(self) -> None:
        if not self.live_push_offered:
            self.notify("live push is not on offer here", severity="warning")
            return

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self._install_live_push()

        self.push_screen(LivePushConsent(self.settings.database.schema), answered)

    @work(exclusive=True, group="live-push", exit_on_error=False)
    async def _install_live_push(self) -> None:
        feed: Any = self._feed
        install = getattr(feed, "install_triggers", None)
        if install is None:
            self.notify("this feed cannot install triggers", severity="error")
            return
        try:
            line = await install(on_wait=lambda text: self.notify(text, severity="warning"))
        except Exception as exc:
            self.notify(f"live push: {one_line(exc)}", severity="error", timeout=10)
            return
        self.notify(line)
