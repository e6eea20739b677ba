"""The top line: lab or monitor (READ-ONLY), the worker's state, the feed's state, source
and rate, and the offer of live push; then the database and the last error from the feed
or the worker (the app never dies on them; it says so here)."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from limbo_tui.monitor_state import NO_WORKER
from limbo_tui.terminal_text import safe_text
from limbo_tui.worker.protocol import NONE

# The key that switches on live push (bindings.KEYS "live-push"), named by the header.
LIVE_PUSH_HINT = "P: live push"


class StatusHeader(Widget):
    mode: reactive[str] = reactive("")
    database: reactive[str] = reactive("")
    worker_state: reactive[str] = reactive(NO_WORKER)
    executor_id: reactive[str] = reactive("")
    worker_detail: reactive[str] = reactive("")
    feed_state: reactive[str] = reactive("STARTING")
    feed_detail: reactive[str] = reactive("")
    events_per_s: reactive[float] = reactive(0.0)
    # The source's words ("via notify", "every 0.2-2 s", "via logical, slot 12 kB").
    feed_source: reactive[str] = reactive("")
    live_push_offer: reactive[bool] = reactive(False)
    paused_changes: reactive[int | None] = reactive(None)
    problem: reactive[str] = reactive("")
    # The database's true counts (backlog.totals_line); empty until a snapshot counted.
    totals: reactive[str] = reactive("")
    # From the feed: true while the feed itself may be LIVE (the embedded disk is full).
    alarm: reactive[str] = reactive("")

    def render(self) -> Content:
        worker = self.worker_state
        # No worker of this limbo-tui (none at all, or a NoWorker): no executor to name.
        if self.executor_id and worker not in (NO_WORKER, NONE):
            worker = f"{worker} {self.executor_id}"
        stopping = self.worker_state == "STOPPING" and bool(self.worker_detail)
        if stopping:
            # What DBOS's shutdown waits for, and for how long: first on the line, so that
            # an 80-column terminal still shows the id it waits for.
            worker += ": " + safe_text(self.worker_detail.removeprefix("stopping: "))
        feed = self.feed_state
        if self.feed_state in ("LIVE", "POLLING"):
            if self.feed_source:
                feed += f" {self.feed_source}"
            feed += f" {self.events_per_s:.1f} ev/s"
        line = f"worker {worker} │ feed {feed}"
        if self.mode:
            line = f"{self.mode} │ {line}"
        if self.alarm:
            # First on the line: it must survive an 80-column terminal. The whole
            # sentence is the second line's problem.
            line = f"⚠ {safe_text(self.alarm.split(':', 1)[0]).upper()} │ {line}"
        # The offer before the totals: a narrow header cuts from the right.
        if self.live_push_offer:
            line += f" │ {LIVE_PUSH_HINT}"
        if self.totals:
            line += f" │ {self.totals}"
        if self.paused_changes is not None:
            line += f" │ PAUSED, {self.paused_changes} changes wait (p)"
        # A monitor that polls until the user asks for live push has no problem: the
        # offer on the first line says it all, and the second line stays free for what
        # does go wrong (a worker's crash point, a failed action).
        quiet = self.feed_state in ("LIVE", "STARTING") or self.live_push_offer
        feed_detail = "" if quiet else self.feed_detail
        worker_detail = "" if stopping else self.worker_detail
        problem = self.alarm or self.problem or feed_detail or worker_detail
        # Second line: what went wrong last (feed, worker, action), then the database. In
        # that order: a narrow terminal cuts from the right, and the problem (a crash
        # point naming its child) is what must stay visible.
        line += "\n" + (f"⚠ {safe_text(problem)} │ " if problem else "")
        line += f"db {safe_text(self.database)}"
        # Content(...) is plain text: a "[" from the database is never read as markup.
        return Content(line)

    def watch_problem(self) -> None:
        self.set_class(bool(self.problem or self.alarm), "-problem")

    def watch_alarm(self) -> None:
        self.watch_problem()

    def watch_paused_changes(self) -> None:
        self.set_class(self.paused_changes is not None, "-paused")
