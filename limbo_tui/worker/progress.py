"""Live step attempts of the embedded worker's workflows.

DBOS keeps a step's retry attempt in memory only (DBOS.step_status); nothing reaches the
database until the step ends. The demo steps therefore report each attempt here:

- thread mode: straight into a StepProgressBoard the UI reads (same process);
- process mode: the child process prints one JSON line per report on its protocol pipe
  (process_main.py) and ProcessWorker applies it to its own board.

`report` is the single hook the demo workflows call; whoever hosts DBOS installs the
sink with `set_sink`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from limbo_tui.worker.protocol import StepProgress

# A progress event: a StepProgress (a try started) or a workflow id (its step ended).
ProgressEvent = StepProgress | str
ProgressSink = Callable[[ProgressEvent], None]


class StepProgressBoard:
    """workflow id -> the step it runs now; thread-safe, last report wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_workflow: dict[str, StepProgress] = {}

    def apply(self, event: ProgressEvent) -> None:
        with self._lock:
            if isinstance(event, StepProgress):
                self._by_workflow[event.workflow_id] = event
            else:
                self._by_workflow.pop(event, None)

    def clear(self) -> None:
        """After a crash or a stop nothing runs any more."""
        with self._lock:
            self._by_workflow.clear()

    def snapshot(self) -> dict[str, StepProgress]:
        with self._lock:
            return dict(self._by_workflow)


_sink_lock = threading.Lock()
_sink: ProgressSink | None = None


def set_sink(sink: ProgressSink | None) -> None:
    global _sink
    with _sink_lock:
        _sink = sink


def report(event: ProgressEvent) -> None:
    """Called by the demo steps; never raises (progress is a display aid only)."""
    sink = _sink
    if sink is None:
        return
    with contextlib.suppress(Exception):
        sink(event)


def step_started(
    workflow_id: str, step_id: int, name: str, attempt0: int, max_attempts: int
) -> None:
    report(
        StepProgress(
            workflow_id=workflow_id,
            step_id=step_id,
            name=name,
            attempt=attempt0 + 1,
            max_attempts=max_attempts,
            updated_at=time.time(),
        )
    )


def step_ended(workflow_id: str) -> None:
    report(workflow_id)


# -- the wire form used between the child process and ProcessWorker -------------------
def to_wire(event: ProgressEvent) -> dict[str, Any]:
    if isinstance(event, StepProgress):
        return {
            "type": "progress",
            "workflow_id": event.workflow_id,
            "step_id": event.step_id,
            "name": event.name,
            "attempt": event.attempt,
            "max_attempts": event.max_attempts,
            "updated_at": event.updated_at,
        }
    return {"type": "progress_end", "workflow_id": event}


def from_wire(message: dict[str, Any]) -> ProgressEvent | None:
    """Parse one protocol message; None when it is not a well-formed progress event."""
    try:
        if message.get("type") == "progress":
            return StepProgress(
                workflow_id=str(message["workflow_id"]),
                step_id=int(message["step_id"]),
                name=str(message["name"]),
                attempt=int(message["attempt"]),
                max_attempts=int(message["max_attempts"]),
                updated_at=float(message["updated_at"]),
            )
        if message.get("type") == "progress_end":
            return str(message["workflow_id"])
    except (KeyError, TypeError, ValueError):
        return None
    return None
