"""ProcessWorker (a real child process, crashed by SIGKILL) against the thread worker:
the same scenario must leave the same rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_worker_support import (
    MAX_EXCEEDED,
    STEP_AT_STOP_MS,
    attempts,
    demo_family,
    normalized_outcome,
    small_settings,
    wait_for,
)

from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.worker.process import STOP_GRACE_S, ProcessWorker
from limbo_tui.worker.protocol import DOWN, RUNNING, ExperimentParams, Worker
from limbo_tui.worker.thread import ThreadWorker
from tests.pg_support import DBOS_TEMPLATE, drop_database, fresh_database


@pytest.fixture
def other_dbos_url(pg_server: EmbeddedServer) -> Iterator[str]:
    name = fresh_database(pg_server, DBOS_TEMPLATE)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def _run_until_parent_finishes(worker: Worker, url: str) -> list[object]:
    """Enqueue the experiment; restart after every crash until the parent is finished."""
    settings = small_settings(child_max_recovery_attempts=1)
    seen: list[object] = []
    worker.start()
    assert worker.state == RUNNING, worker.detail
    params = ExperimentParams.from_settings(settings.experiment)
    assert worker.enqueue_experiment(params).ok
    while True:
        wait_for(
            lambda: worker.state == DOWN or ((a := attempts(url)) and a[0][0] == "ERROR"),
            25,
            "a crash or the end",
        )
        if worker.state != DOWN:
            break
        seen.append(attempts(url))
        worker.restart()
        assert worker.state == RUNNING, worker.detail
    seen.append(attempts(url))
    worker.stop()
    # The parent released its dedup id: the same enqueue is accepted again, with the
    # worker gone (DBOSClient).
    again = worker.enqueue_experiment(params)
    assert again.ok, again.message
    return seen


def test_thread_crash_and_process_crash_leave_the_same_rows(
    dbos_url: str, other_dbos_url: str, tmp_path: object
) -> None:
    # Child max 1, parent max 2: the child is dead-lettered at its third dispatch; the
    # parent, waiting on it, ends ERROR (dbos >= 2.12) and frees dedup id "2/3".
    settings = small_settings(child_max_recovery_attempts=1)
    expected = [
        (("PENDING", 1), ("PENDING", 1)),
        (("PENDING", 2), ("PENDING", 2)),
        (("ERROR", 3), (MAX_EXCEEDED, 3)),
    ]
    thread_worker = ThreadWorker(dbos_url, settings)
    thread_seen = _run_until_parent_finishes(thread_worker, dbos_url)
    process_worker = ProcessWorker(other_dbos_url, settings, log_path=f"{tmp_path}/w.log")
    process_seen = _run_until_parent_finishes(process_worker, other_dbos_url)
    assert thread_seen == expected
    assert process_seen == expected
    log = Path(f"{tmp_path}/w.log").read_text()
    parent, _child = demo_family(other_dbos_url)
    assert parent is not None
    child = f"{parent['workflow_uuid'][:8]}-1"
    # The log says what the tree and the steps table say: a step by its function id and
    # 1-based try, a child by its id.
    assert f"crash point reached: child {child} step 2" in log
    assert f"{parent['workflow_uuid']}-1 :: step 2 try 1/3" in log

    def without_new_enqueue(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        wf, ops = normalized_outcome(url)
        return [w for w in wf if w[2] != "ENQUEUED"], ops

    thread_rows = without_new_enqueue(dbos_url)
    process_rows = without_new_enqueue(other_dbos_url)
    assert thread_rows == process_rows
    # The child's completed step 0 and nothing of the crash step; the parent's call of
    # child 0 and its failed wait.
    assert ("P-1", 1, "limbo_demo.step", None, True, False) in thread_rows[1]
    assert not any(op[0] == "P-1" and op[1] == 2 for op in thread_rows[1])


def test_process_worker_stop_is_quick_and_reports_progress(dbos_url: str, tmp_path: object) -> None:
    settings = small_settings(crash_enabled=False, step_delay_ms=STEP_AT_STOP_MS)
    worker = ProcessWorker(dbos_url, settings, log_path=f"{tmp_path}/w.log")
    worker.start()
    assert worker.state == RUNNING, worker.detail
    pid = worker.pid
    try:
        result = worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment))
        assert result.ok
        progress = wait_for(
            lambda: worker.step_progress().get(f"{result.workflow_id}-1"), 10, "a step"
        )
        assert (progress.attempt, progress.max_attempts) == (1, 3)
    finally:
        started = time.monotonic()
        worker.stop()
        took = time.monotonic() - started
    # It did not wait for the step to end (a bound far from the step, not a speed claim).
    assert took < STEP_AT_STOP_MS / 1000 / 2, took
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert attempts(dbos_url) == (("PENDING", 1), ("PENDING", 1))


def test_worker_process_dies_with_limbo_tui(dbos_url: str, tmp_path: object) -> None:
    """A kill -9 of limbo-tui takes its worker process with it (PR_SET_PDEATHSIG)."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from limbo_tui.settings import Settings
        from limbo_tui.worker.process import STOP_GRACE_S, ProcessWorker
        w = ProcessWorker({dbos_url!r}, Settings(), log_path={f"{tmp_path}/w.log"!r})
        w.start()
        print(w.state, w.pid, flush=True)
        time.sleep(60)
        """
    )
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    state, pid = host.stdout.readline().split()
    assert state == RUNNING
    os.kill(host.pid, signal.SIGKILL)
    host.wait()

    def gone() -> bool:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        # A zombie reparented to init counts as gone once reaped; check its state.
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] == "Z"
        except FileNotFoundError:
            return True

    wait_for(gone, 5, "the worker process to die")


def test_a_segfault_at_the_crash_point_is_a_crash_like_the_seeds(
    dbos_url: str, tmp_path: Path
) -> None:
    settings = small_settings(crash_signal="SIGSEGV")
    log = tmp_path / "w.log"
    worker = ProcessWorker(dbos_url, settings, log_path=log)
    worker.start()
    assert worker.state == RUNNING, worker.detail
    try:
        assert worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment)).ok
        wait_for(lambda: worker.state == DOWN, 30, "the crash")
        parent, _child = demo_family(dbos_url)
        assert parent is not None
        expected = f"crash point: child {parent['workflow_uuid'][:8]}-1 step 2"
        assert worker.detail.startswith(expected), worker.detail
        assert worker.detail.endswith("(killed by SIGSEGV)"), worker.detail
        assert worker.crash_count == 1
        assert "killing the worker process (a segmentation fault)" in log.read_text()
        assert [row[0] for row in attempts(dbos_url)] == ["PENDING", "PENDING"]
        # Recovered like any crash: the same step segfaults again.
        worker.restart()
        wait_for(lambda: worker.crash_count == 2, 30, "the second crash")
        assert [row[1] for row in attempts(dbos_url)] == [2, 2]
    finally:
        worker.stop()
    assert not list(tmp_path.glob("core*"))


# A user's module whose logging never returns once DBOS says it shut down: the worker
# process then never exits by itself (as a DBOS 2.8 background thread that never joins).
HANG_AT_SHUTDOWN = """
import logging
import threading


class _HangAtShutdown(logging.Handler):
    def emit(self, record):
        if "successfully shut down" in record.getMessage():
            threading.Event().wait()


logging.getLogger("dbos").addHandler(_HangAtShutdown())
"""


def test_a_worker_that_never_exits_after_the_shutdown_is_killed_and_it_says_so(
    dbos_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "limbo_test_hang_at_shutdown.py").write_text(HANG_AT_SHUTDOWN)
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    base = small_settings()
    worker_settings = replace(
        base.worker, imports=("limbo_test_hang_at_shutdown",), shutdown_wait_s=0
    )
    worker = ProcessWorker(
        dbos_url, replace(base, worker=worker_settings), log_path=tmp_path / "w.log"
    )
    worker.start()
    assert worker.state == RUNNING, worker.detail
    pid = worker.pid
    try:
        outcome = worker.stop_gracefully()
    except BaseException:
        worker.stop()
        raise
    assert outcome == (
        f"the worker had not exited {STOP_GRACE_S:g} s after the stop: limbo-tui killed it "
        "(SIGKILL)"
    )
    assert worker.detail == f"stopped: {outcome}"
    assert worker.last_stop == outcome and worker.stop_count == 1
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "DBOS successfully shut down" in (tmp_path / "w.log").read_text()


def test_dbos_34_shutdown_waits_too_while_work_runs_and_names_parent_and_child(
    dbos_url: str, tmp_path: Path
) -> None:
    base = small_settings(crash_enabled=False, step_delay_ms=STEP_AT_STOP_MS)
    settings = replace(base, worker=replace(base.worker, shutdown_wait_s=2))
    worker = ProcessWorker(dbos_url, settings, log_path=tmp_path / "w.log")
    worker.start()
    assert worker.state == RUNNING, worker.detail
    try:
        result = worker.enqueue_experiment(ExperimentParams.from_settings(settings.experiment))
        assert result.ok and result.workflow_id
        wait_for(lambda: worker.step_progress().get(f"{result.workflow_id}-1"), 30, "a step")
        outcome = worker.stop_gracefully()
    except BaseException:
        worker.stop()
        raise
    parent = result.workflow_id[:8]
    named = outcome.removeprefix("DBOS waited its whole 2 s for ").split(", still active")[0]
    assert sorted(named.split(", ")) == [parent, f"{parent}-1"], outcome
    assert outcome.endswith(", still active, and gave up; they stay PENDING"), outcome
    assert [row[0] for row in attempts(dbos_url)] == ["PENDING", "PENDING"]
