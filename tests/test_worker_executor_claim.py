"""One live worker per executor id and database, across limbo-tui processes."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

from test_worker_support import small_settings, wait_for

from limbo_tui.database import open_database
from limbo_tui.settings import EmbeddedSettings
from limbo_tui.ui.workflow_actions import ActionKeys
from limbo_tui.worker.base import SERVER_WAIT_DETAIL
from limbo_tui.worker.process import ProcessWorker
from limbo_tui.worker.protocol import DOWN, ELSEWHERE, RUNNING, STARTING
from limbo_tui.worker.thread import ThreadWorker
from tests.pg_support import shared_tmp


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
        said = ActionKeys._restart_worker(second)  # `r` in the second: why, not "up again"
        assert not said.ok and "run by another limbo-tui" in said.message, said
        first.restart()
        assert first.state == RUNNING, first.detail
        first.stop()  # quitting releases it
        second.start()
        assert second.state == RUNNING, second.detail
    finally:
        first.stop()
        second.stop()


def test_a_start_while_the_embedded_server_is_gone_waits_for_it_to_come_back() -> None:
    """A second limbo-tui on the embedded default: the first quits and its private server
    goes with it; `r` pressed before this one's feed has noticed must not fail on the
    missing server (it said ELSEWHERE for good), but wait for the feed to revive it."""
    data_dir = shared_tmp("limbo-tui-claim-") / "pg"
    settings = replace(small_settings(), embedded=EmbeddedSettings(data_dir=str(data_dir)))
    with open_database(settings) as database:
        assert database.server is not None
        database.server.stop()  # as the first limbo-tui's quit stops it
        assert not database.server.is_running()
        worker = ThreadWorker(database.url, settings, server_back=database.wait_until_running)
        pressed = threading.Thread(target=worker.start)
        try:
            pressed.start()
            wait_for(lambda: worker.state == STARTING, what="the worker to wait")
            assert worker.detail == SERVER_WAIT_DETAIL
            # The feed's reconnect loop does this, on the main thread.
            database.revive()
            pressed.join(60)
            assert worker.state == RUNNING, worker.detail
        finally:
            worker.stop()
            pressed.join(10)


def test_a_claim_that_cannot_reach_the_database_is_down_not_elsewhere(tmp_path: Path) -> None:
    # Nothing answers there: no other limbo-tui is known to run the worker.
    url = f"postgresql://postgres@/limbo?host={tmp_path / 'no-server'}"
    worker = ThreadWorker(url, small_settings())
    try:
        worker.start()
        assert worker.state == DOWN
        assert worker.detail.startswith("cannot claim executor id 'limbo-tui-worker': ")
        assert "No such file or directory" in worker.detail
    finally:
        worker.stop()
