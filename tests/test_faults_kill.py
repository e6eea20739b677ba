"""limbo-tui killed at random moments, 20 times in a row: SIGKILL and SIGHUP (a dropped
SSH session), while the private server starts, while the triggers are installed, while
DBOS launches, while the experiment runs.

After every kill: no postgres process of the data dir is left. After the twenty: the
triggers are either fully installed or absent (never half, never failing a write), the
next start works, and every workflow of the experiments is recovered and finishes.
The real `limbo-tui` command in a pseudo-terminal, on the embedded default.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import psycopg
import pytest

from limbo_tui.database import prepare_dbos_schema
from limbo_tui.pg import triggers
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import ExperimentSettings, Settings, WorkerSettings
from limbo_tui.worker.actions import Actions
from limbo_tui.worker.protocol import ExperimentParams
from tests.faults_support import PtyRun, clean_env, limbo_cmd, postgres_pids, wait
from tests.pg_support import shared_tmp

# Long fault tests: `-m "not slow"` leaves them out of a quick run.
pytestmark = pytest.mark.slow

KILLS = 20
EXPERIMENT = ExperimentSettings(
    children=2, steps=3, crash_enabled=False, step_delay_ms=300, max_recovery_attempts=50,
    child_max_recovery_attempts=50,
)  # fmt: skip


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT workflow_uuid, status FROM dbos.workflow_status").fetchall()
    return {r[0]: r[1] for r in rows}


def _check_triggers_whole(url: str) -> str:
    """Installed or absent, never in between; a DBOS-style write succeeds either way."""
    import asyncio

    from limbo_tui.pg.connect import connect

    async def state() -> str:
        conn = await connect(url)
        try:
            return (await triggers.status(conn, "dbos")).state
        finally:
            await conn.close()

    found = asyncio.run(state())
    assert found in ("installed", "not-installed"), found
    with psycopg.connect(url) as conn:  # one transaction, rolled back: a write that fires
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('probe', 'PENDING')"
        )
        conn.execute("UPDATE dbos.workflow_status SET status = 'SUCCESS'")
        conn.rollback()
    return found


def test_killed_twenty_times_then_everything_recovers(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-kill-") / "pg"
    # TOML values (json.dumps writes true / 300 / "SIGKILL" as TOML does); None is unset.
    exp = "\n".join(
        f"{k} = {json.dumps(v)}"
        for k, v in vars(EXPERIMENT).items()
        if k != "queue" and v is not None
    )
    config = tmp_path / "config.toml"
    config.write_text(f'[embedded]\ndata_dir = "{data_dir}"\n[experiment]\n{exp}\n')
    settings = Settings(experiment=EXPERIMENT, worker=WorkerSettings())
    env = clean_env(TERM="xterm-256color", HOME=str(tmp_path))
    env.pop("NO_COLOR")

    # Three experiments waiting in the queue before the first start.
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    url = server.ensure_database("limbo_tui")
    prepare_dbos_schema(url, "dbos")
    actions = Actions(url, settings)
    try:
        for i in range(3):
            params = ExperimentParams.from_settings(EXPERIMENT, dedup_id=f"kill-{i}")
            assert actions.enqueue_experiment(params).ok
    finally:
        actions.close()
    server.stop()

    rng = random.Random(7)
    for i in range(KILLS):
        sig = signal.SIGKILL if i % 2 == 0 else signal.SIGHUP
        run = PtyRun(limbo_cmd("--config", str(config)), tmp_path, env)
        # Early kills land in server start / trigger install / DBOS launch, later ones in
        # the experiment; an `e` now and then enqueues more work mid-run.
        delay = rng.uniform(0.1, 3.0)
        if rng.random() < 0.4:
            time.sleep(delay / 2)
            run.keys("e")
            time.sleep(delay / 2)
        else:
            time.sleep(delay)
        run.signal(sig)
        code = run.wait(15)
        assert code in (-signal.SIGKILL, -signal.SIGHUP, 0, 1), (i, sig, code)
        wait(lambda: not postgres_pids(data_dir), 15, f"postgres to go after kill {i + 1}")

    # The next start works and recovers every workflow of the experiments.
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    try:
        url = server.url("limbo_tui")
        _check_triggers_whole(url)
        run = PtyRun(limbo_cmd("--config", str(config)), tmp_path, env)
        try:
            wait(
                lambda: (st := _statuses(url)) and len(st) >= 9 and set(st.values()) == {"SUCCESS"},
                90,
                "every workflow to be recovered and finish",
            )
            assert _check_triggers_whole(url) == "installed"
        finally:
            run.keys("q")
            assert run.wait(15) == 0
    finally:
        server.stop()
    wait(lambda: not postgres_pids(data_dir), 15, "postgres to stop")
