"""The monitor's offer of live push: the header, the `P` key, the consent dialog (what is
created, how to remove it, what it costs) and the install, on a real database."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from limbo_tui.pg import triggers
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.settings import FeedSettings, Settings, UISettings
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.bindings import KEYS
from limbo_tui.ui.screens.live_push import LivePushConsent
from limbo_tui.ui.status_header import StatusHeader
from tests.faults_support import until
from tests.test_triggers import _traces

SETTINGS = Settings(
    feed=FeedSettings(poll_interval_s=0.3, heartbeat_s=1), ui=UISettings(refresh_hz=50)
)


def _app(url: str, settings: Settings) -> LimboApp:
    return LimboApp(
        settings,
        "db",
        feed_factory=lambda on_batch, on_state: LiveFeed(url, settings, on_batch, on_state),
    )


async def test_live_push_is_offered_asked_and_installed(dbos_url: str) -> None:
    app = _app(dbos_url, SETTINGS)
    async with app.run_test(size=(140, 30)) as pilot:
        header = app.query_one(StatusHeader)
        await until(lambda: header.feed_state == "POLLING", 15, "the monitor to poll")
        line = str(header.render()).splitlines()[0]
        assert line.startswith("monitor │ worker none │ feed POLLING every 0.2-0.3 s")
        assert "every 0.2-0.3 s 0.0 ev/s │ P: live push" in line
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        assert "live_push" in shown
        # Asked, then declined: nothing is written.
        await pilot.press("P")
        await until(lambda: isinstance(app.screen, LivePushConsent), 5, "the consent dialog")
        text = str(app.screen.query_one("#question").render())
        assert "limbo-tui triggers uninstall" in text
        assert "schema limbo_tui" in text and "dbos.workflow_status" in text
        assert f"kept {triggers.NOTIFY_RATIO_8:g} of its commit rate" in text
        await pilot.press("n")
        await pilot.pause()
        assert _traces(dbos_url)["triggers"] == 0
        # Asked, then confirmed: installed, and the feed goes LIVE via notify.
        await pilot.press("P")
        await until(lambda: isinstance(app.screen, LivePushConsent), 5, "the consent dialog")
        await pilot.press("y")
        await until(lambda: header.feed_state == "LIVE", 15, "LIVE after the install")
        assert header.feed_source == "via notify" and not header.live_push_offer
        assert "P: live push" not in str(header.render())
    assert _traces(dbos_url) == {"schema": 1, "functions": 1, "triggers": 6}


async def test_read_only_header_footer_and_palette_offer_no_write(dbos_url: str) -> None:
    app = _app(dbos_url, replace(SETTINGS, read_only=True))
    async with app.run_test(size=(140, 30)) as pilot:
        header = app.query_one(StatusHeader)
        await until(lambda: header.feed_state == "POLLING", 15, "the monitor to poll")
        assert str(header.render()).startswith("monitor READ-ONLY │ worker none")
        assert "live push" not in str(header.render())
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        titles = " ".join(c.title.lower() for c in app.get_system_commands(app.screen))
        for k in KEYS:
            if k.mutating:
                assert k.action not in shown, k.action
                assert k.help.lower() not in titles, k.help
        await pilot.press("P")
        await pilot.pause()
        assert not isinstance(app.screen, LivePushConsent)
        # A workflow in limbo: its diagnosis says what would fix it, with no write key.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) VALUES "
                "('par', 'PENDING', 'parent')"
            )
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, "
                "parent_workflow_id) VALUES ('par-1', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', "
                "'child', 'par')"
            )
            conn.execute(
                "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name,"
                " child_workflow_id) VALUES ('par', 1, 'child', 'par-1')"
            )
        await until(lambda: any(d.workflow_id == "par" for d in app.diagnoses), 15, "limbo")
        app.jump_to("par")
        await pilot.pause()
        shown = str(app.query_one("#details-diagnoses").render())
        assert "awaiting-dead-child" in shown
        assert "what would fix it: cancel it" in shown
        assert "c: " not in shown and "u: " not in shown
    assert _traces(dbos_url)["triggers"] == 0


async def test_ctrl_z_lets_go_of_listen_before_the_process_stops(
    dbos_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suspended limbo-tui (SIGTSTP) must not hold the tail of the NOTIFY queue: the
    feed unlistens before the stop and listens again (with a resync) on fg."""
    listening_while_stopped: list[int] = []
    app = _app(dbos_url, replace(SETTINGS, lab=True))

    def stopped(_app: object) -> None:
        feed: Any = app.feed
        conn = feed._side
        listening_while_stopped.append(len(conn._listeners))

    monkeypatch.setattr("limbo_tui.ui.app.suspend_to_shell", lambda a: stopped(a))
    async with app.run_test(size=(140, 30)) as pilot:
        header = app.query_one(StatusHeader)
        await until(lambda: header.feed_state == "LIVE", 15, "LIVE in the lab")
        await pilot.press("ctrl+z")
        await until(lambda: bool(listening_while_stopped), 5, "the suspend")
        assert listening_while_stopped == [0]
        feed: Any = app.feed
        assert len(feed._side._listeners) == 1  # listening again after fg


def test_the_dialogs_notify_ratio_is_the_reported_measurement() -> None:
    """The share of its commit rate the application kept under NOTIFY, which the consent
    dialog quotes (triggers.NOTIFY_RATIO_8; the dialog test above), is the NOTIFY row of
    the run BENCHMARKS.md's table of the sources reports (bench.sources --markdown), and
    the README says the same: one figure, from the measurement."""
    repo = Path(__file__).resolve().parents[1]
    text = (repo / "BENCHMARKS.md").read_text()
    table = text.split("## Change sources side by side (the figures)", 1)[1]
    row = next(ln for ln in table.splitlines() if ln.startswith("| NOTIFY triggers | 8 writers |"))
    measured = re.search(r"\| ([\d.]+) \[[\d.]+, [\d.]+\] \(n=\d+\) \|", row)
    assert measured is not None, row
    assert round(float(measured.group(1)), 2) == triggers.NOTIFY_RATIO_8
    assert f"kept {triggers.NOTIFY_RATIO_8:g} of its commit rate" in triggers.NOTIFY_COST
    readme = " ".join((repo / "README.md").read_text().split())
    assert f"application kept {triggers.NOTIFY_RATIO_8:g} of its commit rate" in readme
