"""`limbo-tui replay FILE`: a recorded session again, in the TUI or as timelines.

The TUI gets a feed that plays the recorded batches at their pace (`--speed`), a clock
that runs on the recording's time (so ages and `stalled` read as they did then), no
worker and no database: nothing can be written. `--timeline` prints every workflow's
story instead.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from limbo_tui.errors import EXIT_USAGE, LimboError
from limbo_tui.model import Row
from limbo_tui.recording import RecordedBatch, RecordedWorkerEvent, Recording, read_recording
from limbo_tui.terminal_text import safe_text
from limbo_tui.time_text import time_of_day_text
from limbo_tui.timeline import Timeline, TimelineEvent

if TYPE_CHECKING:
    from limbo_tui.pg.feed import FeedBatch, FeedState
    from limbo_tui.ui.app import LimboApp


class ReplayClock:
    """The recording's time: its start plus the replay's elapsed time times the speed."""

    def __init__(self, started_at_ms: int, length_ms: int, speed: float) -> None:
        self._start_ms = started_at_ms
        self._length_ms = length_ms
        self._speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> int:
        # Stops at the recording's end: ages then read as they did when it stopped.
        played = int((time.monotonic() - self._t0) * 1000 * self._speed)
        return self._start_ms + min(played, self._length_ms)


class ReplayFeed:
    """The feed contract (feeds.Feed: batches and states) over a recording."""

    def __init__(
        self,
        recording: Recording,
        speed: float,
        on_batch: Callable[[FeedBatch], None],
        on_state: Callable[[FeedState], None],
    ) -> None:
        self._recording = recording
        self._speed = speed
        self._on_batch = on_batch
        self._on_state = on_state
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._play())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def pause(self) -> None:
        return None  # a replay holds nothing on any server while suspended

    async def resume(self) -> None:
        return None

    async def load_page(self, queue: str, older_than: tuple[int, str]) -> list[Row]:
        raise LimboError(
            "a replay has only the rows its session read: the rest of this backlog was "
            "not recorded (open it in the recorded session to record it)"
        )

    # The recorded snapshots are played as they were: no page of families to read.
    pages_families = False

    async def load_families(self, parent: str | None = None) -> list[Row]:
        if parent is None:
            return []
        raise LimboError(
            "a replay has only the rows its session read: the rest of these children was "
            "not recorded (open them in the recorded session to record them)"
        )

    async def install_triggers(self, on_wait: Callable[[str], None] | None = None) -> str:
        # Never offered: the replay's states carry no offer.
        raise LimboError("a replay reads a file and writes to no database")

    async def _play(self) -> None:
        from limbo_tui.pg.feed import FeedBatch, FeedState

        name = safe_text(str(self._recording.path))
        self._on_state(FeedState("LIVE", f"replay of {name} x{self._speed:g}"))
        t0 = time.monotonic()
        for entry in self._recording.entries:
            due = entry.t_ms / 1000 / self._speed
            wait = due - (time.monotonic() - t0)
            if wait > 0:
                await asyncio.sleep(wait)
            if isinstance(entry, RecordedBatch):
                self._on_batch(FeedBatch(list(entry.rows), entry.full))
        cut = " (its last line was cut: the session was killed)"
        end = cut if self._recording.truncated else ""
        self._on_state(FeedState("DOWN", f"replay finished: {name} ends here{end}"))


def timelines(recording: Recording) -> Timeline:
    timeline = Timeline()
    start = recording.started_at_ms
    for entry in recording.entries:
        if isinstance(entry, RecordedBatch):
            timeline.observe(entry.rows, start + entry.t_ms)
        elif isinstance(entry, RecordedWorkerEvent):
            timeline.worker_event(entry.text, start + entry.t_ms)
    return timeline


def event_line(event: TimelineEvent) -> str:
    seen = " (seen)" if event.observed else ""
    return f"  {time_of_day_text(event.at_ms)}  {event.kind:<12} {safe_text(event.text)}{seen}"


def print_timelines(recording: Recording, out: TextIO) -> None:
    timeline = timelines(recording)
    ids = sorted(timeline.workflow_ids(), key=lambda w: (timeline.events(w)[0].at_ms, w))
    out.write(
        f"recording of {safe_text(recording.database)}: {len(ids)} workflows, "
        f"{len(recording.entries)} entries\n"
    )
    for wid in ids:
        out.write(f"\nworkflow {safe_text(wid)}\n")
        for event in timeline.events(wid):
            out.write(event_line(event) + "\n")
    if recording.truncated:
        out.write("\n(the last line of the recording was cut: the session was killed)\n")


def replay_app(recording: Recording, speed: float) -> LimboApp:
    """The TUI over a recording: read-only, no worker, the recording's clock."""
    from dataclasses import replace

    from limbo_tui.settings import Settings
    from limbo_tui.ui.app import LimboApp

    return LimboApp(
        replace(Settings(), read_only=True),
        f"replay {safe_text(str(recording.path))} of {safe_text(recording.database)}",
        feed_factory=lambda on_batch, on_state: ReplayFeed(recording, speed, on_batch, on_state),
        worker=None,
        actions=None,
        clock=ReplayClock(recording.started_at_ms, recording.length_ms, speed),
        start_worker=False,
    )


def run_replay(path: str, *, speed: float, as_timeline: bool) -> int:
    if speed <= 0:
        raise LimboError(f"replay: --speed must be above 0, not {speed:g}", EXIT_USAGE)
    recording = read_recording(path)
    if as_timeline:
        print_timelines(recording, sys.stdout)
        return 0
    app = replay_app(recording, speed)
    app.run()
    return app.return_code or 0
