"""The demo under load: 50 experiments enqueued at once while the embedded worker is
crashed and restarted 10 times, watched by the TUI (real LiveFeed, real ThreadWorker).

At the end every workflow is in a terminal state, each one that did not succeed carries
the diagnosis that explains it, nothing is left in limbo, and the graph on screen equals
a fresh snapshot of the database.
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from limbo_tui.settings import (
    ExperimentSettings,
    FeedSettings,
    Settings,
    UISettings,
)
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.worker.protocol import ExperimentParams
from tests.faults_support import converges, live_app, until

# Long fault tests: `-m "not slow"` leaves them out of a quick run.
pytestmark = pytest.mark.slow

EXPERIMENTS = 50
CRASHES = 10
EXPERIMENT = ExperimentSettings(
    children=2,
    steps=2,
    crash_enabled=False,
    step_delay_ms=20,
    # The shipped limits: workflows caught by several crashes get dead-lettered, which
    # the monitor must then explain.
    max_recovery_attempts=2,
    child_max_recovery_attempts=2,
)
SETTINGS = Settings(
    lab=True,
    experiment=EXPERIMENT,
    feed=FeedSettings(coalesce_ms=20),
    ui=UISettings(refresh_hz=10),
)
TERMINAL = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT workflow_uuid, status FROM dbos.workflow_status").fetchall()
    return {r[0]: r[1] for r in rows}


async def test_fifty_experiments_through_ten_crashes(dbos_url: str) -> None:
    app = live_app(dbos_url, SETTINGS, "thread")
    async with app.run_test(size=(120, 40)):
        header = app.query_one(StatusHeader)
        await until(lambda: header.feed_state == "LIVE", 20, "the feed")
        await until(lambda: app.worker.state == "RUNNING", 60, "the worker")

        def enqueue(i: int) -> bool:
            params = ExperimentParams.from_settings(EXPERIMENT, dedup_id=f"load-{i}")
            return app.worker.enqueue_experiment(params).ok

        with ThreadPoolExecutor(8) as pool:
            results = await asyncio.get_running_loop().run_in_executor(
                None, lambda: list(pool.map(enqueue, range(EXPERIMENTS)))
            )
        assert all(results)

        rng = random.Random(50)
        for _ in range(CRASHES):
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            await asyncio.to_thread(app.worker.crash)
            assert app.worker.state == "DOWN", app.worker.detail
            await asyncio.to_thread(app.worker.restart)
            assert app.worker.state == "RUNNING", app.worker.detail

        total = EXPERIMENTS * (1 + EXPERIMENT.children)
        await until(
            lambda: len(st := _statuses(dbos_url)) == total and set(st.values()) <= TERMINAL,
            90,
            "every workflow to end",
            every=0.5,
        )
        await converges(lambda: app.graph, dbos_url, 20)
        await asyncio.sleep(0.3)  # one more repaint: the diagnoses of the final graph
        statuses = _statuses(dbos_url)
        kinds: dict[str, set[str]] = {}
        for d in app.diagnoses:
            kinds.setdefault(d.workflow_id, set()).add(d.kind)
        for wid, status in statuses.items():
            if status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED":
                assert "dead-lettered" in kinds.get(wid, set()), (wid, kinds.get(wid))
            elif status == "ERROR":
                # A parent whose child was dead-lettered fails (DBOS >= 2.12): its
                # children explain it.
                kids = app.graph.children(wid)
                assert any(statuses.get(k) == "MAX_RECOVERY_ATTEMPTS_EXCEEDED" for k in kids), (
                    wid,
                    [statuses.get(k) for k in kids],
                )
            else:
                assert status == "SUCCESS", (wid, status)
        assert not [d for d in app.diagnoses if d.severity == "limbo"]
        with psycopg.connect(dbos_url) as conn:
            recovered = conn.execute(
                "SELECT count(*) FROM dbos.workflow_status WHERE recovery_attempts > 1"
            ).fetchone()
        assert recovered is not None and recovered[0] > 0, "the crashes interrupted nothing"
        assert "nothing in limbo" in str(app.query_one("#limbo-bar").render())
