"""limbo-tui under test, in its own process: LimboApp (headless Textual) on a real LiveFeed.

BenchApp is LimboApp with three timestamps added and nothing else changed:
- graph:  when `_apply_batch` has applied a feed batch to the WorkflowGraph;
- repaint: when `repaint` (throttled to refresh_hz) has synced the widgets;
- screen: when the next compositor frame was rendered and encoded to terminal bytes.
Textual's headless driver skips the final encoding; BenchApp does it (render_segments)
so that a frame costs what it costs on a terminal, then throws the bytes away.

Changes are recognised by their updated_at: the writer (bench.writer) sets it to
`base + seq`, so a row with updated_at >= base carries the writer's sequence number.
Mode `feed` runs LiveFeed + WorkflowGraph.apply + diagnose without Textual, to tell the
feed's own capacity from the UI's.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.common import rss_mb
from limbo_tui.diagnose import diagnose
from limbo_tui.model import Workflow, WorkflowGraph
from limbo_tui.pg.feed import FeedBatch, FeedState, LiveFeed
from limbo_tui.settings import DatabaseSettings, Settings, WorkerSettings

SAMPLE_EVERY_S = 0.25


def bench_settings(url: str, *, read_only: bool = False) -> Settings:
    return Settings(
        database=DatabaseSettings(url=url, url_source="bench"),
        worker=WorkerSettings(mode="none"),
        read_only=read_only,
    )


class Recorder:
    """seq -> first time (monotonic ns) it reached the graph / the screen."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.graph: dict[int, int] = {}
        self.screen: dict[int, int] = {}
        self._await_repaint: list[int] = []
        self._await_frame: list[int] = []
        self.samples: list[tuple[int, float]] = []
        self.batches = 0
        self.rows = 0
        self.full_at: int | None = None
        self.full_rows = 0
        self.first_paint_at: int | None = None
        self.repaints = 0
        self.frames = 0
        self.states: list[str] = []

    def applied(self, batch: Any) -> None:
        t = time.monotonic_ns()
        self.batches += 1
        self.rows += len(batch.rows)
        if batch.full:
            # A snapshot is not a change notification (and after a rerun it holds the
            # previous run's stamps): only incremental batches are timed.
            self.full_at = t
            self.full_rows = len(batch.rows)
            return
        base = self.base
        for row in batch.rows:
            if isinstance(row, Workflow) and row.updated_at_ms is not None:
                seq = row.updated_at_ms - base
                if seq >= 0 and seq not in self.graph:
                    self.graph[seq] = t
                    self._await_repaint.append(seq)

    def repainted(self) -> None:
        self.repaints += 1
        self._await_frame.extend(self._await_repaint)
        self._await_repaint.clear()

    def frame(self) -> None:
        t = time.monotonic_ns()
        self.frames += 1
        for seq in self._await_frame:
            self.screen.setdefault(seq, t)
        self._await_frame.clear()

    def sample_cpu(self) -> None:
        self.samples.append((time.monotonic_ns(), time.process_time()))

    def dump(self) -> dict[str, Any]:
        return {
            "graph": self.graph,
            "screen": self.screen,
            "cpu_samples": self.samples,
            "batches": self.batches,
            "rows": self.rows,
            "repaints": self.repaints,
            "frames": self.frames,
            "states": self.states,
        }


def make_bench_app(settings: Settings, url: str, rec: Recorder) -> Any:
    """A LimboApp subclass that reports to `rec` (imported late: Textual is heavy)."""
    from textual._compositor import CompositorUpdate

    import limbo_tui.ui.app as app_module
    from limbo_tui.ui.app import LimboApp

    class BenchApp(LimboApp):
        # Textual resolves a relative CSS_PATH against the subclass's own module.
        CSS_PATH = str(Path(app_module.__file__).with_name(LimboApp.CSS_PATH))  # type: ignore[arg-type]

        def on_feed_batch_arrived(self, message: Any) -> None:
            # Textual calls every class's handler along the MRO, this one first: the
            # app's own applies the batch right after (no super() call, or it would run
            # twice).
            rec.applied(message.batch)

        def repaint(self) -> None:
            super().repaint()
            rec.repainted()

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is None or self._batch_count:
                return
            if isinstance(renderable, CompositorUpdate) and self.is_headless:
                renderable.render_segments(self.console)
            if rec.full_at is not None and rec.first_paint_at is None and rec.repaints:
                rec.first_paint_at = time.monotonic_ns()
            rec.frame()

    def factory(on_batch: Any, on_state: Any) -> LiveFeed:
        def state(s: FeedState) -> None:
            rec.states.append(s.state)
            on_state(s)

        return LiveFeed(url, settings, on_batch, state)

    return BenchApp(settings, "bench", feed_factory=factory, worker=None, actions=None)


async def run_app(
    url: str,
    base: int,
    stop_file: Path,
    ready_file: Path,
    size: tuple[int, int],
    read_only: bool,
    max_s: float,
) -> dict[str, Any]:
    rec = Recorder(base)
    settings = bench_settings(url, read_only=read_only)
    t0 = time.monotonic_ns()
    app = make_bench_app(settings, url, rec)
    nodes = workflows = None
    ready_rss = None
    stopping = False
    shutdown_error = None
    try:
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + 60
            while rec.first_paint_at is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            await pilot.pause()
            ready_rss = rss_mb()
            ready_file.write_text(json.dumps({"pid": os.getpid()}))
            end = time.monotonic() + max_s
            while not stop_file.exists() and time.monotonic() < end:
                rec.sample_cpu()
                await asyncio.sleep(SAMPLE_EVERY_S)
            rec.sample_cpu()
            nodes = len(app.query_one("#tree")._node_by_id)  # type: ignore[attr-defined]
            workflows = len(app.graph.workflows)
            stopping = True
            # Stop the feed while the screen still exists, as quitting the app does.
            if app.feed is not None:
                await app.feed.stop()
            await pilot.pause()
    except Exception as exc:
        # An error while the app shuts down does not spoil the measurement, which is
        # complete by then; it is recorded as shutdown_error (there should be none).
        if not stopping:
            raise
        shutdown_error = f"{type(exc).__name__}: {exc}"
    out = rec.dump()
    out.update(
        start_ns=t0,
        first_paint_s=(rec.first_paint_at - t0) / 1e9 if rec.first_paint_at else None,
        tree_nodes=nodes,
        graph_workflows=workflows,
        ready_rss_mb=ready_rss,
        snapshot_rows=rec.full_rows,
        shutdown_error=shutdown_error,
        snapshot_applied_s=(rec.full_at - t0) / 1e9 if rec.full_at else None,
    )
    return out


async def run_feed(
    url: str, base: int, stop_file: Path, ready_file: Path, read_only: bool, max_s: float
) -> dict[str, Any]:
    """LiveFeed -> WorkflowGraph.apply -> diagnose (as `limbo-tui watch` does, no output)."""
    rec = Recorder(base)
    settings = bench_settings(url, read_only=read_only)
    graph = WorkflowGraph()
    last_diag = 0.0

    def on_batch(batch: FeedBatch) -> None:
        nonlocal last_diag
        if batch.full:
            graph.replace_all(batch.rows)
        else:
            graph.apply(batch.rows)
        rec.applied(batch)
        now = time.monotonic()
        # The UI diagnoses at most refresh_hz; do the same here.
        if now - last_diag >= 0.1:
            last_diag = now
            diagnose(graph, int(time.time() * 1000), settings.limbo)

    def on_state(s: FeedState) -> None:
        rec.states.append(s.state)

    t0 = time.monotonic_ns()
    feed = LiveFeed(url, settings, on_batch, on_state)
    await feed.start()
    try:
        ready_file.write_text("{}")
        end = time.monotonic() + max_s
        while not stop_file.exists() and time.monotonic() < end:
            rec.sample_cpu()
            await asyncio.sleep(SAMPLE_EVERY_S)
        rec.sample_cpu()
    finally:
        await feed.stop()
    out = rec.dump()
    out.update(
        start_ns=t0, first_paint_s=None, tree_nodes=None, graph_workflows=len(graph.workflows)
    )
    return out
