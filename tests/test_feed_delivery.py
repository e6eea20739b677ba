"""What both feeds (PostgreSQL and SQLite) share: the header's events/s and how a batch
or a state reaches a consumer that may be broken."""

from __future__ import annotations

import asyncio
from typing import Any

from limbo_tui.pg.feed import EventRate, deliver


def test_the_rate_the_header_shows_rises_with_events_and_is_zero_when_idle() -> None:
    rate = EventRate()
    assert rate.shown() == 0.0
    rate.add(50)
    assert rate.shown() > 1.0
    quiet = EventRate(tau=5.0)
    quiet.add(0)
    assert quiet.shown() == 0.0


async def test_a_consumer_that_raises_is_reported_and_the_feed_goes_on() -> None:
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    got: list[int] = []

    def broken(value: int) -> None:
        raise ValueError(f"bad {value}")

    try:
        deliver(broken, 1, "SqliteFeed on_batch")
        deliver(got.append, 2, "SqliteFeed on_batch")
    finally:
        loop.set_exception_handler(None)
    assert got == [2]
    assert [c["message"] for c in reported] == ["SqliteFeed on_batch callback failed"]
    assert str(reported[0]["exception"]) == "bad 1"
