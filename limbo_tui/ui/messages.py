"""The vocabulary between the app's I/O (feed, worker threads) and its widgets.

Dataclass messages: Textual's Message.__init__ runs on its own (via __post_init__)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class GraphChanged(Message):
    """Rows were applied to the graph.

    The app accumulates the pending ids itself and repaints from that set, so a storm
    of batches may collapse into the newest message (can_replace) without losing any.
    """

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GraphChanged)


@dataclass
class FeedStateChanged(Message):
    state: str
    detail: str = ""
    events_per_s: float = 0.0
    alarm: str = ""
    # The source's words for the header, and whether live push may be switched on.
    source: str = ""
    offer: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FeedStateChanged)


@dataclass
class WorkerPolled(Message):
    """What the embedded worker reported: state, executor and live step progress."""

    state: str
    executor_id: str
    detail: str
    # workflow id -> StepProgress
    progress: dict[str, Any]
    # workflow name -> max_recovery_attempts, fetched once the worker runs.
    limits: dict[str, int] | None = None
    # How many times the worker crashed so far: a crash and restart between two polls
    # still counts.
    crashes: int = 0
    # While STOPPING: the worker's ShutdownWait (what DBOS's shutdown waits for).
    stopping: Any = None
    # Graceful stops so far, and what the last one did.
    stops: int = 0
    last_stop: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WorkerPolled)


@dataclass
class ActionFinished(Message):
    """A blocking action (enqueue, crash, cancel, ...) came back from its thread."""

    title: str
    ok: bool
    message: str
    workflow_id: str | None = None
    # For a rejected enqueue: the workflow that holds the deduplication id.
    holder_id: str | None = None
