"""The app with the real LiveFeed and real Actions on a database DBOS 3.x fails on."""

from __future__ import annotations

import asyncio

import psycopg

from limbo_tui.pg.dbos_schema import SCHEMA_RELEASES
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.settings import Settings, UISettings
from limbo_tui.ui.app import LimboApp
from limbo_tui.worker.actions import Actions
from tests import dbos28, seed


async def test_a_failed_action_is_one_plain_notification_and_the_app_lives_on(
    db_url: str,
) -> None:
    # 2.8's tables under a migrations row that claims 3.4's schema: limbo-tui acts with
    # DBOS 3.4's client, which fails; its error carries SQL with "%(status)s" and
    # brackets, which must not be read as markup or end the app.
    dbos28.create_schema(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE dbos.dbos_migrations SET version = %s", (SCHEMA_RELEASES[-1][0],))
    seed.write(db_url)
    settings = Settings(ui=UISettings(refresh_hz=50))
    actions = Actions(db_url, settings)
    app = LimboApp(
        settings,
        "seed28",
        feed_factory=lambda on_batch, on_state: LiveFeed(db_url, settings, on_batch, on_state),
        actions=actions,
    )
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            for _ in range(100):
                if seed.PARENT in app.graph.workflows:
                    break
                await asyncio.sleep(0.05)
            await pilot.pause()
            await pilot.press("c")
            # The dialog ignores keys typed before it was shown: answer once it is.
            for _ in range(100):
                await pilot.pause(0.05)
                if type(app.screen).__name__ == "ConfirmScreen":
                    break
            await pilot.pause(0.5)
            await pilot.press("y")
            messages: list[str] = []
            for _ in range(200):
                await pilot.pause()
                messages = [str(n.message) for n in app._notifications]
                if any("cancel failed" in m for m in messages):
                    break
                await asyncio.sleep(0.05)
            failed = [m for m in messages if "cancel failed" in m]
            assert failed, messages
            assert "\n" not in failed[0] and len(failed[0]) <= 300
            await pilot.pause(0.5)  # the toast is drawn: markup in it would raise here
            assert app.is_running
            assert app.graph.workflows[seed.PARENT].status == "PENDING"
    finally:
        actions.close()
