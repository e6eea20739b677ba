"""What flows into the app from outside: feed batches and states, the embedded worker's
state and step progress, and pausing (holding batches back, counting what waits).

A mixin of LimboApp. Feed callbacks may arrive on the app's loop or, defensively, from
another thread; the worker is polled from a thread because its calls may block.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from textual import work

from limbo_tui.errors import one_line
from limbo_tui.limits import known_limits
from limbo_tui.model import Step, StepRemoved, Workflow, WorkflowRemoved
from limbo_tui.shutdown_wait import stopping_line, waiting_for
from limbo_tui.ui.details_pane import DetailsPane
from limbo_tui.ui.messages import FeedStateChanged, GraphChanged, WorkerPolled
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.teardown import quiet_in_teardown

if TYPE_CHECKING:
    from limbo_tui.ui.app import LimboApp

    _Base = LimboApp
else:
    _Base = object


def _row_id(row: Any) -> str | None:
    if isinstance(row, Workflow | WorkflowRemoved):
        return row.id
    if isinstance(row, Step | StepRemoved):
        return row.workflow_id
    return None


class LiveInputs(_Base):
    # -- feed --------------------------------------------------------------------------
    @work(exclusive=True, group="feed", exit_on_error=False)
    async def _start_feed(self) -> None:
        assert self._feed_factory is not None
        try:
            self._feed = self._feed_factory(self._on_feed_batch, self._on_feed_state)
            await self._feed.start()
        except Exception as exc:
            self._on_feed_state_values("DOWN", one_line(exc), 0.0)

    @quiet_in_teardown
    def _on_feed_batch(self, batch: Any) -> None:
        """Feed callback: may come from the loop or (defensively) from another thread."""
        if threading.get_ident() != self._thread_id:
            self.call_from_thread(self._on_feed_batch, batch)
            return
        if self.paused:
            if batch.full:
                self._held.clear()
                self._held_ids = set(self.graph.workflows)
            self._held.append(batch)
            self._held_ids |= {i for i in map(_row_id, batch.rows) if i is not None}
            self.query_one(StatusHeader).paused_changes = len(self._held_ids)
            return
        self._apply_batch(batch)

    def _apply_batch(self, batch: Any) -> None:
        changed: set[str] = set()
        try:
            self.timeline.observe(batch.rows, self.clock())
            if batch.full:
                changed = self.graph.replace_all(batch.rows)
                self._pending_everything = True
                self.query_one(DetailsPane).loading = False
            else:
                changed = self.graph.apply(batch.rows)
        except Exception as exc:  # a bad row must not end the app
            self._report_problem(f"could not apply a feed batch: {one_line(exc)}")
        # The app keeps every pending id itself, so a message replaced by a newer one
        # (can_replace) loses nothing: a burst costs one repaint.
        self._pending |= changed
        self.post_message(GraphChanged())

    def _on_feed_state(self, state: Any) -> None:
        values = (
            state.state,
            state.detail,
            state.events_per_s,
            getattr(state, "alarm", ""),
            getattr(state, "source", ""),
            bool(getattr(state, "offer", False)),
        )
        if threading.get_ident() != self._thread_id:
            self.call_from_thread(self._on_feed_state_values, *values)
        else:
            self._on_feed_state_values(*values)

    def _on_feed_state_values(
        self,
        state: str,
        detail: str,
        events_per_s: float,
        alarm: str = "",
        source: str = "",
        offer: bool = False,
    ) -> None:
        self.post_message(
            FeedStateChanged(state, detail or "", events_per_s or 0.0, alarm, source or "", offer)
        )

    @quiet_in_teardown
    def on_feed_state_changed(self, message: FeedStateChanged) -> None:
        header = self.query_one(StatusHeader)
        before = header.feed_state
        header.feed_state = message.state
        header.feed_detail = message.detail
        header.events_per_s = message.events_per_s
        header.alarm = message.alarm
        header.feed_source = message.source
        offer = message.offer and not self.settings.read_only
        if offer != header.live_push_offer:
            header.live_push_offer = offer
            self.refresh_bindings()
        if message.state == before:
            return
        if message.state in ("DOWN", "RECONNECTING"):
            self.notify(f"feed {message.state}: {message.detail}", severity="warning")
        elif before in ("DOWN", "RECONNECTING"):
            self.notify(f"feed {message.state} again")

    # -- worker polling ----------------------------------------------------------------
    def _poll_worker(self) -> None:
        self._poll_worker_thread()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll_worker_thread(self) -> None:
        worker = self.worker
        if worker is None:
            return
        try:
            state, executor = str(worker.state), str(worker.executor_id or "")
            detail = str(getattr(worker, "detail", "") or "")
            progress = worker.step_progress() if state == "RUNNING" else {}
            limits = None
            # The limits are declared by the worker's code, not by its state: ask once.
            if not self._worker_limits_loaded:
                limits = dict(worker.max_recovery_attempts())
        except Exception as exc:
            self.call_from_thread(self._report_problem, f"worker: {one_line(exc)}")
            return
        crashes = int(getattr(worker, "crash_count", 0) or 0)
        stopping = worker.shutdown_wait() if state == "STOPPING" else None
        stops = int(getattr(worker, "stop_count", 0) or 0)
        last_stop = str(getattr(worker, "last_stop", "") or "")
        self.post_message(
            WorkerPolled(
                state, executor, detail, progress, limits, crashes, stopping, stops, last_stop
            )
        )

    @quiet_in_teardown
    def on_worker_polled(self, message: WorkerPolled) -> None:
        header = self.query_one(StatusHeader)
        header.worker_state, header.executor_id = message.state, message.executor_id
        shown = message.state in ("DOWN", "ELSEWHERE", "STOPPING")
        if message.state == "ELSEWHERE" and header.worker_state_said != "ELSEWHERE":
            # The header's second line may be cut at 80 columns: say it once in full.
            self.notify(message.detail, severity="warning", timeout=10)
        header.worker_state_said = message.state
        now = self.clock()
        detail = message.detail
        if message.stopping is not None:
            # DBOS names ids; the graph says why they do not end (shutdown_wait.py).
            diagnoses = self.diagnoses
            detail = stopping_line(message.stopping, self.graph, diagnoses, time.monotonic())
            said = waiting_for(message.stopping, self.graph, diagnoses)
            if said != self._timeline_stop_said:
                self.timeline.worker_event(f"worker stopping: {said}", now)
                self._timeline_stop_said = said
        if message.stops > self._timeline_stops:
            self.timeline.worker_event(f"worker stopped: {message.last_stop}", now)
            self._timeline_stops, self._timeline_stop_said = message.stops, ""
        header.worker_detail = detail if shown else ""
        progress, limits = message.progress, message.limits
        # The instants of a crash and a restart: DBOS records neither. A crash that was
        # restarted between two polls is still told, from the worker's crash count.
        for n in range(self._timeline_crashes + 1, message.crashes + 1):
            self.timeline.worker_event(f"worker crashed (crash {n})", now)
        self._timeline_crashes = max(self._timeline_crashes, message.crashes)
        if message.state != self._timeline_worker_state:
            if self._timeline_worker_state and message.state not in ("DOWN", "STOPPING"):
                detail = f": {message.detail}" if message.detail else ""
                self.timeline.worker_event(f"worker {message.state}{detail}", now)
            self._timeline_worker_state = message.state
        self.timeline.progress(
            {
                wid: (p.step_id, p.attempt, p.max_attempts)
                for wid, p in progress.items()
                if hasattr(p, "step_id")
            },
            now,
        )
        if limits is not None:
            self._worker_limits_loaded = True
            merged = {**known_limits(self.settings), **limits, **self.settings.limits}
            self.graph.with_limits(merged)
            self._pending_everything = True
        moved = {
            wid
            for wid in set(progress) | set(self._progress)
            if progress.get(wid) != self._progress.get(wid)
        }
        self._progress = progress
        if moved or limits is not None:
            self._pending |= moved
            self._schedule_repaint()

    @quiet_in_teardown
    def _report_problem(self, text: str) -> None:
        self.query_one(StatusHeader).problem = text
        self.notify(text, severity="error", timeout=8)

    def action_toggle_pause(self) -> None:
        header = self.query_one(StatusHeader)
        self.paused = not self.paused
        if self.paused:
            header.paused_changes = 0
            return
        held, self._held, self._held_ids = self._held, [], set()
        header.paused_changes = None
        for batch in held:
            self._apply_batch(batch)
        self.notify(f"live again: {len(held)} batches applied" if held else "live again")
