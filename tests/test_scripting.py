"""`snapshot` and `watch`: JSON shapes, text tree, exit statuses, read-only, signals."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from limbo_tui.errors import DatabaseError
from limbo_tui.model import RegisteredMax, Step, Workflow, WorkflowRemoved, short_id
from limbo_tui.pg import registered_max
from limbo_tui.pg.feed import FeedBatch, FeedState
from limbo_tui.scripting import Watcher, run_snapshot
from limbo_tui.settings import DatabaseSettings, Settings
from tests import dbos28, seed
from tests.faults_support import clean_env, limbo_cmd
from tests.watch_process import Watch

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WORKFLOW_KEYS = {
    "id", "name", "status", "parent_id", "children", "queue", "dedup_id", "executor_id",
    "app_version", "recovery_attempts", "max_recovery_attempts",
    "max_recovery_attempts_source", "dispatches_allowed", "over_max", "created_at",
    "updated_at", "steps_completed", "steps_failed",
}  # fmt: skip


def _snapshot_json(url: str, settings: Settings, capsys: pytest.CaptureFixture[str]) -> Any:
    code = run_snapshot(url, settings, as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return code, json.loads(out)


def _check_seed_document(doc: dict[str, Any], url: str) -> None:
    assert doc["version"] == 1
    assert doc["database"] == url  # no password in this one; masking is urls.mask's
    assert ISO.match(doc["taken_at"])
    wfs = {w["id"]: w for w in doc["workflows"]}
    assert set(wfs) == {seed.PARENT, seed.CHILD, seed.FINISHED}
    for w in doc["workflows"]:
        assert set(w) == WORKFLOW_KEYS
        assert ISO.match(w["created_at"]) and ISO.match(w["updated_at"])
    parent, child = wfs[seed.PARENT], wfs[seed.CHILD]
    assert parent["status"] == "PENDING" and parent["queue"] == "example-queue"
    assert parent["dedup_id"] == "6/5" and parent["recovery_attempts"] == 2
    assert parent["children"] == [seed.CHILD] and parent["parent_id"] is None
    assert child["parent_id"] == seed.PARENT and child["children"] == []
    assert child["status"] == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    assert child["steps_completed"] == len(seed.CHILD_STEP_IDS) and child["steps_failed"] == 0
    assert parent["max_recovery_attempts"] is None
    kinds = {(d["workflow_id"], d["kind"], d["severity"]) for d in doc["diagnoses"]}
    assert (seed.PARENT, "awaiting-dead-child", "limbo") in kinds
    assert (seed.PARENT, "dedup-blocked", "limbo") in kinds
    for d in doc["diagnoses"]:
        assert set(d) == {"workflow_id", "kind", "severity", "reason", "action"}
    # Tree order: the parent comes right before its child.
    ids = [w["id"] for w in doc["workflows"]]
    assert ids.index(seed.CHILD) == ids.index(seed.PARENT) + 1


def test_snapshot_json_of_dbos28_limbo(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    dbos28.create_schema(db_url)
    seed.write(db_url)
    settings = Settings(limits={"dbos_workflow": 2})
    code, doc = _snapshot_json(db_url, settings, capsys)
    assert code == 3
    parent = next(w for w in doc["workflows"] if w["id"] == seed.PARENT)
    assert parent["max_recovery_attempts"] == 2
    doc_wo_limits = _snapshot_json(db_url, Settings(), capsys)[1]
    _check_seed_document(doc_wo_limits, db_url)


def test_snapshot_text_tree(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    dbos28.create_schema(db_url)
    seed.write(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        # A hostile name must not reach the terminal as escape sequences.
        conn.execute(
            "UPDATE dbos.workflow_status SET name = 'evil\x1b[2Jname' WHERE workflow_uuid = %s",
            (seed.FINISHED,),
        )
    assert run_snapshot(db_url, Settings(), as_json=False) == 3
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = out.splitlines()
    parent_line = next(i for i, line in enumerate(lines) if "dbos_workflow" in line)
    assert lines[parent_line].startswith("!! PENDING")
    assert "fe5f923f" in lines[parent_line] and "disp 2/?" in lines[parent_line]
    assert "dedup 6/5" in lines[parent_line]
    child = lines[parent_line + 1]
    assert child.startswith(f"  MAX_RECOVERY_ATTEMPTS_EXCEEDED  {seed.CHILD_NAME}  fe5f923f-1")
    assert "steps 3" in child
    assert any("awaiting-dead-child" in line for line in lines)
    assert any("dedup-blocked" in line for line in lines)


def test_snapshot_nothing_in_limbo_exits_0(
    dbos_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _snapshot_json(dbos_url, Settings(), capsys)
    assert code == 0 and doc["workflows"] == [] and doc["diagnoses"] == []
    assert run_snapshot(dbos_url, Settings(), as_json=False) == 0
    assert "nothing in limbo" in capsys.readouterr().out


def test_snapshot_errors(db_url: str) -> None:
    with pytest.raises(DatabaseError, match="no dbos schema") as info:
        run_snapshot(db_url, Settings(), as_json=True)
    assert info.value.exit_code == 1
    other = Settings(database=DatabaseSettings(schema="elsewhere"))
    with pytest.raises(DatabaseError, match="no dbos schema 'elsewhere'"):
        run_snapshot(db_url, other, as_json=True)


def test_snapshot_is_read_only(dbos_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_snapshot(dbos_url, Settings(), as_json=True)
    capsys.readouterr()
    with psycopg.connect(dbos_url) as conn:
        assert conn.execute("SELECT to_regnamespace('limbo_tui')").fetchone() == (None,)


def test_short_ids() -> None:
    p = "fe5f923f-1531-4c06-af78-f4e8f9b5b9c4"
    assert short_id(p) == "fe5f923f"
    assert short_id(f"{p}-3", p) == "fe5f923f-3"
    assert short_id("mine") == "mine"


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_watcher_emits_changes_and_diagnoses() -> None:
    buf = io.StringIO()
    w = Watcher(Settings(), buf)
    now = int(time.time() * 1000)
    parent = Workflow("p", "PENDING", "parent", queue="q", dedup_id="d", created_at_ms=now)
    w.on_state(FeedState("LIVE", "via notify"))
    w.on_state(FeedState("LIVE", "via notify", 3.0))  # events/s only: no line
    w.on_batch(FeedBatch([parent], full=True))
    child = Workflow("p-1", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "child", created_at_ms=now - 60_000)
    w.on_batch(FeedBatch([child, Step("p", 1, "child", "p-1")], full=False))
    w.on_batch(FeedBatch([WorkflowRemoved("p-1")], full=False))
    lines = _lines(buf)
    assert lines[0]["type"] == "feed" and lines[0]["state"] == "LIVE"
    assert [(x["type"], x.get("op")) for x in lines[1:3]] == [
        ("workflow", "insert"),
        ("workflow", "insert"),
    ]
    assert lines[2]["workflow"]["id"] == "p-1" or lines[1]["workflow"]["id"] == "p-1"
    updates = [x for x in lines if x.get("op") == "update"]
    assert updates and updates[0]["workflow"]["children"] == ["p-1"]
    appear = [x["diagnosis"]["kind"] for x in lines if x.get("op") == "appear"]
    assert "awaiting-dead-child" in appear
    deleted = [x for x in lines if x.get("op") == "delete"]
    assert deleted[0]["workflow"]["id"] == "p-1"
    cleared = [x["diagnosis"]["kind"] for x in lines if x.get("op") == "clear"]
    assert "awaiting-dead-child" in cleared
    for x in lines:
        assert set(x) >= {"type", "at"} and ISO.match(x["at"])
        if x["type"] == "workflow":
            assert set(x["workflow"]) == WORKFLOW_KEYS


def test_cli_snapshot_json_subprocess(db_url: str, tmp_path: Path) -> None:
    dbos28.create_schema(db_url)
    seed.write(db_url)
    proc = subprocess.run(
        limbo_cmd("snapshot", "--json", "--db-url", db_url),
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no ./config.toml here
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    _check_seed_document(json.loads(proc.stdout), db_url)


def test_cli_watch_read_only_until_sigint(dbos_url: str, tmp_path: Path) -> None:
    with Watch("--read-only", "--db-url", dbos_url, cwd=tmp_path) as watch:
        first = watch.line()
        assert first["type"] == "feed" and first["state"] == "POLLING"
        with psycopg.connect(dbos_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
                "VALUES ('w1', 'ENQUEUED', 'job')"
            )
        line = watch.line()
        assert line["type"] == "workflow" and line["op"] == "insert"
        assert line["workflow"]["id"] == "w1" and line["workflow"]["status"] == "ENQUEUED"
        watch.stop(signal.SIGINT)
    with psycopg.connect(dbos_url) as conn:
        assert conn.execute("SELECT to_regnamespace('limbo_tui')").fetchone() == (None,)


def test_watch_unreachable_is_exit_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        limbo_cmd(
            "watch", "--json", "--db-url", "postgresql://u:hunter2@/d?host=/nonexistent&port=5432"
        ),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "hunter2" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_snapshot_shows_each_workflows_own_max_recovery_attempts(
    dbos_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # DBOS does not store max_recovery_attempts. A workflow's own is what the lab's worker
    # registered when it dispatched it (kept in the lab database), else the user's
    # [limits] by name, else unknown: never the current [experiment] config.
    with psycopg.connect(dbos_url) as conn:
        for wid, name, attempts in (
            ("a", "limbo_demo.parent", 1),
            ("b", "shop.checkout", 1),
            ("c", "other", 1),
            ("d", "limbo_demo.child", 4),
        ):
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, "
                "recovery_attempts, created_at, updated_at) VALUES (%s, %s, %s, %s, "
                "(extract(epoch from now()) * 1000)::bigint, "
                "(extract(epoch from now()) * 1000)::bigint)",
                (
                    wid,
                    "MAX_RECOVERY_ATTEMPTS_EXCEEDED" if wid == "d" else "PENDING",
                    name,
                    attempts,
                ),
            )
    registered_max.save(dbos_url, "dbos", {"d": RegisteredMax(2, 3, "limbo-tui-worker")})
    settings = Settings(limits={"shop.checkout": 7})
    _, doc = _snapshot_json(dbos_url, settings, capsys)
    fields = {
        w["id"]: (w["max_recovery_attempts"], w["max_recovery_attempts_source"],
                  w["dispatches_allowed"], w["over_max"])
        for w in doc["workflows"]
    }  # fmt: skip
    assert fields == {
        "a": (None, None, None, None),
        "b": (7, "config", 8, None),
        "c": (None, None, None, None),
        "d": (2, "worker", 3, "dispatch 4 was refused: DBOS dead-lettered it"),
    }
    dead = next(d for d in doc["diagnoses"] if d["workflow_id"] == "d")
    assert dead["reason"].startswith(
        "DBOS gave up on it after 3 dispatches (max_recovery_attempts 2, as the worker that "
        "ran it registered it: the first run and 2 recoveries); dispatch 4 was refused"
    )


def test_watch_sends_a_batchs_lines_in_one_write() -> None:
    """A reader of the pipe gets a whole batch at once: its rows, diagnoses and timeline
    in one write, not one write (and one wake-up of the reader) per line."""
    writes: list[str] = []
    w = Watcher(Settings(), io.StringIO(), writes.append)
    now = int(time.time() * 1000)
    rows = [
        Workflow(f"w{i}", "ENQUEUED", "job", queue="q", created_at_ms=now, updated_at_ms=now)
        for i in range(3)
    ]
    w.on_batch(FeedBatch(rows, full=True))
    writes.clear()
    w.on_batch(
        FeedBatch(
            [
                replace(r, status="PENDING", recovery_attempts=1, updated_at_ms=now + 5)
                for r in rows
            ],
            full=False,
        )
    )
    assert len(writes) == 1
    lines = [json.loads(x) for x in writes[0].splitlines()]
    updated = [x["workflow"]["id"] for x in lines if x.get("op") == "update"]
    assert updated == ["w0", "w1", "w2"]
    assert sum(1 for x in lines if x["type"] == "timeline") >= 3


def test_watch_tells_each_workflows_story_as_timeline_lines() -> None:
    buf = io.StringIO()
    w = Watcher(Settings(), buf)
    now = int(time.time() * 1000)
    enq = Workflow("p", "ENQUEUED", "parent", queue="q", created_at_ms=now, updated_at_ms=now)
    w.on_batch(FeedBatch([enq], full=True))  # the starting point: no story lines
    w.on_batch(
        FeedBatch(
            [replace(enq, status="PENDING", recovery_attempts=1, updated_at_ms=now + 5)], full=False
        )
    )
    w.on_batch(FeedBatch([Step("p", 1, "step", completed_at_ms=now + 9)], full=False))
    story = [x for x in _lines(buf) if x["type"] == "timeline"]
    assert [(x["workflow_id"], x["kind"], x["text"]) for x in story] == [
        ("p", "dispatch", "dispatch 1 (recovery_attempts 0 -> 1)"),
        ("p", "status", "ENQUEUED -> PENDING"),
        ("p", "step", "step 1 step done"),
    ]
    assert story[0]["at_ms"] == now + 5 and ISO.match(story[0]["at"])
