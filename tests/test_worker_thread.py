"""ThreadWorker on real Postgres and real DBOS: the seed timeline, a faithful crash,
quitting quickly, auto restart."""

from __future__ import annotations

import threading
import time

from test_worker_support import (
    MAX_EXCEEDED,
    STEP_AT_STOP_MS,
    attempts,
    demo_family,
    full_snapshot,
    small_settings,
    wait_for,
)

from limbo_tui.worker import crash_guard
from limbo_tui.worker.demo import CHILD_NAME, PARENT_NAME
from limbo_tui.worker.protocol import DOWN, RUNNING, ExperimentParams
from limbo_tui.worker.thread import ThreadWorker


def _dbos_threads() -> list[threading.Thread]:
    """Threads DBOS starts (executor, queues, listener, notifier, jobs, scheduler)."""
    names = ("dbos-executor-", "queue-worker-", "limbo-tui-dbos-destroy")
    targets = (
        "queue_thread",
        "run_notification_listener",
        "run_notifier",
        "background_jobs_thread",
        "dynamic_scheduler_loop",
        "_run_event_loop",
    )
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith(names) or any(f"({x})" in t.name for x in targets)
    ]


def test_seed_timeline_and_a_crash_that_leaves_no_writer(dbos_url: str) -> None:
    settings = small_settings()
    worker = ThreadWorker(dbos_url, settings)
    seen = []
    try:
        worker.start()
        assert worker.state == RUNNING, worker.detail
        # What the launched worker registered, as DBOS reads it at each dispatch.
        assert worker.max_recovery_attempts()[PARENT_NAME] == 2
        result = worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment))
        assert result.ok, result.message
        for cycle in range(3):
            wait_for(lambda: worker.state == DOWN, 20, "the crash point")
            parent, _child = demo_family(dbos_url)
            assert parent is not None
            # The child by its id (its parent's short id and -1), the step by function id.
            assert f"crash point: child {parent['workflow_uuid'][:8]}-1 step 2" in worker.detail
            seen.append(attempts(dbos_url))
            if cycle == 0:
                # A crash is a dead process: every DBOS thread is gone, and for 5 s not
                # one row of workflow_status or operation_outputs changes.
                assert _dbos_threads() == []
                assert worker.step_progress() == {}
                before = full_snapshot(dbos_url)
                time.sleep(5)
                assert full_snapshot(dbos_url) == before
            worker.restart()
            assert worker.state == RUNNING, worker.detail
        wait_for(
            lambda: (a := attempts(dbos_url)) and a[0][0] == a[1][0] == MAX_EXCEEDED,
            20,
            "both dead-lettered",
        )
        seen.append(attempts(dbos_url))
        parent, _child = demo_family(dbos_url)
        assert parent is not None and parent["deduplication_id"] is None
    finally:
        worker.stop()
    assert seen == [
        (("PENDING", 1), ("PENDING", 1)),
        (("PENDING", 2), ("PENDING", 2)),
        (("PENDING", 3), ("PENDING", 3)),
        ((MAX_EXCEEDED, 4), (MAX_EXCEEDED, 4)),
    ]


def test_crash_guard_blocks_every_write_of_a_crashed_incarnation(dbos_url: str) -> None:
    """The mechanism itself: after trip(), no thread can send a statement or commit an
    open transaction, and a condemned thread cannot use a NEW guarded engine either."""
    import psycopg
    import sqlalchemy as sa

    with psycopg.connect(dbos_url, autocommit=True) as admin:
        admin.execute("CREATE TABLE guard_probe (x int)")
    guard = crash_guard.CrashGuard(dbos_url, pool_size=2)
    other = crash_guard.CrashGuard(dbos_url, pool_size=2)
    killed: list[str] = []

    def expect_killed(label: str, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except crash_guard.WorkerKilled:
            killed.append(label)

    def select_on(engine: sa.Engine) -> None:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))

    try:
        open_txn = guard.engine.connect()
        open_txn.execute(sa.text("INSERT INTO guard_probe VALUES (1)"))
        guard.trip()
        expect_killed("commit", open_txn.commit)
        open_txn.invalidate()
        expect_killed("statement", lambda: select_on(guard.engine))
        t = threading.Thread(
            target=expect_killed, args=("other thread", lambda: select_on(guard.engine))
        )
        t.start()
        t.join()
        crash_guard.condemn([threading.current_thread()])
        expect_killed("condemned on new engine", lambda: select_on(other.engine))
    finally:
        crash_guard._condemned.discard(threading.current_thread())
        guard.dispose()
        other.dispose()
    assert killed == ["commit", "statement", "other thread", "condemned on new engine"]
    with psycopg.connect(dbos_url) as conn:
        assert conn.execute("SELECT count(*) FROM guard_probe").fetchone() == (0,)


def test_stop_is_quick_mid_step_and_leaves_work_pending(dbos_url: str) -> None:
    settings = small_settings(crash_enabled=False, step_delay_ms=STEP_AT_STOP_MS)
    worker = ThreadWorker(dbos_url, settings)
    worker.start()
    try:
        result = worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment))
        assert result.ok, result.message
        child_id = f"{result.workflow_id}-1"
        progress = wait_for(lambda: worker.step_progress().get(child_id), 10, "a step")
        assert (progress.attempt, progress.max_attempts) == (1, 3)
        assert progress.name == "limbo_demo.step"
    finally:
        started = time.monotonic()
        worker.stop()
        took = time.monotonic() - started
    # It did not wait for the step to end (a bound far from the step, not a speed claim).
    assert took < STEP_AT_STOP_MS / 1000 / 2, took
    assert worker.state == DOWN
    assert attempts(dbos_url) == (("PENDING", 1), ("PENDING", 1))
    time.sleep(3)  # the interrupted step would have ended by now: it must not record
    assert attempts(dbos_url) == (("PENDING", 1), ("PENDING", 1))


def test_auto_restart_after_a_crash(dbos_url: str) -> None:
    settings = small_settings(auto_restart_s=0.3, child_max_recovery_attempts=1)
    worker = ThreadWorker(dbos_url, settings)
    worker.start()
    try:
        # What the launched worker registered (DBOS's registry is the process's: before a
        # launch it holds whatever the last one configured).
        assert worker.max_recovery_attempts()[CHILD_NAME] == 1
        result = worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment))
        assert result.ok
        # Crash, restart by itself, crash again, restart: the child is dead-lettered.
        wait_for(lambda: worker.crash_count >= 2, 25, "two crashes")
        wait_for(lambda: (a := attempts(dbos_url)) and a[1][0] == MAX_EXCEEDED, 20, "dlq")
        wait_for(lambda: worker.state == RUNNING, 10, "running again")
    finally:
        worker.stop()
