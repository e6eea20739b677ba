"""Actions through DBOSClient: dedup rejection naming the holder, cancel with children,
resume, fork, and read-only refusal (nothing written)."""

from __future__ import annotations

from test_worker_support import full_snapshot, small_settings, wait_for, workflows

from limbo_tui.worker.actions import Actions
from limbo_tui.worker.monitor_only import NoWorker
from limbo_tui.worker.protocol import NONE, RUNNING, ExperimentParams
from limbo_tui.worker.thread import ThreadWorker


def test_dedup_rejection_names_the_holder_and_resume_runs_it(dbos_url: str) -> None:
    settings = small_settings(crash_enabled=False, step_delay_ms=10, steps=2)
    monitor = NoWorker(dbos_url, settings)  # --worker none: nothing launched
    params = ExperimentParams.from_settings(settings.experiment)
    first = monitor.enqueue_experiment(params)
    assert first.ok, first.message
    second = monitor.enqueue_experiment(params)
    assert not second.ok
    assert (second.holder_id, second.holder_status) == (first.workflow_id, "ENQUEUED")
    assert "2/2" in second.message and first.workflow_id in second.message

    actions = monitor.actions
    cancelled = actions.cancel(first.workflow_id or "", children=False)
    assert cancelled.ok, cancelled.message
    row = workflows(dbos_url)[first.workflow_id]
    assert (row["status"], row["deduplication_id"]) == ("CANCELLED", None)

    resumed = actions.resume(first.workflow_id or "")
    assert resumed.ok, resumed.message
    row = workflows(dbos_url)[first.workflow_id]
    assert (row["status"], row["recovery_attempts"]) == ("ENQUEUED", 0)
    monitor.stop()

    worker = ThreadWorker(dbos_url, settings)
    worker.start()
    try:
        wait_for(lambda: workflows(dbos_url)[first.workflow_id]["status"] == "SUCCESS", 20, "run")
        forked = worker.actions.fork(first.workflow_id or "", 1)
        assert forked.ok, forked.message
        assert forked.workflow_id != first.workflow_id
        row = wait_for(lambda: workflows(dbos_url).get(forked.workflow_id or ""), 5, "fork")
        assert row["forked_from"] == first.workflow_id
        wait_for(
            lambda: workflows(dbos_url)[forked.workflow_id]["status"] == "SUCCESS", 20, "fork run"
        )
        assert not worker.actions.resume(first.workflow_id or "").ok  # finished: refused
        assert not worker.actions.cancel("no-such-workflow", children=True).ok
    finally:
        worker.stop()


def test_cancel_with_children(dbos_url: str) -> None:
    settings = small_settings(crash_enabled=False, step_delay_ms=1500)
    worker = ThreadWorker(dbos_url, settings)
    worker.start()
    assert worker.state == RUNNING
    try:
        result = worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment))
        assert result.ok
        child = f"{result.workflow_id}-1"
        wait_for(lambda: workflows(dbos_url).get(child, {}).get("status") == "PENDING", 10, "child")
        done = worker.actions.cancel(result.workflow_id or "", children=True)
        assert done.ok, done.message
        rows = workflows(dbos_url)
        assert rows[result.workflow_id]["status"] == "CANCELLED"
        assert rows[child]["status"] == "CANCELLED"
    finally:
        worker.stop()


def test_read_only_refuses_everything_and_writes_nothing(dbos_url: str) -> None:
    writer = Actions(dbos_url, small_settings())
    seeded = writer.enqueue_experiment(ExperimentParams(children=1, steps=1, crash_child=None))
    assert seeded.ok
    writer.close()
    before = full_snapshot(dbos_url)

    settings = small_settings(read_only=True)
    actions = Actions(dbos_url, settings)
    wid = seeded.workflow_id or ""
    results = [
        actions.enqueue_experiment(ExperimentParams()),
        actions.cancel(wid, children=True),
        actions.resume(wid),
        actions.fork(wid, 1),
    ]
    assert all(not r.ok and "read-only" in r.message for r in results)
    worker = ThreadWorker(dbos_url, settings)
    worker.start()
    assert worker.state == NONE and "read-only" in worker.detail
    worker.stop()
    assert full_snapshot(dbos_url) == before
