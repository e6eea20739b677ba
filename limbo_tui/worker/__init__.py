"""limbo-tui's embedded DBOS worker and the actions on workflows.

- protocol.py      the Worker contract, StepProgress, ExperimentParams, results
- demo.py          the seed experiment as DBOS workflows (limbo_demo.parent/child/step)
- launch.py        DBOS configuration and launch shared by both worker kinds
- crash_guard.py   how a worker on threads is crashed like a killed process
- thread.py        ThreadWorker: DBOS on a control thread of this process
- process.py       ProcessWorker: DBOS in a child process (process_main.py), SIGKILL crash
- monitor_only.py  NoWorker: `--worker none`
- actions.py       enqueue / cancel / resume / fork through DBOSClient
- release_client.py  which DBOS release acts on a database, and the helper that runs it
- release_helper.py  the helper script: actions with its interpreter's dbos (JSON lines)
- helper_process.py  the helper kept running for the session, one per interpreter
- progress.py      live step attempts (DBOS.step_status) for the UI
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from limbo_tui.settings import Settings, WorkerMode
from limbo_tui.worker.protocol import StateListener, Worker


def create_worker(
    mode: WorkerMode,
    url: str,
    settings: Settings,
    *,
    log_path: str | Path | None = None,
    on_state: StateListener | None = None,
    server_back: Callable[[], bool] | None = None,
) -> Worker:
    """The worker for `--worker thread|process|none` (not started: call start()).
    server_back: see WorkerBase (the embedded default's server coming back)."""
    if mode == "thread":
        from limbo_tui.worker.thread import ThreadWorker

        return ThreadWorker(
            url, settings, log_path=log_path, on_state=on_state, server_back=server_back
        )
    if mode == "process":
        from limbo_tui.worker.process import ProcessWorker

        return ProcessWorker(
            url, settings, log_path=log_path, on_state=on_state, server_back=server_back
        )
    from limbo_tui.worker.monitor_only import NoWorker

    return NoWorker(url, settings)
