"""MonitorState: everything limbo-tui knows about the monitored database, without a screen.

The one owner of the facts that the TUI paints and the scripting commands (`watch`,
`snapshot`) print: the graph, its diagnoses kept current (LiveDiagnoses), the batches
held back while paused, the view (filter, limbo only, sort), the selected workflow, and
what the worker and the feed last said. Inputs are named as the user or the world says
them (apply, pause, resume, select, set_filter, worker_polled, feed_changed, tick); the
one read side is frame(), what a repaint shows, with the ids that changed since the last
frame so that a screen redraws only those.

Diagnosis is lazy: a burst of batches costs one pass over what it can reach, done when
the next frame (or a question about the selection) needs it.

The selected workflow is defined here, once: always a row of the current view (a loaded
workflow, or a child named by its parent's steps) or None. A filter, limbo only, a
batch that removes it: the selection is dropped, never left on a hidden row; the details
pane, every action and `y` read it from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from limbo_tui import errors, status_style
from limbo_tui.backlog import live_not_loaded, totals_line
from limbo_tui.diagnose import Diagnosis
from limbo_tui.fleet import Fleet
from limbo_tui.limits import known_limits
from limbo_tui.live_diagnoses import LiveDiagnoses
from limbo_tui.model import (
    RegisteredMax,
    Row,
    Step,
    StepRemoved,
    Workflow,
    WorkflowGraph,
    WorkflowRemoved,
)
from limbo_tui.queues import QueueView, queue_views
from limbo_tui.search import SearchIndex
from limbo_tui.settings import Settings
from limbo_tui.shutdown_wait import stopping_line, waiting_for
from limbo_tui.timeline import Timeline, TimelineEvent
from limbo_tui.tree_facts import TreeFacts, visible_ids
from limbo_tui.view_sort import Sort
from limbo_tui.worker.protocol import NONE, ShutdownWait

if TYPE_CHECKING:
    from limbo_tui.pg.feed import FeedState

# The worker's state when limbo-tui runs none (--worker none, replay, watch, snapshot).
NO_WORKER = "none"


class Batch(Protocol):
    """A feed batch (pg/feed.FeedBatch, sqlite/feed.py, a recording)."""

    @property
    def rows(self) -> Sequence[Row]: ...

    @property
    def full(self) -> bool: ...


@dataclass(frozen=True)
class View:
    """What the user narrowed the tree to, and in which order it is listed."""

    filter_text: str = ""
    limbo_only: bool = False
    # The families' order (view_sort: newest first until the user sorts, o / O).
    sort: Sort = field(default_factory=Sort)

    @property
    def narrowed(self) -> bool:
        return bool(self.filter_text) or self.limbo_only


@dataclass(frozen=True)
class FeedFacts:
    """What the feed last said about itself (pg/feed.FeedState, as the header shows it)."""

    state: str = "STARTING"
    detail: str = ""
    events_per_s: float = 0.0
    alarm: str = ""
    # The source's words ("via notify", "every 0.2-2 s", "via logical, slot 12 kB").
    source: str = ""
    # True when the user may switch on live push (install the triggers, after a confirm).
    offer: bool = False

    @classmethod
    def of(cls, state: FeedState) -> FeedFacts:
        """From what a feed (feeds.Feed) said of itself."""
        return cls(
            state.state, state.detail, state.events_per_s, state.alarm, state.source, state.offer
        )


@dataclass(frozen=True)
class WorkerStatus:
    """One poll of the embedded worker (worker/protocol.Worker)."""

    state: str
    executor_id: str = ""
    detail: str = ""
    # workflow id -> worker.protocol.StepProgress (live step and 1-based try)
    progress: Mapping[str, Any] = field(default_factory=dict)
    # workflow name -> max_recovery_attempts as the worker registered them, asked once it
    # runs (again after a restart); None: not asked.
    limits: Mapping[str, int] | None = None
    # How many times the worker crashed so far: a crash and restart between two polls
    # still counts.
    crashes: int = 0
    # While STOPPING: what DBOS's shutdown waits for (worker.protocol.ShutdownWait).
    stopping: ShutdownWait | None = None
    # Graceful stops so far, and what the last one did.
    stops: int = 0
    last_stop: str = ""
    # time.monotonic() of the poll: the stop's clock (ShutdownWait.started_at) is one.
    polled_at: float = 0.0
    # workflow id -> the max it was dispatched with, kept by earlier sessions
    # (Worker.registered_history, asked once); None: not asked.
    history: Mapping[str, RegisteredMax] | None = None


@dataclass(frozen=True)
class WorkerFacts:
    """What is known of the embedded worker: its last poll, or NO_WORKER."""

    state: str = NO_WORKER
    executor_id: str = ""
    detail: str = ""
    progress: Mapping[str, Any] = field(default_factory=dict)
    crashes: int = 0

    @property
    def shown_detail(self) -> str:
        """The detail worth a header line: why it is DOWN, where else it runs, what its
        stop waits for."""
        return self.detail if self.state in ("DOWN", "ELSEWHERE", "STOPPING") else ""


@dataclass(frozen=True)
class ActionOutcome:
    """What a blocking action (enqueue, crash, cancel, ...) came back with."""

    title: str
    ok: bool
    message: str
    workflow_id: str | None = None
    # For a rejected enqueue: the workflow that holds the deduplication id.
    holder_id: str | None = None


# The actions whose failure stays in the header: a worker that does not start, crash or
# restart is a state of the session, not a passing notice.
WORKER_LIFECYCLE = frozenset({"start the worker", "crash worker", "restart worker"})


@dataclass(frozen=True)
class Frame:
    """What a repaint shows. `changed` and `rebuild` say what moved since the last frame."""

    now_ms: int
    graph: WorkflowGraph
    # Ids whose line may read differently: rows, diagnoses or live progress changed.
    changed: frozenset[str]
    # Ids whose diagnoses changed (a subset of changed).
    diagnosed: frozenset[str]
    # A new snapshot, new limits or a new view: every line is redrawn.
    rebuild: bool
    # Every line may read differently (a rebuild for a new view alone only moves lines).
    relabel: bool
    view: View
    tree: TreeFacts
    selected: str | None
    fleet: Fleet
    limbo_summary: str
    in_limbo: int
    totals: str
    worker: WorkerFacts
    feed: FeedFacts
    # None: live; else how many workflows the held batches touch.
    paused_changes: int | None
    # The first full snapshot has been applied (before it, an empty graph is "not read").
    loaded: bool
    # The last problem (a bad batch, a failed diagnosis, a failed action), for the header.
    problem: str
    # Problems found since the last frame, each to be told once.
    new_problems: tuple[str, ...]


@dataclass(frozen=True)
class Details:
    """What the details pane shows: the selected workflow (or None) and its facts."""

    now_ms: int
    graph: WorkflowGraph
    selected: str | None
    diagnoses: tuple[Diagnosis, ...]
    progress: Any
    # The workflow's story while `t` shows it, else None.
    timeline: tuple[TimelineEvent, ...] | None
    fleet: Fleet


def _row_id(row: Row) -> str | None:
    if isinstance(row, Workflow | WorkflowRemoved):
        return row.id
    if isinstance(row, Step | StepRemoved):
        return row.workflow_id
    return None


class MonitorState:
    """The monitor's facts and the rules that keep them consistent (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], int],
        worker: WorkerFacts | None = None,
        feed: FeedFacts | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.graph = WorkflowGraph().with_limits(known_limits(settings))
        self.timeline = Timeline()
        self._diagnoses = LiveDiagnoses()
        self._search = SearchIndex(status_style.word)
        self._view = View()
        self.show_timeline = False
        self._worker = worker or WorkerFacts()
        self._feed = feed or FeedFacts()
        self._worker_limits_known = False
        self._history_known = False
        # The state the last poll found ("" before the first), for the timeline; the
        # graceful stops told, and what the one in progress was last said to wait for.
        self._polled_state = ""
        self._stops = 0
        self._stop_said = ""
        self._loaded = False
        # Applied to the graph, not yet diagnosed.
        self._undiagnosed: set[str] = set()
        self._undiagnosed_all = True
        self._down_diagnosed: frozenset[str] = frozenset()
        # Diagnosed, not yet in a frame.
        self._unframed: set[str] = set()
        self._unframed_diagnosed: set[str] = set()
        self._rebuild = True
        self._relabel = True
        # The view's rows (None: every row), recomputed when the graph or the view moved.
        self._shown: frozenset[str] | None = None
        self._shown_stale = False
        self._selected: str | None = None
        # A workflow to select as soon as a batch brings it (after enqueue, fork, jump).
        self._follow: str | None = None
        # Pause: batches held back (not applied) and the workflows they touch.
        self._paused = False
        self._held: list[Batch] = []
        self._held_ids: set[str] = set()
        self._problem = ""
        self._new_problems: list[str] = []

    # -- the feed ----------------------------------------------------------------------
    def apply(self, batch: Batch) -> list[TimelineEvent]:
        """A feed batch: applied to the graph (held back while paused). Returns the
        timeline events its rows tell, in order."""
        if self._paused:
            if batch.full:
                self._held.clear()
                self._held_ids = set(self.graph.workflows)
            self._held.append(batch)
            self._held_ids |= {i for i in map(_row_id, batch.rows) if i is not None}
            return []
        try:
            events = self.timeline.observe(batch.rows, self.clock())
            if batch.full:
                self.graph.replace_all(batch.rows)
                self._search.rebuild(self.graph)
                self._undiagnosed_all = True
                self._loaded = True
            else:
                changed = self.graph.apply(batch.rows)
                self._search.update(self.graph, changed)
                self._undiagnosed |= changed
        except Exception as exc:  # a bad row must not end the monitor
            self.report(f"could not apply a feed batch: {errors.one_line(exc)}")
            return []
        self._shown_stale = True
        return events

    def apply_page(self, rows: Sequence[Row]) -> None:
        """A page of a backlog the user opened (read beside the feed, counted already):
        only rows neither in the graph nor in a held batch (both are newer)."""
        try:
            fresh = [r for r in rows if _row_id(r) not in self._held_ids]
            changed = self.graph.add_counted(fresh)
            self._search.update(self.graph, changed)
            self._undiagnosed |= changed
        except Exception as exc:  # a bad row must not end the monitor
            self.report(f"could not apply a page of a backlog: {errors.one_line(exc)}")
            return
        self._shown_stale = True

    def feed_changed(self, facts: FeedFacts) -> FeedFacts:
        """The feed's state moved; returns what it said before."""
        before, self._feed = self._feed, facts
        return before

    @property
    def feed(self) -> FeedFacts:
        return self._feed

    @property
    def live_push_offered(self) -> bool:
        return self._feed.offer and not self.settings.read_only

    # -- pause -------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Hold every batch back until resume(): the screen stands still."""
        self._paused = True

    def resume(self) -> int:
        """Apply what was held, in order; returns how many batches that was."""
        self._paused = False
        held, self._held, self._held_ids = self._held, [], set()
        for batch in held:
            self.apply(batch)
        return len(held)

    # -- the worker --------------------------------------------------------------------
    @property
    def worker(self) -> WorkerFacts:
        return self._worker

    @property
    def needs_worker_limits(self) -> bool:
        """What the worker registered is asked once it runs (and again after a restart)."""
        return not self._worker_limits_known

    @property
    def needs_registered_history(self) -> bool:
        """What earlier sessions kept is asked once, before the worker's limits are used."""
        return not self._history_known

    @property
    def polls_worker(self) -> bool:
        """Whether the worker is worth another poll: one that said NONE (`--worker none`,
        a read-only session's) has no state to change, once what earlier sessions kept
        is in (an action still asks it once more)."""
        return not (self._polled_state == NONE and self._history_known)

    def take_learned(self) -> dict[str, RegisteredMax]:
        """The maxima learned since the last call, for Worker.keep_registered."""
        return self.graph.take_learned()

    def worker_polled(self, status: WorkerStatus) -> None:
        now = self.clock()
        before = self._worker
        # The instants of a crash and a restart: DBOS records neither. A crash that was
        # restarted between two polls is still told, from the worker's crash count.
        for n in range(before.crashes + 1, status.crashes + 1):
            self.timeline.worker_event(f"worker crashed (crash {n})", now)
        if status.state != self._polled_state:
            # The first poll is where the story starts; DOWN is told as the crash, a
            # stop by what it waits for and how it ended.
            if self._polled_state and status.state not in ("DOWN", "STOPPING"):
                detail = f": {status.detail}" if status.detail else ""
                self.timeline.worker_event(f"worker {status.state}{detail}", now)
            self._polled_state = status.state
        detail = status.detail
        if status.stopping is not None:
            # DBOS names ids; the graph says why they do not end (shutdown_wait.py).
            diagnoses = self.diagnoses
            detail = stopping_line(status.stopping, self.graph, diagnoses, status.polled_at)
            said = waiting_for(status.stopping, self.graph, diagnoses)
            if said != self._stop_said:
                self.timeline.worker_event(f"worker stopping: {said}", now)
                self._stop_said = said
        if status.stops > self._stops:
            self.timeline.worker_event(f"worker stopped: {status.last_stop}", now)
            self._stops, self._stop_said = status.stops, ""
        self.timeline.progress(
            {
                wid: (p.step_id, p.attempt, p.max_attempts)
                for wid, p in status.progress.items()
                if hasattr(p, "step_id")
            },
            now,
        )
        if status.history is not None:
            self._history_known = True
            self.graph.remember(status.history)
            self._undiagnosed_all = True
            self._rebuild = self._relabel = True
        if status.state != "RUNNING":
            self._worker_limits_known = False
        if status.limits is not None and self._history_known:
            # Each workflow keeps the max its worker registered when it dispatched it;
            # [limits] (the graph's, by name) covers the rest.
            self._worker_limits_known = True
            self._unframed |= self.graph.worker_registered(status.executor_id, status.limits)
            self._undiagnosed_all = True
        old = before.progress
        moved = {w for w in set(status.progress) | set(old) if status.progress.get(w) != old.get(w)}
        self._unframed |= moved
        self._worker = WorkerFacts(
            status.state,
            status.executor_id,
            detail,
            dict(status.progress),
            max(before.crashes, status.crashes),
        )

    def _down_executors(self) -> frozenset[str]:
        if self._worker.state == "DOWN":
            return frozenset({self._worker.executor_id})
        return frozenset()

    # -- actions and problems ----------------------------------------------------------
    def action_finished(self, outcome: ActionOutcome) -> None:
        if outcome.title in WORKER_LIFECYCLE:
            self._problem = "" if outcome.ok else f"{outcome.title}: {outcome.message}"
        if outcome.ok and outcome.workflow_id:
            self.follow(outcome.workflow_id)

    def report(self, problem: str) -> None:
        """A problem the user must hear of (once) and see in the header until the next."""
        self._problem = problem
        self._new_problems.append(problem)

    # -- the view ----------------------------------------------------------------------
    @property
    def view(self) -> View:
        return self._view

    def set_filter(self, text: str) -> None:
        self._set_view(replace(self._view, filter_text=text))

    def set_limbo_only(self, on: bool) -> None:
        self._set_view(replace(self._view, limbo_only=on))

    def set_sort(self, sort: Sort) -> None:
        self._set_view(replace(self._view, sort=sort))

    def clear_view(self) -> None:
        """Every row again: no filter, not limbo only (the sort stays)."""
        self._set_view(replace(self._view, filter_text="", limbo_only=False))

    def _set_view(self, view: View) -> None:
        if view != self._view:
            self._view = view
            self._rebuild = True
            self._shown_stale = True

    # -- the selection -----------------------------------------------------------------
    @property
    def selected(self) -> str | None:
        """The selected workflow: a row of the current view, or None."""
        self._settle()
        return self._selected

    def select(self, workflow_id: str | None) -> str | None:
        """Select a row (the user moved to it); a row the view hides selects nothing.
        Returns the selection."""
        self._settle()
        self._selected = workflow_id if self._is_row(workflow_id) else None
        return self._selected

    def follow(self, workflow_id: str) -> None:
        """Select this workflow as soon as it is a row (an enqueue's or a fork's)."""
        self._follow = workflow_id

    @property
    def following(self) -> str | None:
        return self._follow

    def jump_to(self, workflow_id: str) -> bool:
        """Select a workflow, widening the view when it hides it. False: not loaded."""
        self._settle()
        if self._is_row(workflow_id):
            self._selected = workflow_id
            return True
        if self._view.narrowed and self._is_row(workflow_id, anywhere=True):
            self.clear_view()
            self.follow(workflow_id)
            return True
        return False

    def _is_row(self, workflow_id: str | None, *, anywhere: bool = False) -> bool:
        """A row of the view (anywhere: of the whole tree): a loaded workflow, or a child
        that a loaded parent's steps name."""
        if workflow_id is None:
            return False
        graph = self.graph
        if workflow_id not in graph.workflows and graph.parent_of(workflow_id) not in (
            graph.workflows
        ):
            return False
        return anywhere or self._shown is None or workflow_id in self._shown

    # -- time --------------------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        """Time passed: what the clock can change (stalled, stuck, orphaned) is redone."""
        self._settle(now_ms)
        try:
            redone = self._diagnoses.after_tick(
                self.graph, now_ms, self.settings.limbo, self._down_executors()
            )
        except Exception as exc:
            self.report(f"diagnose failed: {errors.one_line(exc)}")
            return
        self._down_diagnosed = self._down_executors()
        self._took(redone)

    # -- reading -----------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """Something changed that no frame has shown yet."""
        return bool(
            self._rebuild
            or self._unframed
            or self._undiagnosed
            or self._undiagnosed_all
            or self._new_problems
            or self._shown_stale
        )

    @property
    def diagnoses(self) -> list[Diagnosis]:
        """Every current diagnosis, in diagnose()'s order."""
        self._settle()
        return self._diagnoses.ordered(self.graph)

    def diagnoses_of(self, workflow_id: str) -> list[Diagnosis]:
        self._settle()
        return self._diagnoses.of(workflow_id)

    @property
    def fleet(self) -> Fleet:
        self._settle()
        return self._diagnoses.fleet

    def queue_views(self, now_ms: int) -> list[QueueView]:
        self._settle(now_ms)
        return queue_views(self.graph, self._diagnoses.fleet_index, self._diagnoses.fleet, now_ms)

    def frame(self, now_ms: int | None = None) -> Frame:
        """What the screen shows now; what it reports as changed is then forgotten."""
        now = self.clock() if now_ms is None else now_ms
        self._settle(now)
        changed, self._unframed = frozenset(self._unframed), set()
        diagnosed, self._unframed_diagnosed = frozenset(self._unframed_diagnosed), set()
        rebuild, self._rebuild = self._rebuild, False
        relabel, self._relabel = self._relabel, False
        problems, self._new_problems = tuple(self._new_problems), []
        live = self._diagnoses
        summary = live.summary
        return Frame(
            now_ms=now,
            graph=self.graph,
            changed=changed,
            diagnosed=diagnosed,
            rebuild=rebuild,
            relabel=relabel,
            view=self._view,
            tree=TreeFacts(
                live.limbo_ids,
                live.warning_ids,
                dict(self._worker.progress),
                self._shown,
                self._view.sort,
            ),
            selected=self._selected,
            fleet=live.fleet,
            limbo_summary=summary.text + undiagnosed_note(live_not_loaded(self.graph)),
            in_limbo=summary.in_limbo,
            totals=totals_line(self.graph) if self.graph.totals is not None else "",
            worker=self._worker,
            feed=self._feed,
            paused_changes=len(self._held_ids) if self._paused else None,
            loaded=self._loaded,
            problem=self._problem,
            new_problems=problems,
        )

    def details(self, now_ms: int | None = None) -> Details:
        """The selected workflow's facts, for the details pane (changes nothing)."""
        now = self.clock() if now_ms is None else now_ms
        self._settle(now)
        wid = self._selected
        return Details(
            now_ms=now,
            graph=self.graph,
            selected=wid,
            diagnoses=tuple(self._diagnoses.of(wid)) if wid else (),
            progress=self._worker.progress.get(wid) if wid else None,
            timeline=tuple(self.timeline.events(wid)) if wid and self.show_timeline else None,
            fleet=self._diagnoses.fleet,
        )

    # -- keeping the facts consistent --------------------------------------------------
    def _settle(self, now_ms: int | None = None) -> None:
        """Diagnose what was applied, work out the view's rows, keep the selection a row."""
        down = self._down_executors()
        if (
            self._undiagnosed
            or self._undiagnosed_all
            or down != self._down_diagnosed
            or self._diagnoses.read_another_registry(self.graph)
        ):
            now = self.clock() if now_ms is None else now_ms
            everything = self._undiagnosed_all
            changed, self._undiagnosed, self._undiagnosed_all = self._undiagnosed, set(), False
            self._unframed |= changed
            self._rebuild |= everything
            self._relabel |= everything
            limbo = self.settings.limbo
            try:
                if everything:
                    redone = self._diagnoses.redo_all(self.graph, now, limbo, down)
                else:
                    redone = self._diagnoses.after_change(self.graph, changed, now, limbo, down)
            except Exception as exc:
                self.report(f"diagnose failed: {errors.one_line(exc)}")
                redone = set()
            self._down_diagnosed = down
            self._took(redone)
        if self._shown_stale:
            self._shown_stale = False
            self._shown = self._view_rows()
        if self._follow is not None and self._is_row(self._follow):
            self._selected, self._follow = self._follow, None
        if not self._is_row(self._selected):
            self._selected = None

    def _took(self, redone: set[str]) -> None:
        """Diagnoses changed for these ids: their lines, and limbo only's rows."""
        if not redone:
            return
        self._unframed |= redone
        self._unframed_diagnosed |= redone
        if self._view.limbo_only:
            self._shown = self._view_rows()

    def _view_rows(self) -> frozenset[str] | None:
        view = self._view
        if not view.narrowed:
            return None
        matches = self._search.matches(view.filter_text)
        if view.limbo_only:
            matches &= self._diagnoses.limbo_ids
        return visible_ids(self.graph, matches)


def undiagnosed_note(not_loaded: int) -> str:
    """What the limbo summary cannot speak for: live workflows of older families the TUI
    has not loaded (backlog.LIVE_FIRST) are not diagnosed, so "nothing in limbo" alone
    would claim more than is known."""
    if not not_loaded:
        return ""
    return f", {not_loaded:,} older live workflows not diagnosed (not loaded)"
