"""Hostile database content: nothing a row holds may drive the terminal, break the layout,
run code or crash the monitor; every row is still shown.

Rows written straight into a real DBOS 3.x system database: ids of 5,000 characters,
escape sequences (CSI, OSC, C1, bidi overrides, BEL, CR) in ids, names, queues and step
names, wide and combining unicode, inputs and outputs of several megabytes, pickles that
would run a command if loaded, NULL where DBOS always writes a value, statuses DBOS never
wrote. Checked through `snapshot` (text and JSON), `watch`'s JSON lines, and the TUI at
80x24 (real LiveFeed, every workflow selected in turn).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rich.cells import cell_len

from limbo_tui.pg.feed import LiveFeed
from limbo_tui.scripting import Watcher, run_snapshot
from limbo_tui.settings import FeedSettings, Settings, UISettings
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.worker import create_worker
from tests.faults_support import control_chars, converges, screen_lines, until

ESC_NAME = "evil\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b2J\rback\u202egnp.exe\x7fdel\x1bc"
LONG_ID = "L" * 5_000
ESC_ID = "id\x1b[2J\x1b[Hwith-escapes"
WIDE_NAME = "漢字ワークフロー👩‍👩‍👧e\u0301\u0301\u0301\u200b" * 3
HUGE = "A" * 3_000_000
SETTINGS = Settings(
    lab=True,
    feed=FeedSettings(poll_interval_s=0.2, heartbeat_s=2.0, coalesce_ms=10),
    ui=UISettings(refresh_hz=30),
)


class RunsCommand:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        import os

        return (os.system, (f"touch {self.path}",))


def _pickled(value: object) -> str:
    return base64.b64encode(pickle.dumps(value)).decode()


def _write_hostile_rows(url: str, marker: Path) -> dict[str, str]:
    """Insert the hostile rows; returns {role: workflow id}."""
    evil = _pickled(RunsCommand(marker))
    ids = {
        "long": LONG_ID,
        "long_child": f"{LONG_ID}-1",
        "escapes": ESC_ID,
        "wide": "wide-名前",
        "huge": "huge-values",
        "pickle": "pickled-bomb",
        "nulls": "nulls-everywhere",
        "unknown": "unknown-status",
        "empty_status": "empty-status",
    }
    with psycopg.connect(url, autocommit=True) as conn:

        def wf(wid: str, status: str | None, name: str | None, **more: Any) -> None:
            cols = ["workflow_uuid", "status", "name", *more]
            conn.execute(
                f"INSERT INTO dbos.workflow_status ({', '.join(cols)}) "  # type: ignore[arg-type]
                f"VALUES ({', '.join(['%s'] * len(cols))})",
                (wid, status, name, *more.values()),
            )

        wf(ids["long"], "PENDING", "n" * 3_000, queue_name="q" * 2_000, deduplication_id="d" * 999)
        wf(ids["long_child"], "ERROR", "child", parent_workflow_id=ids["long"])
        wf(
            ids["escapes"],
            "ENQUEUED",
            ESC_NAME,
            queue_name="q\x1b[5m",
            deduplication_id="dd\x1b[8m",
            executor_id="ex\x07\x1b[1;1H",
            application_version="v\x9b1m",
            class_name="cls\x1b[31m",
        )
        wf(ids["wide"], "SUCCESS", WIDE_NAME)
        wf(ids["huge"], "SUCCESS", "huge", serialization="portable_json")
        wf(ids["pickle"], "ERROR", "bomb", serialization="py_pickle", inputs=evil, error=evil)
        wf(ids["nulls"], None, None, recovery_attempts=None, executor_id=None)
        wf(ids["unknown"], "ZOMBIE", "undead")
        wf(ids["empty_status"], "", "")
        conn.execute(
            "INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES (%s, %s)",
            (ids["huge"], json.dumps({"blob": HUGE})),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_output (workflow_uuid, output, error) VALUES (%s, %s, %s)",
            (ids["huge"], json.dumps(HUGE), None),
        )
        step = (
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, "
            "output, error, child_workflow_id, serialization) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        )
        conn.execute(step, (ids["long"], 1, "call\x1b[2J", None, None, ids["long_child"], None))
        osc52 = "\x1b]52;c;cGF3bmVk\x07"  # would write "pwned" to the clipboard
        conn.execute(step, (ids["escapes"], 1, ESC_NAME, "\x1b[2J", osc52, None, None))
        conn.execute(step, (ids["pickle"], 1, "bomb-step", evil, evil, None, "py_pickle"))
        conn.execute(step, (ids["huge"], 1, "big", json.dumps(HUGE), None, None, "portable_json"))
        conn.execute(step, (ids["nulls"], 1, "", None, None, None, None))
    return ids


def _assert_clean(text: str, where: str) -> None:
    bad = control_chars(text)
    assert not bad, f"control characters reached {where}: {bad[:10]}"


def test_snapshot_text_and_json_survive_hostile_rows(
    dbos_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    ids = _write_hostile_rows(dbos_url, marker)

    run_snapshot(dbos_url, SETTINGS, as_json=False)
    text = capsys.readouterr().out
    _assert_clean(text, "snapshot's text output")
    for line in text.splitlines():
        # A 5,000-character id or name must not make one line of the tree unbounded.
        assert len(line) < 400, line[:120]
    assert "ZOMBIE" in text and "undead" in text  # an unknown status is shown as it is

    run_snapshot(dbos_url, SETTINGS, as_json=True)
    doc = json.loads(capsys.readouterr().out)
    shown = {w["id"]: w for w in doc["workflows"]}
    # JSON carries the data exactly (escaped by JSON itself), every row included.
    assert set(ids.values()) <= set(shown)
    assert shown[ESC_ID]["name"] == ESC_NAME
    assert shown[ids["unknown"]]["status"] == "ZOMBIE"
    assert shown[ids["nulls"]]["status"] == "" and shown[ids["nulls"]]["name"] == ""
    assert shown[ids["long"]]["children"] == [ids["long_child"]]
    assert not marker.exists(), "a pickle in the database ran a command"


def test_watch_lines_survive_hostile_rows(dbos_url: str, tmp_path: Path) -> None:
    """watch's JSON lines: one valid JSON document per line whatever the rows hold."""
    marker = tmp_path / "pwned"
    ids = _write_hostile_rows(dbos_url, marker)
    out = io.StringIO()
    watcher = Watcher(SETTINGS, out)

    async def run() -> None:
        feed = LiveFeed(dbos_url, SETTINGS, watcher.on_batch, watcher.on_state)
        await feed.start()
        try:
            await until(lambda: set(ids.values()) <= set(watcher.graph.workflows), 10, "rows")
        finally:
            await feed.stop()

    import asyncio

    asyncio.run(run())
    lines = out.getvalue().splitlines()
    docs = [json.loads(line) for line in lines]  # every line parses on its own
    inserted = {d["workflow"]["id"] for d in docs if d["type"] == "workflow"}
    assert set(ids.values()) <= inserted
    assert not marker.exists()


async def test_tui_shows_hostile_rows_without_escapes_at_80x24(
    dbos_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    ids = _write_hostile_rows(dbos_url, marker)
    worker = create_worker("none", dbos_url, SETTINGS)
    app = LimboApp(
        SETTINGS,
        "postgresql://limbo:***@db\x1b[2J/evil",
        feed_factory=lambda b, s: LiveFeed(dbos_url, SETTINGS, b, s),
        worker=worker,
        actions=worker.actions,  # type: ignore[attr-defined]
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: set(ids.values()) <= set(app.graph.workflows), 15, "all rows")
        # And rows that arrive by notification while the screen is up.
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
                "VALUES ('late\x1b[2J', 'MYSTERY', 'late\x1b]8;;http://x\x07link')"
            )
        await until(lambda: "late\x1b[2J" in app.graph.workflows, 10, "the late row")
        await pilot.pause(0.2)
        tree = app.query_one(WorkflowTree)
        tree.focus()
        tree.cursor_line = 0
        seen_unknown = False
        visited = 0
        # Visit every line (details pane included) and check the whole screen each time.
        for _ in range(40):
            await pilot.pause(0.05)
            lines = screen_lines(app)
            assert len(lines) == 24
            for line in lines:
                _assert_clean(line, "the screen")
                # Wide, combining and 5,000-character text never pushes a line past 80.
                assert cell_len(line) == 80, line
            if visited == 3:
                print("\n".join(lines))
            # The header stays on top.
            assert lines[0].lstrip().startswith("lab │ worker "), lines[0]
            seen_unknown |= any("ZOMBIE" in line or "MYSTERY" in line for line in lines)
            visited += 1
            if tree.cursor_line >= tree.last_line:
                break
            if tree.cursor_node is not None and tree.cursor_node.allow_expand:
                tree.cursor_node.expand()
            await pilot.press("down")
        assert visited >= len(ids)
        assert seen_unknown, "an unknown status must be shown as it is"
        header = app.query_one(StatusHeader)
        assert header.feed_state == "LIVE"
        assert not header.problem, header.problem
        await converges(lambda: app.graph, dbos_url, 10)
    assert not marker.exists(), "a pickle in the database ran a command"


@pytest.mark.parametrize(
    "args",
    [
        ("--schema", 'dbos"; drop table victim; --'),
        ("--schema", "dbos; drop table victim"),
        ("--config", "{config}"),
    ],
)
def test_hostile_schema_names_execute_nothing(dbos_url: str, tmp_path: Path, args: tuple) -> None:
    """A schema name is checked before any connection: exit 2, one line, the table lives."""
    import subprocess

    from tests.faults_support import clean_env, limbo_cmd

    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE victim (x int)")
    config = tmp_path / "config.toml"
    config.write_text('[database]\nschema = "dbos\\"; drop table victim; --"\n')
    args = tuple(a.replace("{config}", str(config)) for a in args)
    for command in (("snapshot",), ("watch", "--json"), ("triggers", "install"), ()):
        proc = subprocess.run(
            limbo_cmd(*command, "--db-url", dbos_url, *args),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=clean_env(),
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "invalid schema name" in proc.stderr
    with psycopg.connect(dbos_url) as conn:
        assert conn.execute("SELECT to_regclass('victim') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT to_regnamespace('limbo_tui')").fetchone() == (None,)
