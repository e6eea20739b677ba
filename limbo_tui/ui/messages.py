"""What the app's I/O (the feed's callbacks, worker threads) tells its loop: each message
carries its payload, which the app hands to MonitorState.

Dataclass messages: Textual's Message.__init__ runs on its own (via __post_init__).
post_message is thread-safe, so a feed or a thread worker posts them directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from limbo_tui.monitor_state import ActionOutcome, Batch, FeedFacts, WorkerStatus


@dataclass
class FeedBatchArrived(Message):
    """Rows from the feed. Never replaced by a newer one: every batch is applied."""

    batch: Batch


@dataclass
class BacklogPageWanted(Message):
    """The user reached the end of what is loaded of a summarized backlog (the tree's
    "more" line): the next page of `queue`, older than (created_at, id)."""

    queue: str
    older_than: tuple[int, str]


@dataclass
class FamiliesPageWanted(Message):
    """The user reached the tree's last line past the loaded live families, or the last
    loaded child of a parent whose other children are only counted (`parent`): the next
    page (the feed knows where it starts)."""

    parent: str | None = None


@dataclass
class BacklogPageLoaded(Message):
    """A page of a backlog read from the database (rows the totals counted already), or
    why it could not be read."""

    rows: list[Any]
    problem: str = ""


@dataclass
class FeedStateChanged(Message):
    facts: FeedFacts

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FeedStateChanged)


@dataclass
class WorkerPolled(Message):
    """What the embedded worker reported: state, executor, live step progress."""

    status: WorkerStatus

    def can_replace(self, message: Message) -> bool:
        # A poll carries the worker's whole state (its crash count included); limits a
        # replaced poll carried are asked again by the next one.
        return isinstance(message, WorkerPolled)


@dataclass
class WorkerPollFailed(Message):
    """Asking the worker raised: one line for the header and a notification."""

    problem: str


@dataclass
class ActionFinished(Message):
    """A blocking action (enqueue, crash, cancel, ...) came back from its thread."""

    outcome: ActionOutcome
