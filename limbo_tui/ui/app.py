"""LimboApp: composes the screen and wires the feed, the graph and the worker to it.

Data path: feed batch -> WorkflowGraph.apply (pure) -> GraphChanged (coalesced) ->
at most refresh_hz repaints: re-diagnose what the changed ids can reach (LiveDiagnoses),
sync the tree for the changed ids, refresh the details and the limbo bar. Once a second
the unfinished workflows are re-diagnosed (time-based rules) and ages move on.
Blocking calls (worker, actions) run in thread workers and come back as messages;
feed / worker errors become notifications and a header line, never an exception that
ends the app.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input, Tree

from limbo_tui.backlog import totals_line
from limbo_tui.diagnose import Diagnosis
from limbo_tui.errors import one_line
from limbo_tui.limits import known_limits
from limbo_tui.live_diagnoses import LiveDiagnoses
from limbo_tui.model import WorkflowGraph
from limbo_tui.modes import mode_label
from limbo_tui.queues import QueueView, queue_views
from limbo_tui.search import QUEUE_FILTER, SearchIndex
from limbo_tui.settings import Settings
from limbo_tui.terminal_text import is_terminal_safe, safe_text
from limbo_tui.timeline import Timeline
from limbo_tui.ui import status_style
from limbo_tui.ui.bindings import (
    KEY_BY_ACTION,
    KEYS,
    MUTATING_ACTIONS,
    app_bindings,
    display_key,
)
from limbo_tui.ui.collaborators import FeedFactory, FeedLike
from limbo_tui.ui.details_pane import DetailsPane, StepsTable
from limbo_tui.ui.filter_input import FilterInput
from limbo_tui.ui.graceful_quit import GracefulQuit
from limbo_tui.ui.key_footer import KeyFooter
from limbo_tui.ui.limbo_bar import LimboBar
from limbo_tui.ui.live_inputs import LiveInputs
from limbo_tui.ui.live_push import LivePush
from limbo_tui.ui.messages import GraphChanged
from limbo_tui.ui.screens.dialog import Dialog
from limbo_tui.ui.screens.help import HelpScreen
from limbo_tui.ui.screens.queue_view import QueueScreen
from limbo_tui.ui.screens.worker_log import WorkerLogScreen
from limbo_tui.ui.split_view import SplitView
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.suspend import suspend_to_shell
from limbo_tui.ui.teardown import quiet_in_teardown
from limbo_tui.ui.workflow_actions import WorkflowActions
from limbo_tui.ui.workflow_lines import TreeFacts, visible_ids
from limbo_tui.ui.workflow_pane import WorkflowPane
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.view_sort import Sort
from limbo_tui.worker import protocol as worker_protocol

WORKER_POLL_S = 0.5
AGE_TICK_S = 1.0


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class LimboApp(LiveInputs, LivePush, WorkflowActions, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "limbo-tui"
    BINDINGS: ClassVar[list[BindingType]] = [*app_bindings()]

    def __init__(
        self,
        settings: Settings,
        database: str,
        *,
        feed_factory: FeedFactory | None = None,
        worker: worker_protocol.Worker | None = None,
        actions: worker_protocol.WorkflowActions | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        start_worker: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.worker = worker
        self.actions = actions
        self.clock = clock
        self._feed_factory = feed_factory
        self._feed: FeedLike | None = None
        self._start_worker = start_worker
        self.graph = WorkflowGraph().with_limits(known_limits(settings))
        self._diagnoses = LiveDiagnoses()
        self._progress: dict[str, Any] = {}
        self._worker_limits_loaded = False
        # Changes applied to the graph but not yet on screen.
        self._pending: set[str] = set()
        self._pending_everything = True
        # The filter or limbo-only changed: the tree is rebuilt, diagnoses stay as they are.
        self._view_dirty = False
        self._search = SearchIndex(status_style.word)
        self._last_repaint = 0.0
        self._repaint_timer: Any = None
        # Pause: batches held back (not applied) and the ids they touch.
        self.paused = False
        self._held: list[Any] = []
        self._held_ids: set[str] = set()
        self.filter_text = ""
        self._queues_shown_at = 0.0
        self.limbo_only = False
        # The order of the families (o / O); the header line shows it.
        self.sort = Sort()
        # The workflow the details pane shows; the selection itself is the tree's
        # highlighted row (selected_id), defined there once.
        self._details_for: str | None = None
        # Every workflow's story for this session; `t` shows the selected one's.
        self.timeline = Timeline()
        self.show_timeline = False
        self._timeline_worker_state = ""
        self._timeline_crashes = 0
        self._timeline_stops = 0
        self._timeline_stop_said = ""
        self._graceful_quit = GracefulQuit(self, worker)
        # A workflow to select as soon as the feed brings it (after enqueue / fork).
        self.follow_id: str | None = None

    # -- composition -------------------------------------------------------------------
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        # Notifications carry database text and driver errors ("[", "%(x)s"): parsed as
        # markup they would raise and end the app, so ours are always plain text, and
        # sanitised. Only the notices Textual writes itself (the screenshot's, the ctrl+c
        # hint) keep their markup: they come from textual.app, with text of its own.
        markup = sys._getframe(1).f_globals.get("__name__") == "textual.app"
        super().notify(
            message if markup else one_line(message),
            title=safe_text(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    async def on_event(self, event: events.Event) -> None:
        # A dialog only hears keys typed once it was on screen (screens/dialog.py).
        if isinstance(event, events.Key):
            stack = self.screen_stack
            if stack and isinstance(stack[-1], Dialog) and stack[-1].typed_ahead(event):
                return
        await super().on_event(event)

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield SplitView(
            WorkflowPane(self.clock, id="tree-pane"), DetailsPane(id="details"), id="main"
        )
        yield FilterInput(id="filter")
        yield LimboBar(id="limbo-bar")
        yield KeyFooter(id="footer")

    def on_mount(self) -> None:
        header = self.query_one(StatusHeader)
        header.database = self.database
        header.mode = mode_label(self.settings)
        header.worker_state = "none" if self.worker is None else "STARTING"
        self.query_one(FilterInput).display = False
        if self.worker is not None and not self.settings.read_only:
            self.query_one(DetailsPane).empty_hint = "Press e to enqueue the experiment."
        self.query_one(DetailsPane).read_only = self.settings.read_only
        self.query_one(WorkflowTree).focus()
        self.set_interval(AGE_TICK_S, self._tick)
        if self._feed_factory is not None:
            self.query_one(DetailsPane).loading = True
            self._start_feed()
        else:
            header.feed_state = "DOWN"
            header.feed_detail = "no feed"
        if self.worker is not None:
            if self._start_worker:
                self.run_blocking("start the worker", self.worker.start, quiet=True)
            self._poll_worker()  # the header shows the worker's state at once
            self.set_interval(WORKER_POLL_S, self._poll_worker)
        self._repaint()

    async def action_quit(self) -> None:
        # A running worker is stopped as Ctrl+C stops a DBOS app, on screen (graceful_quit).
        self._graceful_quit.press()

    async def on_unmount(self) -> None:
        if self._feed is not None:
            # Shutting down: a feed that fails to stop has nothing useful left to say.
            with contextlib.suppress(Exception):
                await self._feed.stop()

    # -- repaint, at most refresh_hz ---------------------------------------------------
    def on_graph_changed(self, message: GraphChanged) -> None:
        self._schedule_repaint()

    def _schedule_repaint(self) -> None:
        interval = 1.0 / max(self.settings.ui.refresh_hz, 0.1)
        now = time.monotonic()
        due = self._last_repaint + interval
        if now >= due:
            self._repaint()
        elif self._repaint_timer is None:
            self._repaint_timer = self.set_timer(due - now, self._repaint)

    @property
    def diagnoses(self) -> list[Diagnosis]:
        """Every current diagnosis, in diagnose()'s order."""
        return self._diagnoses.ordered(self.graph)

    @quiet_in_teardown
    def _repaint(self) -> None:
        """Diagnose and bring the widgets up to date with the pending changes."""
        if self._repaint_timer is not None:
            self._repaint_timer.stop()
            self._repaint_timer = None
        self._last_repaint = time.monotonic()
        changed, everything = self._pending, self._pending_everything
        view, self._view_dirty = self._view_dirty, False
        self._pending, self._pending_everything = set(), False
        now = self.clock()
        if everything:
            self._search.rebuild(self.graph)
        else:
            self._search.update(self.graph, changed)
        changed |= self._rediagnose(now, None if everything else changed)
        facts = self._compute_facts()
        tree = self.query_one(WorkflowTree)
        tree.now_ms = now
        try:
            tree.sync(self.graph, facts, changed, everything or view)
        except Exception as exc:
            self._report_problem(f"tree update failed: {one_line(exc)}")
        if tree.cursor_line < 0 and tree.last_line >= 0:
            tree.cursor_line = 0
        if self.follow_id is not None and tree.select_workflow(self.follow_id):
            self.follow_id = None
        if self.graph.totals is not None:
            self.query_one(StatusHeader).totals = totals_line(self.graph)
        bar = self.query_one(LimboBar)
        bar.summary = self._diagnoses.summary.text
        bar.in_limbo = len(facts.limbo_ids)
        selected = self.selected_id
        if everything or view or selected in changed or selected != self._details_for:
            self._show_details()
        self._refresh_queue_view(now)

    def _rediagnose(self, now: int, changed: set[str] | None) -> set[str]:
        """Re-diagnose what `changed` can reach (None: everything); returns the ids whose
        diagnoses changed."""
        diagnoses, limbo, down = self._diagnoses, self.settings.limbo, self._down_executors()
        try:
            if changed is None:
                return diagnoses.redo_all(self.graph, now, limbo, down)
            return diagnoses.after_change(self.graph, changed, now, limbo, down)
        except Exception as exc:
            self._report_problem(f"diagnose failed: {one_line(exc)}")
            return set()

    def _rediagnose_ticking(self, now: int) -> set[str]:
        """The clock moved on: re-diagnose what time can change (the unfinished)."""
        try:
            return self._diagnoses.after_tick(
                self.graph, now, self.settings.limbo, self._down_executors()
            )
        except Exception as exc:
            self._report_problem(f"diagnose failed: {one_line(exc)}")
            return set()

    def _down_executors(self) -> frozenset[str]:
        header = self.query_one(StatusHeader)
        if self.worker is not None and header.worker_state == "DOWN":
            return frozenset({header.executor_id})
        return frozenset()

    def _compute_facts(self) -> TreeFacts:
        limbo, warning = self._diagnoses.limbo_ids, self._diagnoses.warning_ids
        shown = None
        if self.filter_text or self.limbo_only:
            matches = self._search.matches(self.filter_text)
            if self.limbo_only:
                matches &= limbo
            shown = visible_ids(self.graph, matches)
        return TreeFacts(limbo, warning, dict(self._progress), shown, self.sort)

    @property
    def selected_id(self) -> str | None:
        """The selected workflow: the highlighted row of the tree, so always a row the
        user sees, or None (an empty or filtered-out tree, a backlog summary line).
        Every action, `y` and the details pane read it from here."""
        try:
            return self.query_one(WorkflowTree).selected_id
        except NoMatches:
            return None

    @quiet_in_teardown
    def _show_details(self) -> None:
        wid = self.selected_id
        self._details_for = wid
        pane = self.query_one(DetailsPane)
        pane.fleet = self._diagnoses.fleet
        pane.show(
            self.graph,
            wid,
            self._diagnoses.of(wid) if wid else [],
            self._progress.get(wid) if wid else None,
            self.clock(),
            timeline=self.timeline.events(wid) if wid and self.show_timeline else None,
        )

    @quiet_in_teardown
    def _tick(self) -> None:
        """Once a second: ages move on, time-based diagnoses (stalled) may appear."""
        self._pending |= self._rediagnose_ticking(self.clock())
        self.query_one(WorkflowTree).tick()
        self._refresh_queue_view(self.clock())  # its waits grow older
        if self._pending:
            self._schedule_repaint()

    def _view_changed(self) -> None:
        self._view_dirty = True
        bar = self.query_one(LimboBar)
        bar.limbo_only, bar.filter_text = self.limbo_only, self.filter_text
        self._schedule_repaint()

    # -- selection ---------------------------------------------------------------------
    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        if self.selected_id != self._details_for:
            self._show_details()

    def on_steps_table_jump_to(self, message: StepsTable.JumpTo) -> None:
        self.jump_to(message.workflow_id)

    def jump_to(self, workflow_id: str) -> None:
        tree = self.query_one(WorkflowTree)
        if not tree.select_workflow(workflow_id):
            if self.filter_text or self.limbo_only:
                self.filter_text, self.limbo_only = "", False
                self.query_one(FilterInput).value = ""
                self.follow_id = workflow_id
                self._view_changed()
                return
            self.notify(f"{workflow_id} is not loaded", severity="warning")
            return
        tree.focus()

    # -- view keys ---------------------------------------------------------------------
    def _refresh_queue_view(self, now: int, *, every_s: float = 0.5) -> None:
        """The open queue view follows the feed, at most twice a second (a backlog's
        queue costs its loaded size to count)."""
        if not isinstance(self.screen, QueueScreen):
            return
        if time.monotonic() - self._queues_shown_at >= every_s:
            self._queues_shown_at = time.monotonic()
            self.screen.refresh_views(self._queue_views(now), now)

    def _queue_views(self, now: int) -> list[QueueView]:
        return queue_views(self.graph, self._diagnoses.fleet_index, self._diagnoses.fleet, now)

    def action_queues(self) -> None:
        def chosen(queue: str | None) -> None:
            if queue is not None:
                # Exactly that queue's workflows (and their families) in the tree.
                self.filter_text = f"{QUEUE_FILTER}{queue}"
                field = self.query_one(FilterInput)
                field.value = self.filter_text
                field.display = True
                self._view_changed()

        now = self.clock()
        self.push_screen(QueueScreen(self._queue_views(now), now), chosen)

    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        # `/` is a priority binding, so this runs before the app hands the next keys on;
        # focus moves at once (Widget.focus() would wait a turn of the loop), so keys typed
        # right after `/` reach the filter, not the tree (where `e` enqueues).
        field.screen.set_focus(field)

    def on_input_changed(self, event: FilterInput.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value
            self._view_changed()

    def on_filter_input_closed(self, message: FilterInput.Closed) -> None:
        field = self.query_one(FilterInput)
        field.display = bool(field.value)
        self.query_one(WorkflowTree).focus()

    def action_back_out(self) -> None:
        """Escape on the main screen: undo the last narrowing of the view, one at a time."""
        field = self.query_one(FilterInput)
        if self.query_one(SplitView).zoomed:
            self.action_toggle_zoom()
        elif field.value:
            field.value = ""
            field.display = False
            self.query_one(WorkflowTree).focus()
        elif self.limbo_only:
            self.action_toggle_limbo_only()

    def action_cycle_sort(self) -> None:
        self._sort_by(self.sort.next())

    def action_reverse_sort(self) -> None:
        self._sort_by(self.sort.reversed())

    def _sort_by(self, sort: Sort) -> None:
        self.sort = sort
        self.notify(sort.describe(), timeout=2)
        self._view_changed()

    def action_narrow_tree(self) -> None:
        self.query_one(SplitView).narrow_tree()

    def action_widen_tree(self) -> None:
        self.query_one(SplitView).widen_tree()

    def action_toggle_zoom(self) -> None:
        split = self.query_one(SplitView)
        split.toggle_zoom()
        # The hidden tree cannot keep the focus: the details take it, and give it back.
        if split.zoomed:
            self.query_one("#details-scroll").focus()
        else:
            self.query_one(WorkflowTree).focus()

    def action_toggle_limbo_only(self) -> None:
        self.limbo_only = not self.limbo_only
        self._view_changed()

    def action_copy_id(self) -> None:
        if self.selected_id is None:
            self.notify("nothing selected: move to a workflow to copy its id", severity="warning")
            return
        if not is_terminal_safe(self.selected_id):
            # A pasted id must not carry a newline or an escape into a shell or a terminal.
            self.notify(
                "not copied: this id holds control characters (shown as \ufffd); "
                "`limbo-tui snapshot --json` prints it escaped",
                severity="warning",
            )
            return
        self.copy_to_clipboard(self.selected_id)
        self.notify(f"copied {self.selected_id}")

    async def action_suspend(self) -> None:
        # A stopped limbo-tui must hold nothing that grows on the server: the feed lets
        # go of its NOTIFY subscription first (the queue's tail) and takes it back on fg.
        feed: Any = self._feed
        if feed is not None and hasattr(feed, "pause"):
            await feed.pause()
        refused = suspend_to_shell(self)
        if feed is not None and hasattr(feed, "resume"):
            await feed.resume()
        if refused is not None:
            self.notify(refused, severity="warning")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.settings.read_only))

    def action_toggle_timeline(self) -> None:
        self.show_timeline = not self.show_timeline
        self._show_details()

    def action_worker_log(self) -> None:
        path = self.worker.log_path if self.worker is not None else None
        if path is None:
            self.notify("no worker log: this limbo-tui runs no worker (--worker none)")
            return
        self.push_screen(WorkerLogScreen(Path(path)))

    # -- read-only, footer and palette -------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":
            # A priority key: a `/` typed into an input (a form's dedup id "6/5") is text.
            return not isinstance(self.focused, Input)
        if action == "live_push":
            return self.live_push_offered
        if action in MUTATING_ACTIONS:
            return not self.settings.read_only
        if action == "refuse_read_only":
            return self.settings.read_only
        return True

    def action_refuse_read_only(self, action: str) -> None:
        key = KEY_BY_ACTION.get(action)
        what = key.help if key else action
        self.notify(f"read-only: '{what}' is off (started with --read-only)", severity="warning")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for k in KEYS:
            if not k.palette:
                continue
            action = k.action
            # Read-only: no entry offers a write; live push only while it is on offer.
            if k.mutating and self.settings.read_only:
                continue
            if action == "live_push" and not self.live_push_offered:
                continue
            yield SystemCommand(
                k.help[0].upper() + k.help[1:],
                f"key: {display_key(k.key)}",
                partial(self._palette, action),
            )

    def _palette(self, action: str) -> None:
        self.call_later(self.run_action, action)
