"""Shared pieces of the UI tests: an in-test feed (the same on_batch seam the real
LiveFeed uses), small worker / actions doubles, and the app's clock a minute into the seed
(whose rows are tests/seed.py's)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from limbo_tui.feeds import Feed
from limbo_tui.model import Row, Step, Workflow
from limbo_tui.pg.feed import FeedBatch, FeedState
from limbo_tui.settings import Settings, UISettings
from limbo_tui.ui.app import LimboApp
from limbo_tui.worker.protocol import ActionResult, EnqueueResult, ExperimentParams
from tests import seed

NOW_MS = seed.MINUTE_LATER_MS
PARENT = seed.PARENT
DB = "postgresql://limbo:***@localhost:5432/test"


def announced(settings: Settings) -> FeedState:
    """What a real LiveFeed announces once its snapshot is in, on a database without
    limbo-tui's triggers, for these settings (tests/test_ui_feed_double.py holds the real
    feed to it): a lab installs its triggers and is LIVE via notify; a monitor writes
    nothing, polls deltas and offers live push, unless it may not."""
    if settings.lab or (settings.feed.triggers == "auto" and not settings.read_only):
        return FeedState("LIVE", "via notify", source="via notify")
    low, high = settings.feed.poll_min_interval_s, settings.feed.poll_interval_s
    every = f"every {low:g}-{high:g} s" if low < high else f"every {high:g} s"
    if settings.read_only:
        reason, offer = "read-only and triggers not installed", False
    elif settings.feed.triggers == "never":
        reason, offer = "monitor, [feed] triggers = never", False
    else:
        reason, offer = "monitor, writes nothing (P: live push)", True
    return FeedState("POLLING", f"{every}: {reason}", source=every, offer=offer)


class InTestFeed:
    """The feed contract (feeds.Feed, held to it by mypy): calls on_batch / on_state
    exactly as LiveFeed does; tests push rows through it. It starts the way the real feed
    does for the app's settings (`announced`)."""

    def __init__(
        self,
        on_batch: Callable[[FeedBatch], None],
        on_state: Callable[[FeedState], None],
        settings: Settings | None = None,
    ):
        self.on_batch, self.on_state = on_batch, on_state
        self.settings = settings if settings is not None else Settings()
        self.started = self.stopped = self.paused = False
        # What load_page hands out, per queue (a test puts the pages it expects read).
        self.pages: dict[str, list[list[Row]]] = {}
        self.pages_asked: list[tuple[str, tuple[int, str]]] = []

    async def start(self) -> None:
        self.started = True
        self.on_state(announced(self.settings))

    async def stop(self) -> None:
        self.stopped = True

    async def pause(self) -> None:
        self.paused = True

    async def resume(self) -> None:
        self.paused = False

    async def load_page(self, queue: str, older_than: tuple[int, str]) -> list[Row]:
        self.pages_asked.append((queue, older_than))
        pages = self.pages.get(queue)
        return pages.pop(0) if pages else []

    # Every row a test pushes is all there is: no page of families.
    pages_families = False

    async def load_families(self, parent: str | None = None) -> list[Row]:
        return []

    async def install_triggers(self, on_wait: Callable[[str], None] | None = None) -> str:
        # As LiveFeed after the user's confirm: NOTIFY from now on, no offer left.
        self.on_state(FeedState("LIVE", "via notify", source="via notify"))
        return "live push on: triggers installed"

    def push(self, rows: Sequence[Row], full: bool = False) -> None:
        self.on_batch(FeedBatch(list(rows), full))


@dataclass
class WorkerDouble:
    """limbo_tui.worker's Worker contract, in memory: records calls, returns the real
    result types. (The real ThreadWorker needs Postgres; integration tests wire it.)"""

    state: str = "RUNNING"
    executor_id: str = "limbo-tui-worker"
    progress: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    # What earlier sessions kept (registered_history) and what this one kept.
    history: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    log_path: str | None = None
    crash_count: int = 0
    enqueue_result: EnqueueResult = field(
        default_factory=lambda: EnqueueResult(True, "enqueued", "new-wf")
    )
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def start(self) -> None:
        self.calls.append(("start", None))
        self.state = "RUNNING"

    def crash(self) -> None:
        self.calls.append(("crash", None))
        self.state = "DOWN"
        self.crash_count += 1
        self.detail = "crashed on purpose (x); r restarts it"

    def restart(self) -> None:
        self.calls.append(("restart", None))
        self.state = "RUNNING"

    def stop(self) -> None:
        self.calls.append(("stop", None))
        self.state = "NONE"

    def stop_gracefully(self) -> str:
        self.calls.append(("stop_gracefully", None))
        self.state = "DOWN"
        return "DBOS had no active workflow and stopped at once"

    def shutdown_wait(self) -> None:
        return None

    def enqueue_experiment(self, params: ExperimentParams) -> EnqueueResult:
        self.calls.append(("enqueue", params))
        return self.enqueue_result

    def step_progress(self) -> dict[str, Any]:
        return dict(self.progress)

    def max_recovery_attempts(self) -> dict[str, int]:
        return dict(self.limits)

    def registered_history(self) -> dict[str, Any]:
        return dict(self.history)

    def keep_registered(self, seen: Any) -> None:
        self.kept.update(seen)


@dataclass
class ActionsDouble:
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    # False: a DBOS release before 2.24 (cancel cannot take the children).
    cascade: bool = True

    def can_cancel_children(self) -> bool:
        return self.cascade

    def know_schema(self, schema: Any) -> None:
        self.calls.append(("know_schema", schema))

    def cancel(self, workflow_id: str, children: bool) -> ActionResult:
        self.calls.append(("cancel", workflow_id, children))
        return ActionResult(True, f"cancelled {workflow_id}", None)

    def resume(self, workflow_id: str) -> ActionResult:
        self.calls.append(("resume", workflow_id))
        return ActionResult(True, f"resumed {workflow_id}", None)

    def fork(
        self, workflow_id: str, start_step: int, application_version: str | None = None
    ) -> ActionResult:
        if application_version is None:
            self.calls.append(("fork", workflow_id, start_step))
        else:
            self.calls.append(("fork", workflow_id, start_step, application_version))
        return ActionResult(True, "forked", f"{workflow_id}-fork")

    def send(self, workflow_id: str, topic: str | None, message: str) -> ActionResult:
        self.calls.append(("send", workflow_id, topic, message))
        return ActionResult(True, f"sent {message!r}", workflow_id)


@contextlib.asynccontextmanager
async def seeded_app(
    size: tuple[int, int] = (80, 24),
) -> AsyncIterator[tuple[LimboApp, Pilot[None]]]:
    """An app with a worker and actions doubles on screen, the seed's rows in its tree."""
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause(0.3)
        yield app, pilot


async def workers_done(app: Any) -> None:
    """Wait for the app's thread workers. The worker poll is exclusive: on a loaded
    machine a new poll cancels the one still waiting, and wait_for_complete re-raises
    that cancellation; the poll that replaced it is what the test waits for."""
    for _ in range(20):
        try:
            await app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue
    with contextlib.suppress(WorkerCancelled):
        await app.workers.wait_for_complete()


def make_app(
    *,
    worker: Any = None,
    actions: Any = None,
    read_only: bool = False,
    feeds: list[InTestFeed] | None = None,
    settings: Settings | None = None,
) -> tuple[LimboApp, list[InTestFeed]]:
    """An app whose feed is an InTestFeed (returned in a list once the app starts it)."""
    feeds = [] if feeds is None else feeds
    # A very high refresh rate: every batch repaints at once, so tests need no sleeps.
    base = settings if settings is not None else Settings()
    settings = replace(base, ui=UISettings(refresh_hz=10_000), read_only=read_only)

    def factory(
        on_batch: Callable[[FeedBatch], None], on_state: Callable[[FeedState], None]
    ) -> Feed:
        feed = InTestFeed(on_batch, on_state, settings)
        feeds.append(feed)
        return feed

    app = LimboApp(
        settings,
        DB,
        feed_factory=factory,
        worker=worker,
        actions=actions,
        clock=lambda: NOW_MS,
        start_worker=False,
    )
    return app, feeds


class CallCount:
    """How many times one of the app's own methods has run since this was attached (it
    wraps the method on the instance; what the app set up before holds the original)."""

    def __init__(self, app: LimboApp, method: str) -> None:
        self.count = 0
        original = getattr(app, method)

        def counting() -> None:
            self.count += 1
            original()

        setattr(app, method, counting)


class RepaintCount(CallCount):
    """How many times the app has painted its frame since this was attached (the frame
    cap's tests count repaints, not milliseconds)."""

    def __init__(self, app: LimboApp) -> None:
        super().__init__(app, "repaint")


class AgeTicks(CallCount):
    """Counts the app's once-a-second ticks (ages, time-based diagnoses): idle tests wait
    for ticks, not for a stretch of time. Attach before run_test: the tick is set at mount."""

    def __init__(self, app: LimboApp) -> None:
        super().__init__(app, "_tick")

    async def wait(self, pilot: Pilot[None], ticks: int) -> None:
        target = self.count + ticks
        while self.count < target:
            await pilot.pause(0.05)


def family_rows(prefix: str, created_ms: int, status: str = "SUCCESS", kids: int = 2) -> list[Row]:
    rows: list[Row] = [
        Workflow(id=prefix, status=status, name="dbos_workflow", created_at_ms=created_ms)
    ]
    for k in range(1, kids + 1):
        cid = f"{prefix}-{k}"
        rows.append(
            Workflow(
                id=cid,
                status=status,
                name="dbos_sub_workflow",
                parent_id=prefix,
                created_at_ms=created_ms + k,
            )
        )
        rows.append(Step(prefix, k, "dbos_sub_workflow", child_workflow_id=cid))
    return rows


def screen_lines(app: Any) -> list[str]:
    """The text the terminal shows now, line by line (Textual's compositor is the one
    place that knows it; this is the tests' only use of it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
