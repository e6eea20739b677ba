"""Helpers shared by the worker tests (no tests here): settings, waiting, snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from limbo_tui.settings import ExperimentSettings, Settings, WorkerSettings
from limbo_tui.worker.demo import CHILD_NAME, PARENT_NAME

# The seed experiment, small: 2 children x 3 steps, crash at the first child (-1) at its
# step 2 (function ids, as numbering.py has them). The crash
# step takes 300-900 ms so that, after a relaunch, the parent (recovered on
# example-queue) is dispatched before the child (recovered on DBOS's internal queue)
# reaches the crash point; the two queues are polled independently, about once a second.
SMALL = ExperimentSettings(
    children=2,
    steps=3,
    crash_child=1,
    crash_step=2,
    crash_enabled=True,
    max_recovery_attempts=2,
    child_max_recovery_attempts=2,
    step_max_attempts=3,
    step_delay_ms=600,
)
MAX_EXCEEDED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
# A step that runs while the worker is stopped: so long that a stop which waited for it
# cannot pass for a quick one, even on a loaded machine.
STEP_AT_STOP_MS = 30_000


def small_settings(
    *, auto_restart_s: float = 0.0, read_only: bool = False, **experiment: Any
) -> Settings:
    return Settings(
        experiment=replace(SMALL, **experiment),
        worker=WorkerSettings(auto_restart_s=auto_restart_s),
        read_only=read_only,
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def workflows(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "SELECT workflow_uuid, name, status, recovery_attempts, deduplication_id, "
            "queue_name, forked_from, parent_workflow_id, executor_id, updated_at "
            "FROM dbos.workflow_status ORDER BY created_at, workflow_uuid"
        )
        cols = [d.name for d in cur.description or []]
        return {row[0]: dict(zip(cols, row, strict=True)) for row in cur.fetchall()}


def steps(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT workflow_uuid, function_id, function_name, child_workflow_id, "
            "output IS NOT NULL, error IS NOT NULL, completed_at_epoch_ms "
            "FROM dbos.operation_outputs ORDER BY workflow_uuid, function_id"
        ).fetchall()


def full_snapshot(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every column of both tables, to prove that nothing changed."""
    with psycopg.connect(url) as conn:
        wf = conn.execute("SELECT * FROM dbos.workflow_status ORDER BY workflow_uuid").fetchall()
        ops = conn.execute(
            "SELECT * FROM dbos.operation_outputs ORDER BY workflow_uuid, function_id"
        ).fetchall()
    return wf, ops


def demo_family(url: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first demo parent and its first child (default id `<parent>-1`)."""
    rows = workflows(url)
    parent = next((w for w in rows.values() if w["name"] == PARENT_NAME), None)
    child = rows.get(parent["workflow_uuid"] + "-1") if parent else None
    if child is not None:
        assert child["name"] == CHILD_NAME
    return parent, child


def attempts(url: str) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """((parent status, recovery_attempts), (child status, recovery_attempts))."""
    parent, child = demo_family(url)
    if parent is None or child is None:
        return None
    return (
        (parent["status"], parent["recovery_attempts"]),
        (child["status"], child["recovery_attempts"]),
    )


def normalized_outcome(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows with the workflow ids replaced by their role, for comparing two runs."""
    rows = workflows(url)
    parent = next(w for w in rows.values() if w["name"] == PARENT_NAME)["workflow_uuid"]

    def role(wid: str | None) -> str | None:
        return None if wid is None else wid.replace(parent, "P")

    wf = sorted(
        (
            role(w["workflow_uuid"]),
            w["name"],
            w["status"],
            w["recovery_attempts"],
            w["deduplication_id"],
            role(w["parent_workflow_id"]),
        )
        for w in rows.values()
    )
    ops = sorted((role(s[0]), s[1], s[2], role(s[3]), s[4], s[5]) for s in steps(url))
    return wf, ops
