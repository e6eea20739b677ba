"""What flows into the app from outside: the feed's batches and states, and the embedded
worker's polls. Each becomes a message with its payload for the app's loop (which hands
it to MonitorState); nothing here keeps a fact of its own.

The feed calls back on the app's loop; the worker is polled from a thread, because its
calls may block. post_message is thread-safe, so both post directly.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from textual.app import App

from limbo_tui.errors import one_line
from limbo_tui.feeds import Feed, FeedFactory
from limbo_tui.model import RegisteredMax
from limbo_tui.monitor_state import FeedFacts, MonitorState, WorkerStatus
from limbo_tui.ui.messages import (
    BacklogPageLoaded,
    FeedBatchArrived,
    FeedStateChanged,
    WorkerPolled,
    WorkerPollFailed,
)
from limbo_tui.worker.protocol import Worker

if TYPE_CHECKING:
    from limbo_tui.pg.feed import FeedBatch, FeedState

# Beside the queues in _pages_loading: the live families' next page, and with a
# parent's id after it, that parent's (no queue's name starts with a NUL byte).
FAMILIES = "\x00families"


class LiveInputs:
    def __init__(
        self,
        app: App[Any],
        state: MonitorState,
        feed_factory: FeedFactory | None,
        worker: Worker | None,
    ) -> None:
        self._app = app
        self._state = state
        self._feed_factory = feed_factory
        self._worker = worker
        self.feed: Feed | None = None
        # Queues whose next backlog page is being read (FAMILIES: the live families').
        self._pages_loading: set[str] = set()
        # Maxima the state learned on the loop, for the poll's thread to keep in the lab.
        self._to_keep: queue.SimpleQueue[Mapping[str, RegisteredMax]] = queue.SimpleQueue()

    # -- the feed ----------------------------------------------------------------------
    def start_feed(self) -> None:
        self._app.run_worker(self._run_feed(), group="feed", exclusive=True, exit_on_error=False)

    async def _run_feed(self) -> None:
        assert self._feed_factory is not None
        try:
            self.feed = self._feed_factory(self._on_batch, self._on_state)
            await self.feed.start()
        except Exception as exc:
            self._app.post_message(FeedStateChanged(FeedFacts("DOWN", one_line(exc))))

    def _on_batch(self, batch: FeedBatch) -> None:
        self._app.post_message(FeedBatchArrived(batch))

    def _on_state(self, state: FeedState) -> None:
        self._app.post_message(FeedStateChanged(FeedFacts.of(state)))

    def load_page(self, queue: str, older_than: tuple[int, str]) -> None:
        """The next page of a summarized backlog, read by the feed beside its own work;
        one request per queue at a time (a second enter while it loads adds nothing)."""
        feed = self.feed
        if feed is None or queue in self._pages_loading:
            return
        self._pages_loading.add(queue)
        self._app.run_worker(
            self._load_page(feed, queue, older_than), group="backlog-page", exit_on_error=False
        )

    async def _load_page(self, feed: Feed, queue: str, older_than: tuple[int, str]) -> None:
        try:
            rows = await feed.load_page(queue, older_than)
        except Exception as exc:
            problem = f"could not read the next page of queue {queue}: {one_line(exc)}"
            self._app.post_message(BacklogPageLoaded([], problem))
            return
        finally:
            self._pages_loading.discard(queue)
        self._app.post_message(BacklogPageLoaded(rows))

    def load_families(self, parent: str | None = None) -> None:
        """The next page of live families, or of a parent's children, as load_page (one
        request for each at a time)."""
        feed = self.feed
        key = FAMILIES + (parent or "")
        if feed is None or key in self._pages_loading:
            return
        if parent is None and not feed.pages_families:
            return
        self._pages_loading.add(key)
        self._app.run_worker(
            self._load_families(feed, parent, key), group="backlog-page", exit_on_error=False
        )

    async def _load_families(self, feed: Feed, parent: str | None, key: str) -> None:
        try:
            rows = await feed.load_families(parent)
        except Exception as exc:
            what = "live families" if parent is None else f"children of {parent}"
            problem = f"could not read the next {what}: {one_line(exc)}"
            self._app.post_message(BacklogPageLoaded([], problem))
            return
        finally:
            self._pages_loading.discard(key)
        self._app.post_message(BacklogPageLoaded(rows))

    async def stop_feed(self) -> None:
        if self.feed is not None:
            await self.feed.stop()

    # -- the worker --------------------------------------------------------------------
    def poll_worker(self) -> None:
        if self._worker is not None:
            self._app.run_worker(
                self._poll, thread=True, group="poll", exclusive=True, exit_on_error=False
            )

    def _poll(self) -> None:
        worker = self._worker
        if worker is None:
            return
        try:
            state, executor = str(worker.state), str(worker.executor_id or "")
            detail = str(getattr(worker, "detail", "") or "")
            progress = worker.step_progress() if state == "RUNNING" else {}
            # What the worker registered is known once it runs (asked again after a
            # restart); what earlier sessions kept, once: each asked until a poll that
            # carried it was taken in.
            limits = (
                dict(worker.max_recovery_attempts())
                if state == "RUNNING" and self._state.needs_worker_limits
                else None
            )
            history = (
                dict(worker.registered_history()) if self._state.needs_registered_history else None
            )
            while not self._to_keep.empty():
                worker.keep_registered(self._to_keep.get())
        except Exception as exc:
            self._app.post_message(WorkerPollFailed(f"worker: {one_line(exc)}"))
            return
        crashes = int(getattr(worker, "crash_count", 0) or 0)
        stopping = worker.shutdown_wait() if state == "STOPPING" else None
        stops = int(getattr(worker, "stop_count", 0) or 0)
        last_stop = str(getattr(worker, "last_stop", "") or "")
        status = WorkerStatus(
            state,
            executor,
            detail,
            progress,
            limits,
            crashes,
            stopping,
            stops,
            last_stop,
            time.monotonic(),
            history,
        )
        self._app.post_message(WorkerPolled(status))

    def keep(self, learned: Mapping[str, RegisteredMax]) -> None:
        """What the state learned its worker dispatched: kept by the next poll."""
        if learned:
            self._to_keep.put(learned)

    def keep_now(self) -> None:
        """At quit, what no poll took yet (blocking: call it from a thread)."""
        while self._worker is not None and not self._to_keep.empty():
            self._worker.keep_registered(self._to_keep.get())
