"""MonitorState without a screen or a database: the selection is always a row the view
shows (or nothing), pause holds batches back and resume applies them in order, and the
diagnoses it keeps piecewise are what a full diagnose() says, after any history."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_diagnose_incremental import LIMITS, limbo_settings
from test_diagnose_incremental import rows_strategy as diagnosable_rows
from test_graph_fuzz import IDS

from limbo_tui import status_style
from limbo_tui.diagnose import LIMBO, WARNING, Diagnosis, by_workflow, diagnose, summary
from limbo_tui.fleet import fleet_of
from limbo_tui.model import RegisteredMax, Row, Step, Workflow, WorkflowGraph, WorkflowRemoved
from limbo_tui.monitor_state import (
    ActionOutcome,
    FeedFacts,
    MonitorState,
    WorkerFacts,
    WorkerStatus,
)
from limbo_tui.registry import DBOS_2_8, DBOS_3, DbosRelease, Registry
from limbo_tui.search import SearchIndex
from limbo_tui.settings import LimboSettings, Settings
from limbo_tui.tree_facts import visible_ids
from limbo_tui.worker.protocol import ShutdownWait

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 2_000_000
LONG = LimboSettings(stalled_after_s=3_600, enqueued_after_s=3_600, near_max_margin=0)


@dataclass
class Batch:
    rows: list[Row]
    full: bool = False


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def new_state(limbo: LimboSettings = LONG, clock: Clock | None = None) -> MonitorState:
    return MonitorState(Settings(limbo=limbo, limits=LIMITS), clock=clock or Clock())


def family(parent: str = "p", status: str = "PENDING", name: str = "parent_wf") -> list[Row]:
    """A parent PENDING on its dead-lettered child: the seed's limbo."""
    return [
        Workflow(parent, status, name, created_at_ms=0, updated_at_ms=0),
        Workflow(f"{parent}-1", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "child_wf", parent_id=parent),
        Step(parent, 1, "child_wf", f"{parent}-1"),
    ]


def test_monitor_state_imports_no_textual() -> None:
    code = (
        "import sys, limbo_tui.monitor_state, limbo_tui.scripting; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the selection -------------------------------------------------------------------
def test_a_filter_that_hides_the_selection_selects_nothing() -> None:
    state = new_state()
    state.apply(Batch(family("p") + family("q", status="SUCCESS"), full=True))
    assert state.select("p") == "p"
    state.set_filter("SUCCESS")
    assert state.selected is None
    assert state.frame().selected is None
    # Moving to a row the filter hides selects nothing; a shown one is selected.
    assert state.select("p") is None
    assert state.select("q") == "q"
    state.set_filter("")
    assert state.selected == "q"


def test_limbo_only_drops_a_selection_outside_limbo_and_keeps_one_inside() -> None:
    state = new_state()
    state.apply(Batch([*family("p"), Workflow("done", "SUCCESS", "x", created_at_ms=5)], True))
    state.select("done")
    state.set_limbo_only(True)
    assert state.selected is None
    assert state.select("p") == "p"
    # The limbo ends (the child's row is gone and the parent finished): not a row any more.
    state.apply(Batch([Workflow("p", "SUCCESS", "parent_wf", created_at_ms=0)]))
    assert state.selected is None


def test_a_removed_row_is_not_selected_and_a_followed_one_is_once_it_arrives() -> None:
    state = new_state()
    state.apply(Batch(family("p"), full=True))
    state.select("p")
    state.follow("new")
    state.apply(Batch([WorkflowRemoved("p"), WorkflowRemoved("p-1")]))
    assert state.selected is None
    state.apply(Batch([Workflow("new", "ENQUEUED", "x", created_at_ms=9)]))
    assert state.selected == "new" and state.following is None


def test_a_child_named_only_by_its_parents_steps_is_a_row() -> None:
    state = new_state()
    state.apply(Batch([Workflow("p", "PENDING", "x"), Step("p", 1, "child_wf", "p-9")], True))
    assert state.select("p-9") == "p-9"


def test_jump_to_a_hidden_workflow_widens_the_view() -> None:
    state = new_state()
    state.apply(Batch(family("p") + family("q", status="SUCCESS"), full=True))
    state.set_filter("SUCCESS")
    assert state.jump_to("p")
    assert state.view.filter_text == "" and state.selected == "p"
    assert not state.jump_to("not-loaded")


@dataclass(frozen=True)
class Apply:
    rows: list[Row]
    full: bool


@dataclass(frozen=True)
class Filter:
    text: str


@dataclass(frozen=True)
class LimboOnly:
    on: bool


@dataclass(frozen=True)
class Select:
    workflow_id: str


@dataclass(frozen=True)
class Draw:
    pass


view_ops = st.lists(
    st.one_of(
        st.builds(Apply, diagnosable_rows, st.booleans()),
        st.builds(Apply, diagnosable_rows, st.just(False)),
        st.builds(Filter, st.sampled_from(["", "p", "q-1", "PENDING", "child", "zzz"])),
        st.builds(LimboOnly, st.booleans()),
        st.builds(Select, st.sampled_from([*IDS, "p-9", "not-loaded"])),
        st.builds(Select, st.sampled_from([*IDS, "p-9", "not-loaded"])),
        st.just(Draw()),
    ),
    max_size=25,
)


def rows_of_the_view(state: MonitorState) -> set[str]:
    """The view's rows worked out from scratch: a fresh search, a full diagnosis."""
    graph = state.graph
    rows = set(graph.workflows)
    for wid in graph.workflows:
        rows |= set(graph.children(wid))
    if not (state.view.filter_text or state.view.limbo_only):
        return rows
    search = SearchIndex(status_style.word)
    search.rebuild(graph)
    matches = search.matches(state.view.filter_text)
    if state.view.limbo_only:
        full = diagnose(graph, state.clock(), state.settings.limbo, frozenset())
        matches &= {d.workflow_id for d in full if d.severity == LIMBO}
    return rows & visible_ids(graph, matches)


@FAST
@given(ops=view_ops, limbo=limbo_settings)
def test_the_selection_is_always_a_row_of_the_view(
    ops: list[Apply | Filter | LimboOnly | Select | Draw], limbo: LimboSettings
) -> None:
    state = new_state(limbo)
    for op in ops:
        if isinstance(op, Apply):
            state.apply(Batch(op.rows, op.full))
        elif isinstance(op, Filter):
            state.set_filter(op.text)
        elif isinstance(op, LimboOnly):
            state.set_limbo_only(op.on)
        elif isinstance(op, Select):
            selected = state.select(op.workflow_id)
            # Selecting a row of the view selects it; anything else selects nothing.
            assert selected == (
                op.workflow_id if op.workflow_id in rows_of_the_view(state) else None
            )
        else:
            frame = state.frame()
            assert frame.selected is None or frame.selected in rows_of_the_view(state)
        selected = state.selected
        assert selected is None or selected in rows_of_the_view(state)


# -- pause ---------------------------------------------------------------------------
def test_pause_holds_batches_and_resume_applies_them_in_order() -> None:
    state = new_state()
    state.apply(Batch(family("p"), full=True))
    state.frame()
    state.pause()
    assert state.frame().paused_changes == 0
    state.apply(Batch([Workflow("p", "SUCCESS", "parent_wf", created_at_ms=0)]))
    state.apply(Batch([Workflow("new", "ENQUEUED", "x", created_at_ms=9)]))
    state.apply(Batch([Workflow("new", "PENDING", "x", created_at_ms=9)]))
    frame = state.frame()
    # The screen stands still: nothing applied, the limbo still shown, the count told.
    assert frame.graph.workflows["p"].status == "PENDING" and "new" not in frame.graph.workflows
    assert frame.in_limbo == 1 and frame.paused_changes == 2
    assert state.resume() == 3
    frame = state.frame()
    assert frame.paused_changes is None
    assert frame.graph.workflows["new"].status == "PENDING"
    assert frame.graph.workflows["p"].status == "SUCCESS"
    assert {"p", "new"} <= frame.changed


def test_a_snapshot_while_paused_replaces_what_was_held() -> None:
    state = new_state()
    state.apply(Batch(family("p"), full=True))
    state.pause()
    state.apply(Batch([Workflow("gone", "ENQUEUED", "x")]))
    state.apply(Batch([Workflow("q", "SUCCESS", "x")], full=True))
    # Every workflow may differ after a new snapshot: all of them are counted.
    assert state.frame().paused_changes == 3
    assert state.resume() == 1
    assert set(state.graph.workflows) == {"q"}


# -- the worker, the feed, actions ---------------------------------------------------
def test_a_worker_down_orphans_its_pending_work_and_comes_back() -> None:
    state = new_state(clock=Clock(1_000))
    state.worker_polled(WorkerStatus("RUNNING", "ex-1"))
    state.apply(
        Batch([Workflow("w", "PENDING", executor_id="ex-1", created_at_ms=0, updated_at_ms=0)])
    )
    assert state.diagnoses_of("w") == []
    state.worker_polled(WorkerStatus("DOWN", "ex-1", "crashed on purpose", crashes=1))
    frame = state.frame()
    assert [d.kind for d in state.diagnoses_of("w")] == ["orphaned"]
    assert "w" in frame.diagnosed
    assert frame.worker.state == "DOWN" and frame.worker.shown_detail == "crashed on purpose"
    assert [e.text for e in state.timeline.events("w") if e.kind == "worker"] == [
        "worker crashed (crash 1)"
    ]
    state.worker_polled(WorkerStatus("RUNNING", "ex-1", crashes=1))
    assert state.diagnoses_of("w") == []


def test_the_worker_limits_apply_to_what_that_worker_dispatched() -> None:
    # Each workflow's max is what the worker that dispatched it registered: this worker's
    # for the rows it runs, an earlier session's (kept) for an old one, none for another
    # executor's; the limits are used only once the kept history is known.
    state = new_state()
    rows = [
        Workflow("w", "PENDING", "user_wf", recovery_attempts=1, executor_id="ex-1"),
        Workflow("old", "SUCCESS", "user_wf", recovery_attempts=1, executor_id="ex-1"),
        Workflow("theirs", "PENDING", "user_wf", recovery_attempts=1, executor_id="ex-2"),
    ]
    state.apply(Batch(rows, full=True))
    state.frame()
    assert state.needs_worker_limits and state.needs_registered_history
    state.worker_polled(WorkerStatus("RUNNING", "ex-1", limits={"user_wf": 5}))
    assert state.needs_worker_limits  # not used before the history
    assert state.graph.max_recovery_attempts("w") is None
    kept = {"old": RegisteredMax(2, 1, "ex-1")}
    state.worker_polled(WorkerStatus("RUNNING", "ex-1", limits={"user_wf": 5}, history=kept))
    assert not state.needs_worker_limits and not state.needs_registered_history
    assert state.graph.known_max("w") == (5, "worker")
    assert state.graph.known_max("old") == (2, "worker")
    assert state.graph.known_max("theirs") == (None, None)
    assert state.take_learned() == {"w": RegisteredMax(5, 1, "ex-1")}
    assert state.frame().rebuild
    # A restart: asked again once it runs.
    state.worker_polled(WorkerStatus("DOWN", "ex-1"))
    assert state.needs_worker_limits


def test_a_worker_that_says_none_is_polled_no_more_once_the_history_is_in() -> None:
    state = new_state()
    assert state.polls_worker  # not polled yet: the header says STARTING
    state.worker_polled(WorkerStatus("NONE"))  # the history's read failed or was not asked
    assert state.polls_worker
    state.worker_polled(WorkerStatus("NONE", history={}))
    assert not state.polls_worker
    running = new_state()
    running.worker_polled(WorkerStatus("RUNNING", "ex-1", history={}))
    assert running.polls_worker


def test_feed_state_live_push_offer_and_problems() -> None:
    state = new_state()
    assert state.feed_changed(FeedFacts("LIVE", offer=True)).state == "STARTING"
    assert state.live_push_offered and state.frame().feed.state == "LIVE"
    read_only = MonitorState(Settings(read_only=True), clock=Clock())
    read_only.feed_changed(FeedFacts("LIVE", offer=True))
    assert not read_only.live_push_offered
    state.action_finished(ActionOutcome("crash worker", False, "it would not die"))
    frame = state.frame()
    assert frame.problem == "crash worker: it would not die" and frame.new_problems == ()
    state.report("worker: it hangs")
    frame = state.frame()
    # Told once, shown until the next.
    assert frame.new_problems == ("worker: it hangs",) and frame.problem == "worker: it hangs"
    assert state.frame().new_problems == () and state.frame().problem == "worker: it hangs"


def test_a_successful_enqueue_is_followed() -> None:
    state = MonitorState(Settings(), clock=Clock(), worker=WorkerFacts("STARTING"))
    state.apply(Batch([], full=True))
    state.action_finished(ActionOutcome("enqueue", True, "enqueued", workflow_id="new"))
    state.apply(Batch([Workflow("new", "ENQUEUED", "x")]))
    assert state.frame().selected == "new"


# -- incremental diagnosis -----------------------------------------------------------
@dataclass(frozen=True)
class Burst:
    """Batches applied one after the other; a frame after them or not."""

    batches: list[list[Row]]
    draw: bool


@dataclass(frozen=True)
class Tick:
    advance_ms: int


@dataclass(frozen=True)
class Poll:
    """The worker polled: up or down (its executor is ex-1), limits perhaps."""

    down: bool
    limits: dict[str, int] | None


limits = st.integers(0, 4)
history = st.lists(
    st.one_of(
        st.builds(Burst, st.lists(diagnosable_rows, min_size=1, max_size=3), st.booleans()),
        st.builds(Burst, st.lists(diagnosable_rows, min_size=1, max_size=3), st.booleans()),
        st.builds(Tick, st.integers(0, 1_500_000)),
        st.builds(
            Poll,
            st.booleans(),
            st.none() | st.dictionaries(st.just("parent_wf"), st.integers(0, 4)),
        ),
    ),
    max_size=12,
)


@FAST
@given(start=diagnosable_rows, ops=history, now=st.integers(0, 3_000_000), limbo=limbo_settings)
def test_the_diagnoses_kept_piecewise_are_a_full_diagnose_after_any_history(
    start: list[Row], ops: list[Burst | Tick | Poll], now: int, limbo: LimboSettings
) -> None:
    clock = Clock(now)
    state = new_state(limbo, clock)
    state.worker_polled(WorkerStatus("RUNNING", "ex-1"))
    state.frame()  # the first paint, on an empty graph
    state.apply(Batch(start, full=True))
    for op in ops:
        if isinstance(op, Burst):
            for rows in op.batches:
                state.apply(Batch(rows))
            if op.draw:
                state.frame()
        elif isinstance(op, Tick):
            clock.now += op.advance_ms
            state.tick(clock.now)
        else:
            state.worker_polled(
                WorkerStatus("DOWN" if op.down else "RUNNING", "ex-1", limits=op.limits)
            )
        frame = state.frame()
        down = frozenset({"ex-1"}) if state.worker.state == "DOWN" else frozenset()
        full = diagnose(state.graph, clock.now, limbo, down)
        assert state.diagnoses == full
        assert state.fleet == fleet_of(state.graph, clock.now, limbo, down)
        grouped = by_workflow(full)
        assert all(state.diagnoses_of(wid) == grouped.get(wid, []) for wid in IDS)
        assert frame.tree.limbo_ids == {d.workflow_id for d in full if d.severity == LIMBO}
        assert frame.tree.warning_ids == {d.workflow_id for d in full if d.severity == WARNING}
        assert frame.limbo_summary == summary(full).text


def test_a_registry_row_alone_has_the_diagnoses_made_again() -> None:
    # The release read from the schema arrives in a batch of its own (no workflow's rows
    # change), and its sentences differ between dbos 2.8 and 3.x: the held diagnoses of
    # a parent waiting on a dead child must follow it, as a full diagnosis does.
    for first, second in ((DBOS_3, DBOS_2_8), (DBOS_2_8, DBOS_3)):
        state = new_state()
        state.apply(Batch([*family("p"), Registry(release=first)], full=True))
        before = state.frame().tree
        state.apply(Batch([Registry(release=second)]))
        frame = state.frame()
        full = diagnose(state.graph, state.clock(), LONG, frozenset())
        assert state.diagnoses == full
        assert state.diagnoses_of("p") != [d for d in diagnose_with(first) if d.workflow_id == "p"]
        assert frame.tree.limbo_ids == before.limbo_ids == {"p"}


def test_a_graceful_stop_says_what_dbos_waits_for_and_how_it_ended() -> None:
    state = new_state()
    state.apply(Batch(family("p"), full=True))
    state.worker_polled(WorkerStatus("RUNNING", "ex-1"))
    wait = ShutdownWait(10, started_at=100.0, active=("p",))
    for at in (103.0, 104.0):
        state.worker_polled(WorkerStatus("STOPPING", "ex-1", stopping=wait, polled_at=at))
    detail = state.frame().worker.shown_detail
    assert detail.startswith("stopping: DBOS waits for p (PENDING, awaiting a dead child)")
    assert "4 s of 10 s" in detail
    state.worker_polled(WorkerStatus("DOWN", "ex-1", stops=1, last_stop="DBOS waited 10 s"))
    told = [e.text for e in state.timeline.events("p") if e.kind == "worker"]
    # The stop is told once for what it waited for, once for how it ended.
    assert told == [
        "worker stopping: DBOS waits for p (PENDING, awaiting a dead child)",
        "worker stopped: DBOS waited 10 s",
    ]


def diagnose_with(release: DbosRelease) -> list[Diagnosis]:
    """The seed's family diagnosed from scratch under one DBOS release."""
    graph = WorkflowGraph()
    graph.apply([*family("p"), Registry(release=release)])
    return diagnose(graph, NOW, LONG, frozenset())
