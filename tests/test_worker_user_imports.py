"""worker.imports: the embedded worker also runs and recovers the user's own workflows."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import psycopg
import pytest
from dbos import DBOSClient
from test_worker_support import small_settings, wait_for

from limbo_tui.urls import sqlalchemy_url
from limbo_tui.worker.protocol import DOWN, RUNNING
from limbo_tui.worker.thread import ThreadWorker

FINISHED = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}

USER_MODULE = """
from dbos import DBOS


@DBOS.step(name="shop.charge")
def charge(order: str) -> str:
    return f"paid {order}"


@DBOS.workflow(name="shop.checkout", max_recovery_attempts=5)
def checkout(order: str) -> str:
    return charge(order)
"""


def _status(url: str, workflow_id: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = %s", (workflow_id,)
        ).fetchone()
    return row[0] if row else None


def test_the_users_workflows_run_on_the_embedded_worker(
    dbos_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "limbo_test_shop.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = small_settings()
    settings = dataclasses.replace(
        base, worker=dataclasses.replace(base.worker, imports=("limbo_test_shop",))
    )
    worker = ThreadWorker(dbos_url, settings)
    client = DBOSClient(system_database_url=sqlalchemy_url(dbos_url))
    try:
        worker.start()
        assert worker.state == RUNNING, worker.detail
        # The tree can show `rec a/5` for it: its limit comes from the user's decorator.
        assert worker.max_recovery_attempts()["shop.checkout"] == 5
        handle = client.enqueue(
            {
                "workflow_name": "shop.checkout",
                "queue_name": settings.experiment.queue,
                "app_version": settings.worker.app_version,
            },
            "o-1",
        )
        wait_for(lambda: _status(dbos_url, handle.workflow_id) in FINISHED, 30, "checkout")
        assert _status(dbos_url, handle.workflow_id) == "SUCCESS"
        assert handle.get_result() == "paid o-1"
    finally:
        client.destroy()
        worker.stop()
        sys.modules.pop("limbo_test_shop", None)


def test_an_unknown_module_keeps_the_worker_down_with_the_reason(dbos_url: str) -> None:
    base = small_settings()
    settings = dataclasses.replace(
        base, worker=dataclasses.replace(base.worker, imports=("no_such_module_here",))
    )
    worker = ThreadWorker(dbos_url, settings)
    try:
        worker.start()
        assert worker.state == DOWN
        assert "worker.imports: cannot import 'no_such_module_here'" in worker.detail
        assert "\n" not in worker.detail
    finally:
        worker.stop()
