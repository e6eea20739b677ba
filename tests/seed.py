"""The seed experiment's end state, defined once for every test (/work/shared/seed).

The seed (exp24 on dbos 2.8.0, executor exp22-executor-1, version 0.1.0): `dbos_workflow`
with 6 sub-workflows of 5 steps, enqueued on example-queue with deduplication id "6/5".
Its first child (`<parent>-1`) completes steps 0, 1, 2 (function ids 1, 4, 7) and crashes
the process at step 3, launch after launch, until DBOS dead-letters it
(MAX_RECOVERY_ATTEMPTS_EXCEEDED, max_recovery_attempts 2). The parent stays PENDING with
recovery_attempts 2, holding "6/5", so every new enqueue with that id is rejected. The
times are the log's own: the parent's created_at and its updated_at when the user looked.

`rows()` is that state as limbo-tui's model rows (pure and Textual tests); `write(url)`
stores it as dbos 2.8 does (in the schema tests/dbos28.py creates), as if it had happened
ten minutes ago by the server's clock.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from limbo_tui.model import Step, Workflow

PARENT = "fe5f923f-1531-4c06-af78-f4e8f9b5b9c4"
CHILD = f"{PARENT}-1"
FINISHED = "0c1d2e3f-0000-4000-8000-000000000001"  # an unrelated finished workflow
CREATED_MS = 1_770_326_545_905  # the parent's created_at in the seed's log
UPDATED_MS = 1_770_326_593_723  # its updated_at there, after the child was dead-lettered
# The tests' clock: 2026-02-05 21:23:25Z, a minute after the parent was created.
MINUTE_LATER_MS = CREATED_MS + 60_000
QUEUE = "example-queue"
DEDUP_ID = "6/5"
EXECUTOR = "exp22-executor-1"
VERSION = "0.1.0"
PARENT_NAME = "dbos_workflow"
CHILD_NAME = "dbos_sub_workflow"
MAX_RECOVERY_ATTEMPTS = 2
CHILD_STEP_IDS = (1, 4, 7)  # steps 0..2 completed; step 3 (id 10) crashed every launch

_PARENT = Workflow(
    id=PARENT,
    status="PENDING",
    name=PARENT_NAME,
    queue=QUEUE,
    dedup_id=DEDUP_ID,
    executor_id=EXECUTOR,
    app_version=VERSION,
    recovery_attempts=2,
    created_at_ms=CREATED_MS,
    updated_at_ms=UPDATED_MS,
    inputs='{"args": [6, 5], "kwargs": {}}',
    serialization="json",
    max_recovery_attempts=MAX_RECOVERY_ATTEMPTS,
)
_CHILD = Workflow(
    id=CHILD,
    status="MAX_RECOVERY_ATTEMPTS_EXCEEDED",
    name=CHILD_NAME,
    parent_id=PARENT,
    executor_id=EXECUTOR,
    app_version=VERSION,
    recovery_attempts=3,  # the dispatch DBOS refused when it dead-lettered the child
    created_at_ms=CREATED_MS + 1_000,
    updated_at_ms=CREATED_MS + 47_000,
    inputs='{"args": [0, 5], "kwargs": {}}',
    serialization="json",
    max_recovery_attempts=MAX_RECOVERY_ATTEMPTS,
)
_FINISHED = Workflow(
    id=FINISHED,
    status="SUCCESS",
    name="other_workflow",
    executor_id=EXECUTOR,
    app_version=VERSION,
    recovery_attempts=1,
    created_at_ms=CREATED_MS - 60_000,
    updated_at_ms=CREATED_MS - 59_000,
    output='"done"',
    serialization="json",
)


def parent(**changes: Any) -> Workflow:
    """The seed's parent, with any field changed."""
    return replace(_PARENT, **changes)


def child(**changes: Any) -> Workflow:
    """The seed's dead-lettered child, with any field changed."""
    return replace(_CHILD, **changes)


def finished(**changes: Any) -> Workflow:
    return replace(_FINISHED, **changes)


def child_call(**changes: Any) -> Step:
    """The parent's step 1: the call that started the child (2.8's only parent link)."""
    return replace(Step(PARENT, 1, CHILD_NAME, child_workflow_id=CHILD), **changes)


def child_steps() -> list[Step]:
    return [
        Step(
            CHILD,
            function_id,
            f"step_{i}",
            started_at_ms=CREATED_MS + 1_000 + i * 300,
            completed_at_ms=CREATED_MS + 1_250 + i * 300,
        )
        for i, function_id in enumerate(CHILD_STEP_IDS)
    ]


def rows(*, with_finished: bool = False) -> list[Workflow | Step]:
    """The seed's limbo as model rows: parent, child call, child and its steps."""
    out: list[Workflow | Step] = [parent(), child(), child_call(), *child_steps()]
    if with_finished:
        out.append(finished())
    return out


def write(url: str, schema: str = "dbos", ago_ms: int = 600_000) -> None:
    """Store rows(with_finished=True) as dbos 2.8 does (inputs and output inline, the
    parent-child link only in the parent's step), the parent created `ago_ms` ago."""
    shift = int(time.time() * 1000) - ago_ms - CREATED_MS

    def at(ms: int | None) -> int | None:
        return None if ms is None else ms + shift

    q = sql.Identifier(schema)
    status = sql.SQL(
        "INSERT INTO {}.workflow_status (workflow_uuid, status, name, executor_id, "
        "created_at, updated_at, application_version, recovery_attempts, queue_name, "
        "inputs, output, error, deduplication_id, started_at_epoch_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ).format(q)
    step = sql.SQL(
        "INSERT INTO {}.operation_outputs (workflow_uuid, function_id, function_name, "
        "output, error, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    ).format(q)
    seeded = rows(with_finished=True)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for w in (r for r in seeded if isinstance(r, Workflow)):
            conn.execute(
                status,
                (w.id, w.status, w.name, w.executor_id, at(w.created_at_ms),
                 at(w.updated_at_ms), w.app_version, w.recovery_attempts, w.queue, w.inputs,
                 w.output, w.error, w.dedup_id, at(w.created_at_ms)),
            )  # fmt: skip
        for s in (r for r in seeded if isinstance(r, Step)):
            conn.execute(
                step,
                (s.workflow_id, s.function_id, s.name, s.output, s.error,
                 s.child_workflow_id, at(s.started_at_ms), at(s.completed_at_ms)),
            )  # fmt: skip
