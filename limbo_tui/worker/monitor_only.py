"""NoWorker: `--worker none`, a monitor with no embedded worker.

Nothing is launched and nothing runs workflows here; the actions still work through
DBOSClient (enqueued work waits for whatever worker serves its queue and version).
"""

from __future__ import annotations

from collections.abc import Mapping

from limbo_tui.model import RegisteredMax
from limbo_tui.pg.registered_max import registered_history
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
        self._url = url
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
        # No workflow code is loaded here, so nothing is registered: a workflow's maximum
        # is known only from the user's [limits] (the graph's, said to come from config).
        return {}

    def registered_history(self) -> dict[str, RegisteredMax]:
        # What a lab's worker once saw, if this database is one that kept it (a read).
        return registered_history(self._url, self._settings)

    def keep_registered(self, seen: Mapping[str, RegisteredMax]) -> None:
        # No worker of ours dispatches anything here: nothing is ever learned to keep.
        pass
