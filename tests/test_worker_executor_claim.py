"""One live worker per executor id and database, across limbo-tui processes."""

from __future__ import annotations

import os

from test_worker_support import small_settings

from limbo_tui.worker.process import ProcessWorker
from limbo_tui.worker.protocol import ELSEWHERE, RUNNING
from limbo_tui.worker.thread import ThreadWorker


def test_a_second_worker_with_the_same_executor_id_stays_down(dbos_url: str) -> None:
    settings = small_settings()
    first = ProcessWorker(dbos_url, settings)
    second = ThreadWorker(dbos_url, settings)
    try:
        first.start()
        assert first.state == RUNNING, first.detail
        second.start()
        # It would recover, and run again, what the first one is running.
        assert second.state == ELSEWHERE
        assert f"run by another limbo-tui (pid {os.getpid()})" in second.detail
        assert "executor_id" in second.detail
        first.crash()  # a crash keeps the claim: the same limbo-tui restarts it
        second.start()
        assert second.state == ELSEWHERE
        first.restart()
        assert first.state == RUNNING, first.detail
        first.stop()  # quitting releases it
        second.start()
        assert second.state == RUNNING, second.detail
    finally:
        first.stop()
        second.stop()
