"""The top line: which database, the worker's state, the feed's state and rate, and the
last error from the feed or the worker (the app never dies on them; it says so here)."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from limbo_tui.terminal_text import safe_text

FEED_WORDS = {
    "LIVE": "LIVE via notify",
    "POLLING": "POLLING",
    "RECONNECTING": "RECONNECTING",
    "DOWN": "DOWN",
}


class StatusHeader(Widget):
    database: reactive[str] = reactive("")
    worker_state: reactive[str] = reactive("none")
    executor_id: reactive[str] = reactive("")
    worker_detail: reactive[str] = reactive("")
    feed_state: reactive[str] = reactive("STARTING")
    feed_detail: reactive[str] = reactive("")
    events_per_s: reactive[float] = reactive(0.0)
    poll_interval_s: reactive[float] = reactive(2.0)
    paused_changes: reactive[int | None] = reactive(None)
    problem: reactive[str] = reactive("")
    # The database's true counts (backlog.totals_line); empty until a snapshot counted.
    totals: reactive[str] = reactive("")
    # From the feed: true while the feed itself may be LIVE (the embedded disk is full).
    alarm: reactive[str] = reactive("")

    def render(self) -> Content:
        worker = self.worker_state
        if self.executor_id and worker not in ("none", "NONE"):
            worker = f"{worker} {self.executor_id}"
        feed = FEED_WORDS.get(self.feed_state, self.feed_state)
        if self.feed_state == "LIVE" and self.feed_detail.startswith("SQLITE"):
            feed = f"LIVE {self.feed_detail}"  # the SQLite feed watches the file itself
        if self.feed_state == "POLLING":
            feed += f" every {self.poll_interval_s:g}s"
        if self.feed_state in ("LIVE", "POLLING"):
            feed += f" {self.events_per_s:.1f} ev/s"
        line = f"worker {worker} │ feed {feed}"
        if self.alarm:
            # First on the line: it must survive an 80-column terminal. The whole
            # sentence is the second line's problem.
            line = f"⚠ {safe_text(self.alarm.split(':', 1)[0]).upper()} │ {line}"
        if self.totals:
            line += f" │ {self.totals}"
        if self.paused_changes is not None:
            line += f" │ PAUSED, {self.paused_changes} changes wait (p)"
        feed_detail = self.feed_detail if self.feed_state not in ("LIVE", "STARTING") else ""
        problem = self.alarm or self.problem or feed_detail or self.worker_detail
        # Second line: the database, and what went wrong last (feed, worker, action).
        line += f"\ndb {safe_text(self.database)}"
        if problem:
            line += f" │ ⚠ {safe_text(problem)}"
        # Content(...) is plain text: a "[" from the database is never read as markup.
        return Content(line)

    def watch_problem(self) -> None:
        self.set_class(bool(self.problem or self.alarm), "-problem")

    def watch_alarm(self) -> None:
        self.watch_problem()

    def watch_paused_changes(self) -> None:
        self.set_class(self.paused_changes is not None, "-paused")
