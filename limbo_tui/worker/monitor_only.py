"""NoWorker: `--worker none`, a monitor with no embedded worker.

Nothing is launched and nothing runs workflows here; the actions still work through
DBOSClient (enqueued work waits for whatever worker serves its queue and version).
"""

from __future__ import annotations

from limbo_tui.settings import Settings
from limbo_tui.worker.actions import Actions
from limbo_tui.worker.protocol import (
    NONE,
    EnqueueResult,
    ExperimentParams,
    ShutdownWait,
    StepProgress,
    WorkerState,
)


class NoWorker:
    def __init__(self, url: str, settings: Settings) -> None:
        self._settings = settings
        self._actions = Actions(url, settings)

    @property
    def state(self) -> WorkerState:
        return NONE

    @property
    def detail(self) -> str:
        return "no embedded worker (--worker none)"

    @property
    def executor_id(self) -> str | None:
        return None

    @property
    def log_path(self) -> str | None:
        return None

    @property
    def actions(self) -> Actions:
        return self._actions

    def start(self) -> None:
        pass

    def crash(self) -> None:
        pass

    def restart(self) -> None:
        pass

    def stop(self) -> None:
        self._actions.close()

    def stop_gracefully(self) -> str:
        self.stop()
        return "no worker to stop"

    def shutdown_wait(self) -> ShutdownWait | None:
        return None

    def enqueue_experiment(self, params: ExperimentParams) -> EnqueueResult:
        return self._actions.enqueue_experiment(params)

    def step_progress(self) -> dict[str, StepProgress]:
        return {}

    def max_recovery_attempts(self) -> dict[str, int]:
        # Only what config [limits] says; no workflow code is loaded here.
        return dict(self._settings.limits)
