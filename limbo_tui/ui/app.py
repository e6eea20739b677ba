"""LimboApp: the screen, wired to MonitorState.

The app holds no fact of its own. Every input becomes a message with its payload
(FeedBatchArrived(batch), FeedStateChanged(facts), WorkerPolled(status),
ActionFinished(outcome)) that goes into MonitorState; a repaint reads MonitorState.frame()
and paints it: the tree for the ids that changed, the details of the selected workflow,
the header and the limbo bar. A change is painted at once unless another change was
painted less than 1/refresh_hz ago (or three times that frame's CPU, when it cost more):
only a burst waits for the next frame slot. Once a second the
state ticks (time-based diagnoses) and ages move on. Keys that act are ActionKeys'
(workflow_actions.py), live push is LivePush's, the feed and worker polls LiveInputs'.
Blocking calls run in thread workers and come back as messages; feed / worker errors
become notifications and a header line, never an exception that ends the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Tree

from limbo_tui.diagnose import Diagnosis
from limbo_tui.errors import one_line
from limbo_tui.feeds import Feed, FeedFactory
from limbo_tui.gc_pauses import freeze_long_lived
from limbo_tui.model import WorkflowGraph
from limbo_tui.modes import mode_label
from limbo_tui.monitor_state import FeedFacts, Frame, MonitorState, WorkerFacts
from limbo_tui.search import QUEUE_FILTER
from limbo_tui.settings import Settings
from limbo_tui.terminal_text import is_terminal_safe, safe_text
from limbo_tui.timeline import Timeline
from limbo_tui.ui.bindings import (
    KEY_BY_ACTION,
    KEYS,
    MUTATING_ACTIONS,
    app_bindings,
    display_key,
)
from limbo_tui.ui.details_pane import DetailsPane, StepsTable
from limbo_tui.ui.filter_input import FilterInput
from limbo_tui.ui.graceful_quit import GracefulQuit
from limbo_tui.ui.key_footer import KeyFooter
from limbo_tui.ui.limbo_bar import LimboBar
from limbo_tui.ui.live_inputs import LiveInputs
from limbo_tui.ui.live_push import LivePush
from limbo_tui.ui.messages import (
    ActionFinished,
    BacklogPageLoaded,
    BacklogPageWanted,
    FamiliesPageWanted,
    FeedBatchArrived,
    FeedStateChanged,
    WorkerPolled,
    WorkerPollFailed,
)

# The screens a key opens (help, queues, worker log; the dialogs in workflow_actions)
# load when first opened: none is on the way to the first frame.
from limbo_tui.ui.screens.dialog import Dialog
from limbo_tui.ui.split_view import SplitView
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.suspend import suspend_to_shell
from limbo_tui.ui.teardown import quiet_in_teardown
from limbo_tui.ui.workflow_actions import ActionKeys
from limbo_tui.ui.workflow_pane import WorkflowPane
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.view_sort import Sort
from limbo_tui.worker import protocol as worker_protocol

WORKER_POLL_S = 0.5
AGE_TICK_S = 1.0
# Frames of changes begin at least this many times the last one's CPU apart: however
# costly a frame (a tree of 20k roots), painting a burst takes at most about a third of
# the loop, and keys and batches are still handled between frames. Only a burst's frames
# are measured: a rebuild's (a snapshot, a view change) says nothing of the next.
FRAME_SPACING = 3.0
# How long `/` holds the screen's frames back for the text typed with it (a paste, a fast
# typist, a terminal's burst), at most: the filtered tree is the first frame painted.
FILTER_HOLD_S = 0.1


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def loop_cpu_s() -> float:
    """The CPU the loop's thread has used (a frame's cost, not the machine's load)."""
    return time.thread_time()


class LimboApp(App[None]):
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
        database_check: Callable[[], str] | None = None,
    ) -> None:
        """database_check: the database's check, still under way when the screen opens
        (blocking; the header's database line, or the error that ends the app). The feed
        and the worker start once it passed."""
        super().__init__()
        self.database = database
        self._database_check = database_check
        # The check's error, when it failed after the screen opened (launch raises it).
        self.database_refused: BaseException | None = None
        self.worker = worker
        self.clock = clock
        self.start_worker = start_worker
        self.state = MonitorState(
            settings,
            clock=clock,
            worker=WorkerFacts("STARTING") if worker is not None else None,
            feed=FeedFacts() if feed_factory is not None else FeedFacts("DOWN", "no feed"),
        )
        self._has_feed = feed_factory is not None
        self.inputs = LiveInputs(self, self.state, feed_factory, worker)
        self.keys = ActionKeys(self, self.state, worker, actions, self.jump_to)
        self.live_push = LivePush(self, self.state, self.inputs)
        self._graceful_quit = GracefulQuit(self, worker)
        # When the last frame of changes began (the frame cap counts only those), and the
        # CPU it took to reach the screen (its repaint and Textual's render of it).
        self._last_change_painted = 0.0
        self._last_frame_cpu_s = 0.0
        self._painted_rebuild = False
        self._repaint_timer: Timer | None = None
        self._repaint_asked = False
        # The worker's polls, until it says it has nothing more to tell (polls_worker).
        self._worker_polls: Timer | None = None
        self._long_lived_frozen = False
        # The frames held back since `/` (App.batch_update), until the filter's frame.
        self._filter_hold: contextlib.ExitStack | None = None
        self._queues_shown_at = 0.0
        # The workflow the details pane shows (painting only: the selection is the state's).
        self._details_for: str | None = None

    # -- the state, as tests and tools read it -------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.state.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self.state.settings = settings

    @property
    def graph(self) -> WorkflowGraph:
        return self.state.graph

    @property
    def diagnoses(self) -> list[Diagnosis]:
        """Every current diagnosis, in diagnose()'s order."""
        return self.state.diagnoses

    @property
    def selected_id(self) -> str | None:
        """The selected workflow (MonitorState's): always a row the user sees, or None.
        Every action, `y` and the details pane read it from there."""
        return self.state.selected

    @property
    def filter_text(self) -> str:
        return self.state.view.filter_text

    @property
    def limbo_only(self) -> bool:
        return self.state.view.limbo_only

    @property
    def paused(self) -> bool:
        return self.state.paused

    @property
    def timeline(self) -> Timeline:
        return self.state.timeline

    @property
    def sort(self) -> Sort:
        """The families' order (o / O); the tree's header line shows it."""
        return self.state.view.sort

    @property
    def feed(self) -> Feed | None:
        return self.inputs.feed

    @property
    def live_push_offered(self) -> bool:
        return self.state.live_push_offered

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
        yield LimboBar(id="limbo-bar")
        yield KeyFooter(id="footer")

    def on_mount(self) -> None:
        header = self.query_one(StatusHeader)
        header.database = self.database
        header.mode = mode_label(self.settings)
        self.query_one(FilterInput).display = False
        pane = self.query_one(DetailsPane)
        if self.worker is not None and not self.settings.read_only:
            pane.empty_hint = "Press e to enqueue the experiment."
        pane.read_only = self.settings.read_only
        self.query_one(WorkflowTree).focus()
        self.set_interval(AGE_TICK_S, self._tick)
        if self._database_check is None:
            self._start_inputs()
        else:
            # Nothing reads the database before the check passed. The check waits on a
            # thread of the app's own, not a Textual worker (the loop's executor, which
            # the exit joins): a quit does not wait for a server that does not answer.
            threading.Thread(
                target=self._check_database,
                args=(self._database_check,),
                name="limbo-tui-database-check",
                daemon=True,
            ).start()
        self.repaint()

    def on_ready(self) -> None:
        # The first frame is on screen: compile what the next start would (byte_code.py).
        from limbo_tui.byte_code import compile_in_background

        compile_in_background()

    def _start_inputs(self) -> None:
        if self._has_feed:
            self.inputs.start_feed()
        if self.worker is not None:
            if self.start_worker:
                self.keys.run_blocking("start the worker", self.worker.start, quiet=True)
            self.poll_worker()  # the header shows the worker's state at once
            self._worker_polls = self.set_interval(WORKER_POLL_S, self.poll_worker)

    def _check_database(self, check: Callable[[], str]) -> None:
        try:
            line = check()
        except BaseException as exc:
            outcome: Callable[[], None] = partial(self._database_failed, exc)
        else:
            outcome = partial(self._database_passed, line)
        with contextlib.suppress(RuntimeError):  # the app has ended meanwhile
            self.call_from_thread(outcome)

    def _database_passed(self, line: str) -> None:
        self.database = line
        self.query_one(StatusHeader).database = line
        self._start_inputs()

    def _database_failed(self, exc: BaseException) -> None:
        self.database_refused = exc
        self.exit(return_code=1)

    async def action_quit(self) -> None:
        # A running worker is stopped as Ctrl+C stops a DBOS app, on screen (graceful_quit).
        self._graceful_quit.press()

    async def on_unmount(self) -> None:
        # What the worker was last seen dispatching is kept for the next session.
        self.inputs.keep(self.state.take_learned())
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.inputs.keep_now)
        # Shutting down: a feed that fails to stop has nothing useful left to say.
        try:
            await self.inputs.stop_feed()
        except Exception:
            return

    def poll_worker(self) -> None:
        self.inputs.poll_worker()

    # -- inputs: into the state, then a repaint ------------------------------------------
    # Batches repaint at most refresh_hz; what the header says of the feed, the worker
    # and an action is painted at once (they come a few times a second at most).
    def on_feed_batch_arrived(self, message: FeedBatchArrived) -> None:
        feed = self.inputs.feed
        if message.batch.full and feed is not None:
            # The line that reads older live families only where enter can read them.
            self.query_one(WorkflowTree).families_paged = feed.pages_families
        self.state.apply(message.batch)
        self._schedule_repaint()

    def on_backlog_page_wanted(self, message: BacklogPageWanted) -> None:
        self.inputs.load_page(message.queue, message.older_than)

    def on_families_page_wanted(self, message: FamiliesPageWanted) -> None:
        self.inputs.load_families(message.parent)

    def on_backlog_page_loaded(self, message: BacklogPageLoaded) -> None:
        if message.problem:
            self.state.report(message.problem)
        self.state.apply_page(message.rows)
        self._schedule_repaint()

    @quiet_in_teardown
    def on_feed_state_changed(self, message: FeedStateChanged) -> None:
        offered = self.state.live_push_offered
        before = self.state.feed_changed(message.facts).state
        if self.state.live_push_offered != offered:
            self.refresh_bindings()
        now = message.facts.state
        if now != before:
            if now in ("DOWN", "RECONNECTING"):
                self.notify(f"feed {now}: {message.facts.detail}", severity="warning")
            elif before in ("DOWN", "RECONNECTING"):
                self.notify(f"feed {now} again")
        self.repaint()

    @quiet_in_teardown
    def on_worker_polled(self, message: WorkerPolled) -> None:
        status = message.status
        if status.state == "ELSEWHERE" and self.state.worker.state != "ELSEWHERE":
            # The header's second line may be cut at 80 columns: say it once in full.
            self.notify(status.detail, severity="warning", timeout=10)
        shown = self.state.worker
        self.state.worker_polled(status)
        self.inputs.keep(self.state.take_learned())
        if not self.state.polls_worker and self._worker_polls is not None:
            # No worker: no poll twice a second, and no repaint for it (an idle cost).
            self._worker_polls.stop()
            self._worker_polls = None
        # A poll that changed nothing the screen shows (an idle worker's, twice a second)
        # paints nothing: its facts, progress and timeline are the frame's (dirty).
        if self.state.worker != shown or self.state.dirty:
            self.repaint()

    def on_worker_poll_failed(self, message: WorkerPollFailed) -> None:
        self.state.report(message.problem)
        self.repaint()

    @quiet_in_teardown
    def on_action_finished(self, message: ActionFinished) -> None:
        self.state.action_finished(message.outcome)
        self.keys.told(message.outcome)
        self.poll_worker()  # the header shows the worker's new state at once
        self.repaint()

    # -- repaint: a lone change at once, a burst at most refresh_hz ------------------------
    def _schedule_repaint(self) -> None:
        # After the messages already queued: a burst of batches is one repaint.
        if not self._repaint_asked:
            self._repaint_asked = True
            self.call_later(self._repaint_when_due)

    def _repaint_when_due(self) -> None:
        # Only frames that painted changes count: the header's repaints for the feed's
        # state or a worker poll (a few a second) never hold a change back.
        interval = max(
            1.0 / max(self.settings.ui.refresh_hz, 0.1), FRAME_SPACING * self._last_frame_cpu_s
        )
        now = time.monotonic()
        due = self._last_change_painted + interval
        if now >= due:
            self._paint_changes()
        elif self._repaint_timer is None:
            self._repaint_timer = self.set_timer(due - now, self._paint_changes)

    def _paint_changes(self) -> None:
        self._last_change_painted = time.monotonic()
        began = loop_cpu_s()
        self.repaint()
        if not self._painted_rebuild:
            # A burst's frame; a whole new tree (a snapshot, a filter typed) is no
            # measure of the next one and never holds it back.
            self.call_after_refresh(self._frame_out, began)

    def _frame_out(self, began: float) -> None:
        # From the repaint to the screen's refresh (Textual's render of it included).
        self._last_frame_cpu_s = loop_cpu_s() - began

    @quiet_in_teardown
    def repaint(self) -> None:
        """Paint MonitorState's frame: the lines that changed, details, header, bar."""
        if self._repaint_timer is not None:
            self._repaint_timer.stop()
            self._repaint_timer = None
        self._repaint_asked = False
        frame = self.state.frame(self.clock())
        self._painted_rebuild = frame.rebuild
        for problem in frame.new_problems:
            self.notify(problem, severity="error", timeout=8)
        tree = self.query_one(WorkflowTree)
        tree.now_ms = frame.now_ms
        if frame.changed or frame.rebuild:
            try:
                tree.sync(frame.graph, frame.tree, frame.changed, frame.rebuild, frame.relabel)
            except Exception as exc:
                self.state.report(f"tree update failed: {one_line(exc)}")
        if tree.cursor_line < 0 and tree.last_line >= 0:
            tree.cursor_line = 0
        shown = self._show_selection(tree, frame.selected)
        self._paint_header(frame)
        bar = self.query_one(LimboBar)
        bar.summary, bar.in_limbo = frame.limbo_summary, frame.in_limbo
        bar.limbo_only, bar.filter_text = frame.view.limbo_only, frame.view.filter_text
        if frame.rebuild or shown in frame.changed or shown != self._details_for:
            self._show_details()
        self._refresh_queue_view(frame.now_ms)
        if self._filter_hold is not None and frame.view.filter_text:
            self._release_filter_hold()
        if frame.loaded and not self._long_lived_frozen:
            # Once the first snapshot's frame is out (gc_pauses: no full collection walks
            # what it built again).
            self._long_lived_frozen = True
            self.call_after_refresh(freeze_long_lived)

    def _show_selection(self, tree: WorkflowTree, selected: str | None) -> str | None:
        """The tree highlights the state's selection; when it cannot (none, or the row
        is inside a summarized backlog), the state takes the row the tree highlights."""
        if selected is not None and (
            tree.selected_id == selected or tree.select_workflow(selected)
        ):
            return selected
        return self.state.select(tree.selected_id)

    def _paint_header(self, frame: Frame) -> None:
        header = self.query_one(StatusHeader)
        worker, feed = frame.worker, frame.feed
        header.worker_state, header.executor_id = worker.state, worker.executor_id
        header.worker_detail = worker.shown_detail
        header.feed_state, header.feed_detail = feed.state, feed.detail
        header.events_per_s, header.alarm, header.feed_source = (
            feed.events_per_s,
            feed.alarm,
            feed.source,
        )
        header.live_push_offer = self.state.live_push_offered
        header.paused_changes = frame.paused_changes
        header.problem = frame.problem
        header.totals = frame.totals
        self.query_one(DetailsPane).loading = self._has_feed and not frame.loaded

    @quiet_in_teardown
    def _show_details(self) -> None:
        details = self.state.details(self.clock())
        self._details_for = details.selected
        pane = self.query_one(DetailsPane)
        pane.fleet = details.fleet
        pane.show(
            details.graph,
            details.selected,
            details.diagnoses,
            details.progress,
            details.now_ms,
            timeline=details.timeline,
        )

    @quiet_in_teardown
    def _tick(self) -> None:
        """Once a second: ages move on, time-based diagnoses (stalled) may appear."""
        now = self.clock()
        self.state.tick(now)
        self.query_one(WorkflowTree).tick()
        self._refresh_queue_view(now)  # its waits grow older
        if self.state.dirty:
            self._schedule_repaint()

    # -- selection ---------------------------------------------------------------------
    @quiet_in_teardown
    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        # The cursor is the user's pointer: what it rests on is the selection.
        selected = self.state.select(self.query_one(WorkflowTree).selected_id)
        if selected != self._details_for:
            self._show_details()

    def on_steps_table_jump_to(self, message: StepsTable.JumpTo) -> None:
        self.jump_to(message.workflow_id)

    def jump_to(self, workflow_id: str) -> None:
        narrowed = self.state.view.narrowed
        if not self.state.jump_to(workflow_id):
            self.notify(f"{workflow_id} is not loaded", severity="warning")
            return
        if narrowed and not self.state.view.narrowed:
            # The view was widened to show it: the filter field says so too.
            field = self.query_one(FilterInput)
            field.value = ""
            field.display = False
        self.repaint()
        self.query_one(WorkflowTree).focus()

    # -- view keys ---------------------------------------------------------------------
    def _refresh_queue_view(self, now: int, *, every_s: float = 0.5) -> None:
        """The open queue view follows the feed, at most twice a second (a backlog's
        queue costs its loaded size to count)."""
        if len(self.screen_stack) < 2:
            return  # nothing over the main screen (nor the queue view's module loaded)
        from limbo_tui.ui.screens.queue_view import QueueScreen

        screen = self.screen
        if not isinstance(screen, QueueScreen):
            return
        if time.monotonic() - self._queues_shown_at >= every_s:
            self._queues_shown_at = time.monotonic()
            screen.refresh_views(self.state.queue_views(now), now)

    def action_queues(self) -> None:
        def chosen(queue: str | None) -> None:
            if queue is not None:
                # Exactly that queue's workflows (and their families) in the tree.
                field = self.query_one(FilterInput)
                field.value = f"{QUEUE_FILTER}{queue}"
                field.display = True
                self._set_filter(field.value)

        from limbo_tui.ui.screens.queue_view import QueueScreen

        now = self.clock()
        self.push_screen(QueueScreen(self.state.queue_views(now), now), chosen)

    def _set_filter(self, text: str) -> None:
        self.state.set_filter(text)
        self._schedule_repaint()

    def action_filter(self) -> None:
        split = self.query_one(SplitView)
        if split.zoomed:
            split.toggle_zoom()  # the filter line is in the tree's pane: show the pane
        field = self.query_one(FilterInput)
        field.display = True
        # `/` is a priority binding, so this runs before the app hands the next keys on;
        # focus moves at once (Widget.focus() would wait a turn of the loop), so keys typed
        # right after `/` reach the filter, not the tree (where `e` enqueues).
        field.screen.set_focus(field)
        if self._filter_hold is None:
            # No frame of the filter line over the whole tree first (laid out and painted
            # again for the focus, ~60 ms at 20k workflows) before the filtered one: the
            # screen is painted once, when the text typed with `/` has been applied.
            hold = contextlib.ExitStack()
            hold.enter_context(self.batch_update())
            self._filter_hold = hold
            self.set_timer(FILTER_HOLD_S, self._release_filter_hold)

    def _release_filter_hold(self) -> None:
        hold, self._filter_hold = self._filter_hold, None
        if hold is not None:
            hold.close()

    def on_input_changed(self, event: FilterInput.Changed) -> None:
        if event.input.id == "filter":
            self._set_filter(event.value)

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
        elif self.state.view.limbo_only:
            self.action_toggle_limbo_only()

    def action_cycle_sort(self) -> None:
        self._sort_by(self.state.view.sort.next())

    def action_reverse_sort(self) -> None:
        self._sort_by(self.state.view.sort.reversed())

    def _sort_by(self, sort: Sort) -> None:
        self.state.set_sort(sort)
        self.notify(sort.describe(), timeout=2)
        self._schedule_repaint()

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
        self.state.set_limbo_only(not self.state.view.limbo_only)
        self._schedule_repaint()

    def action_toggle_pause(self) -> None:
        if not self.state.paused:
            self.state.pause()
        else:
            applied = self.state.resume()
            self.notify(f"live again: {applied} batches applied" if applied else "live again")
        self._schedule_repaint()

    def action_copy_id(self) -> None:
        wid = self.state.selected
        if wid is None:
            self.notify("nothing selected: move to a workflow to copy its id", severity="warning")
            return
        if not is_terminal_safe(wid):
            # A pasted id must not carry a newline or an escape into a shell or a terminal.
            self.notify(
                "not copied: this id holds control characters (shown as \ufffd); "
                "`limbo-tui snapshot --json` prints it escaped",
                severity="warning",
            )
            return
        self.copy_to_clipboard(wid)
        self.notify(f"copied {wid}")

    async def action_suspend(self) -> None:
        # A stopped limbo-tui must hold nothing that grows on the server: the feed lets
        # go of its NOTIFY subscription first (the queue's tail) and takes it back on fg.
        feed = self.inputs.feed
        if feed is not None:
            await feed.pause()
        refused = suspend_to_shell(self)
        if feed is not None:
            await feed.resume()
        if refused is not None:
            self.notify(refused, severity="warning")

    def action_help(self) -> None:
        from limbo_tui.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.settings.read_only))

    def action_toggle_timeline(self) -> None:
        self.state.show_timeline = not self.state.show_timeline
        self._show_details()

    def action_worker_log(self) -> None:
        path = self.worker.log_path if self.worker is not None else None
        if path is None:
            self.notify("no worker log: this limbo-tui runs no worker (--worker none)")
            return
        from limbo_tui.ui.screens.worker_log import WorkerLogScreen

        self.push_screen(WorkerLogScreen(Path(path)))

    # -- the keys that act (workflow_actions.ActionKeys) -------------------------------
    def action_enqueue(self) -> None:
        self.keys.enqueue()

    def action_enqueue_form(self) -> None:
        self.keys.enqueue_form()

    def action_crash(self) -> None:
        self.keys.crash()

    def action_restart(self) -> None:
        self.keys.restart()

    def action_cancel(self) -> None:
        self.keys.cancel()

    def action_resume(self) -> None:
        self.keys.resume()

    def action_fork(self) -> None:
        self.keys.fork()

    def action_fork_onto_live(self) -> None:
        self.keys.fork_onto_live()

    def action_send(self) -> None:
        self.keys.send()

    def action_live_push(self) -> None:
        self.live_push.offer()

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
