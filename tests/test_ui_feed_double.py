"""The UI tests' feed double starts as the real feed does: a real LiveFeed on a fresh
DBOS database announces, for each kind of session, what test_ui_support.announced says
(and so what the Pilot tests, the SVG snapshots and the README's picture show)."""

from __future__ import annotations

from typing import Any

import pytest
from test_ui_support import announced

from limbo_tui.pg.feed import LiveFeed
from limbo_tui.settings import FeedSettings, Settings

SESSIONS = {
    "monitor": Settings(),
    "lab": Settings(lab=True),
    "read-only": Settings(read_only=True),
    "triggers never": Settings(feed=FeedSettings(triggers="never", poll_interval_s=0.3)),
    "triggers auto": Settings(feed=FeedSettings(triggers="auto")),
}


@pytest.mark.parametrize("session", list(SESSIONS))
async def test_the_double_announces_what_the_real_feed_does(dbos_url: str, session: str) -> None:
    settings = SESSIONS[session]
    states: list[Any] = []
    feed = LiveFeed(dbos_url, settings, lambda _batch: None, states.append)
    await feed.start()
    try:
        first = next(s for s in states if s.state in ("LIVE", "POLLING"))
    finally:
        await feed.stop()
    expected = announced(settings)
    seen = (first.state, first.detail, first.source, first.offer)
    assert seen == (expected.state, expected.detail, expected.source, expected.offer)


def test_a_monitor_is_announced_as_polling_with_the_offer() -> None:
    # The default a Pilot test starts with: what `limbo-tui --db-url ...` shows.
    state = announced(Settings())
    assert (state.state, state.source, state.offer) == ("POLLING", "every 0.2-2 s", True)
