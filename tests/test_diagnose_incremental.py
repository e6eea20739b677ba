"""Re-diagnosing only what changed gives what a full diagnose() gives.

The app keeps diagnoses per workflow (LiveDiagnoses): on a repaint it re-diagnoses the
workflows that the pending changes can reach; as time passes, only those whose scheduled
instant came (a threshold passing, a duration in a sentence moving on) and, when the
Fleet's own instant came (an executor going silent), what the Fleet reaches. After any
history of batches, repaints and ticks, what the user sees (every diagnosis, the limbo
and warning marks, the limbo bar's counts) must be what diagnosing the whole graph would
say, and a tick diagnoses only the workflows whose instant came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_graph_fuzz import IDS, removals
from test_graph_fuzz import rows_strategy as any_rows

from limbo_tui import diagnose as diagnose_module
from limbo_tui import live_diagnoses as live_module
from limbo_tui import model
from limbo_tui.diagnose import (
    LIMBO,
    WARNING,
    Diagnosis,
    by_workflow,
    diagnose,
    diagnose_ids,
    summary,
)
from limbo_tui.fleet import fleet_of
from limbo_tui.live_diagnoses import LiveDiagnoses
from limbo_tui.model import GET_RESULT_STEP, Row, Step, Workflow, WorkflowGraph
from limbo_tui.registry import DBOS_2_8, DBOS_3, QueueSettings, Registry
from limbo_tui.settings import LimboSettings
from limbo_tui.waits import SLEEP_STEP

FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = {"parent_wf": 2}
executors = st.frozensets(st.sampled_from(["ex-1", "ex-2"]))

# Rows that make the rules fire: parents PENDING on their children (the ids of
# test_graph_fuzz, "p-1" being p's child), children dead-lettered or stalling, steps
# whose times decide "stuck", results that answer a call. Mixed with the fuzz's own.
time_ms = st.none() | st.integers(0, 2_000_000)
family_workflows = st.builds(
    Workflow,
    id=st.sampled_from(IDS),
    status=st.sampled_from(
        [model.PENDING, model.PENDING, model.ENQUEUED, model.MAX_RECOVERY_ATTEMPTS_EXCEEDED]
    )
    | st.sampled_from([model.ERROR, model.SUCCESS, "SOMETHING_NEW"]),
    name=st.sampled_from(["parent_wf", "child_wf"]),
    parent_id=st.sampled_from([None, "p", "p", "q"]),
    queue=st.just("example-queue"),
    dedup_id=st.none() | st.just("6/5"),
    executor_id=st.sampled_from(["ex-1", "ex-2"]),
    app_version=st.sampled_from([None, "v1", "v2"]),
    recovery_attempts=st.integers(0, 5),
    created_at_ms=time_ms,
    updated_at_ms=time_ms,
)
family_steps = st.builds(
    Step,
    workflow_id=st.sampled_from(["p", "p", "q", "p-1", "p-2"]),
    function_id=st.integers(1, 3),
    name=st.sampled_from(["child_wf", "child_wf", GET_RESULT_STEP, "step", SLEEP_STEP]),
    child_workflow_id=st.none() | st.sampled_from(["p-1", "p-2", "q-1"]),
    started_at_ms=time_ms,
    completed_at_ms=time_ms,
    # A DBOS.sleep row's deadline (epoch seconds, JSON), or nothing.
    output=st.none() | st.integers(0, 4_000).map(str),
    serialization=st.just("portable_json"),
)
# Work of two executors and two versions on one queue, with waits: the fleet rules.
fleet_workflows = st.builds(
    Workflow,
    id=st.sampled_from(IDS),
    status=st.sampled_from([model.PENDING, model.ENQUEUED, model.SUCCESS]),
    name=st.just("child_wf"),
    queue=st.just("example-queue"),
    executor_id=st.sampled_from(["ex-1", "ex-2"]),
    app_version=st.sampled_from(["v1", "v2"]),
    created_at_ms=st.integers(0, 3_000_000),
    updated_at_ms=st.integers(0, 3_000_000),
)
wait_steps = st.builds(
    Step,
    workflow_id=st.sampled_from(IDS),
    function_id=st.sampled_from([2, 3]),
    name=st.just(SLEEP_STEP),
    started_at_ms=time_ms,
    completed_at_ms=time_ms,
    output=st.integers(0, 4_000).map(str),
    serialization=st.just("portable_json"),
)
# What the database says of its queues and release: a concurrency-1 queue can be blocked.
registries = st.builds(
    Registry,
    release=st.sampled_from([DBOS_2_8, DBOS_3, Registry().release]),
    queues=st.sampled_from(
        [
            (),
            (QueueSettings("example-queue", concurrency=1),),
            (QueueSettings("example-queue", worker_concurrency=1),),
            (QueueSettings("example-queue"),),
        ]
    ),
)
rows_strategy = st.one_of(
    any_rows,
    st.lists(
        st.one_of(family_workflows, family_steps, family_steps, removals, registries),
        max_size=30,
    ),
    st.lists(st.one_of(fleet_workflows, wait_steps, registries, removals), max_size=20),
)


@dataclass(frozen=True)
class Repaint:
    """Batches applied one after the other, then one repaint for all of them."""

    batches: list[list[Row]]


@dataclass(frozen=True)
class Tick:
    """Time passes (and the worker may have gone down or come back)."""

    advance_ms: int
    down: frozenset[str]


@dataclass(frozen=True)
class ToNextInstant:
    """The clock lands on the next scheduled instant, or just before it (the boundary)."""

    offset_ms: int


@dataclass(frozen=True)
class NewLimits:
    limits: dict[str, int]


operations = st.lists(
    st.one_of(
        st.builds(Repaint, st.lists(rows_strategy, min_size=1, max_size=3)),
        st.builds(Repaint, st.lists(rows_strategy, min_size=1, max_size=3)),
        st.builds(Tick, st.integers(0, 1_500_000), executors),
        st.builds(Tick, st.integers(0, 10_000), st.just(frozenset[str]())),
        st.builds(ToNextInstant, st.sampled_from([-1, 0, 0])),
        st.builds(NewLimits, st.dictionaries(st.just("parent_wf"), st.integers(0, 4))),
    ),
    max_size=12,
)
limbo_settings = st.builds(
    LimboSettings,
    stalled_after_s=st.floats(0, 3_000),
    enqueued_after_s=st.floats(0, 3_000),
    near_max_margin=st.integers(-1, 3),
)


def assert_same_as_full(
    live: LiveDiagnoses, g: WorkflowGraph, now: int, limbo: LimboSettings, down: frozenset[str]
) -> None:
    full = diagnose(g, now, limbo, down)
    assert live.fleet == fleet_of(g, now, limbo, down)
    assert live.ordered(g) == full
    grouped = by_workflow(full)
    assert all(live.of(wid) == grouped.get(wid, []) for wid in IDS)
    assert live.limbo_ids == {d.workflow_id for d in full if d.severity == LIMBO}
    assert live.warning_ids == {d.workflow_id for d in full if d.severity == WARNING}
    assert live.summary == summary(full)
    # Nothing the clock alone changes comes before the next scheduled instant: a full
    # diagnosis anywhere before it says what the held one says now.
    at = live.next_change_ms()
    assert at is None or at > now
    last = at - 1 if at is not None else now + 10_000_000
    for t in {now + 1, (now + last) // 2, last}:
        if now < t <= last:
            assert diagnose(g, t, limbo, down) == full, f"changed at {t} before {at}"


@FAST
@given(
    start=rows_strategy,
    ops=operations,
    now=st.integers(0, 3_000_000),
    down=executors,
    limbo=limbo_settings,
)
def test_incremental_diagnoses_equal_a_full_diagnose_after_any_history(
    start: list[Row],
    ops: list[Repaint | Tick | ToNextInstant | NewLimits],
    now: int,
    down: frozenset[str],
    limbo: LimboSettings,
) -> None:
    g = WorkflowGraph().with_limits(LIMITS)
    live = LiveDiagnoses()
    live.redo_all(g, now, limbo, down)  # the app's first paint, on an empty graph
    g.replace_all(start)  # the snapshot
    live.redo_all(g, now, limbo, down)
    assert_same_as_full(live, g, now, limbo, down)
    for op in ops:
        if isinstance(op, Repaint):
            changed: set[str] = set()
            for rows in op.batches:
                changed |= g.apply(rows)
            live.after_change(g, changed, now, limbo, down)
        elif isinstance(op, Tick):
            now, down = now + op.advance_ms, op.down
            live.after_tick(g, now, limbo, down)
        elif isinstance(op, ToNextInstant):
            at = live.next_change_ms()
            if at is not None:
                assert at > now
                now = max(now, at + op.offset_ms)
            live.after_tick(g, now, limbo, down)
        else:
            g.with_limits(op.limits)
            live.redo_all(g, now, limbo, down)
        assert_same_as_full(live, g, now, limbo, down)


@FAST
@given(
    rows=rows_strategy,
    ids=st.lists(st.sampled_from([*IDS, "not-loaded"])),
    now=st.integers(0, 4_000_000),
    down=executors,
    limbo=limbo_settings,
)
def test_diagnose_ids_is_the_full_diagnosis_of_those_ids(
    rows: list[Row], ids: list[str], now: int, down: frozenset[str], limbo: LimboSettings
) -> None:
    g = WorkflowGraph().with_limits(LIMITS)
    g.apply(rows)
    full = by_workflow(diagnose(g, now, limbo, down))
    some = by_workflow(diagnose_ids(g, dict.fromkeys(ids), now, limbo, down))
    assert some == {wid: full[wid] for wid in dict.fromkeys(ids) if wid in full}


def test_a_repaint_after_the_worker_went_down_marks_the_orphans() -> None:
    # The worker's state is read at the next repaint, which may bring no row at all.
    from limbo_tui.model import Workflow

    g = WorkflowGraph()
    g.apply([Workflow("w", "PENDING", executor_id="ex-1", created_at_ms=0, updated_at_ms=0)])
    limbo = LimboSettings(stalled_after_s=3_600, enqueued_after_s=3_600, near_max_margin=0)
    live = LiveDiagnoses()
    live.redo_all(g, 1_000, limbo, frozenset())
    assert live.of("w") == []
    assert live.after_change(g, set(), 1_000, limbo, frozenset({"ex-1"})) == {"w"}
    assert [d.kind for d in live.of("w")] == ["orphaned"]
    assert live.summary.warnings == 1


LONG = LimboSettings(stalled_after_s=60, enqueued_after_s=3_600, near_max_margin=0)


def test_a_parent_collecting_its_dead_child_updates_the_childs_sentence() -> None:
    # Only the parent's steps change, yet the dead child's reason ("its parent still
    # waits for it") is about the parent.
    g = WorkflowGraph()
    g.apply(
        [
            Workflow("p", "PENDING", created_at_ms=0, updated_at_ms=0),
            Workflow("p-1", model.MAX_RECOVERY_ATTEMPTS_EXCEEDED, parent_id="p"),
        ]
    )
    live = LiveDiagnoses()
    live.redo_all(g, 1_000, LONG, frozenset())
    assert "still waits" in live.of("p-1")[0].reason
    changed = g.apply([Step("p", 2, GET_RESULT_STEP, child_workflow_id="p-1")])
    assert live.after_change(g, changed, 1_000, LONG, frozenset()) >= {"p-1"}
    assert "still waits" not in live.of("p-1")[0].reason


def test_a_child_making_progress_keeps_its_waiting_parent_from_stalling() -> None:
    # Only the child's steps change; the parent's "stalled" depends on them.
    g = WorkflowGraph()
    g.apply(
        [
            Workflow("p", "PENDING", created_at_ms=0, updated_at_ms=0),
            Workflow("p-1", "PENDING", parent_id="p", created_at_ms=0, updated_at_ms=0),
        ]
    )
    live = LiveDiagnoses()
    live.redo_all(g, 120_000, LONG, frozenset())
    assert [d.kind for d in live.of("p")] == ["stalled"]
    changed = g.apply([Step("p-1", 1, "step", completed_at_ms=110_000)])
    assert live.after_change(g, changed, 120_000, LONG, frozenset()) >= {"p"}
    assert live.of("p") == [] and live.of("p-1") == []


def test_a_write_by_the_same_executor_clears_the_orphan_of_another_workflow() -> None:
    # Only "busy" changes, yet "w"'s diagnosis is about its executor, which "busy" shows
    # to be alive.
    g = WorkflowGraph()
    g.apply([Workflow("w", "PENDING", executor_id="ex-1", created_at_ms=0, updated_at_ms=0)])
    live = LiveDiagnoses()
    live.redo_all(g, 120_000, LONG, frozenset())
    assert [d.kind for d in live.of("w")] == ["orphaned"]
    changed = g.apply([Workflow("busy", "PENDING", executor_id="ex-1", updated_at_ms=119_000)])
    assert live.after_change(g, changed, 120_000, LONG, frozenset()) >= {"w"}
    assert [d.kind for d in live.of("w")] == ["stalled"]


def test_a_new_waiter_on_a_blocked_queue_updates_the_holders_sentence() -> None:
    registry = Registry(queues=(QueueSettings("q_one", concurrency=1),))
    g = WorkflowGraph()
    g.apply(
        [
            registry,
            Workflow("holder", "PENDING", queue="q_one", executor_id="ex-a", updated_at_ms=0),
            Workflow("w1", "ENQUEUED", queue="q_one", created_at_ms=100_000),
        ]
    )
    live = LiveDiagnoses()
    live.redo_all(g, 120_000, LONG, frozenset())
    assert "1 waiting" in live.of("holder")[0].reason
    changed = g.apply([Workflow("w2", "ENQUEUED", queue="q_one", created_at_ms=119_000)])
    assert live.after_change(g, changed, 120_000, LONG, frozenset()) >= {"holder", "w2"}
    assert "2 waiting" in live.of("holder")[0].reason


class DiagnosedIds:
    """Which workflows the rules ran on, and whether anything walked every workflow."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ids: list[str] = []
        self.walks = 0
        one = diagnose_module._diagnose_one
        ticking = live_module.ticking_ids

        def counted_one(graph: WorkflowGraph, wid: str, *rest: Any) -> list[Diagnosis]:
            self.ids.append(wid)
            return one(graph, wid, *rest)

        def counted_ticking(graph: WorkflowGraph) -> list[str]:
            self.walks += 1
            return ticking(graph)

        monkeypatch.setattr(diagnose_module, "_diagnose_one", counted_one)
        monkeypatch.setattr(live_module, "ticking_ids", counted_ticking)

    def take(self) -> list[str]:
        ids, self.ids = self.ids, []
        return ids


STALLED_60 = LimboSettings(stalled_after_s=60, enqueued_after_s=600, near_max_margin=0)


def test_a_tick_diagnoses_only_the_workflows_whose_instant_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 300 PENDING workflows whose last progress is a second apart: in the first 30 s one
    # a second passes the stalled threshold, and each second the "for Nm" of about five
    # moves on; the others' diagnoses cannot change, and a tick must not look at them.
    n, start = 300, 330_000
    g = WorkflowGraph()
    g.apply(
        [Workflow(f"w{i}", "PENDING", created_at_ms=0, updated_at_ms=i * 1_000) for i in range(n)]
    )
    live = LiveDiagnoses()
    live.redo_all(g, start, STALLED_60, frozenset())
    counted = DiagnosedIds(monkeypatch)
    before = by_workflow(diagnose(g, start, STALLED_60))
    touched: set[str] = set()
    for now in range(start + 1_000, start + 71_000, 1_000):
        counted.take()  # the full diagnosis below runs the same rules
        changed = live.after_tick(g, now, STALLED_60, frozenset())
        ids = counted.take()
        full = by_workflow(diagnose(g, now, STALLED_60))
        differ = {w for w in set(full) | set(before) if full.get(w) != before.get(w)}
        # Exactly the workflows whose diagnoses moved on this second, each once.
        assert sorted(ids) == sorted(differ) == sorted(changed)
        assert 0 < len(ids) <= 20
        touched |= differ
        before = full
    assert counted.walks == 0  # nothing walked every workflow
    # Over 70 s every one of them got stalled or its minute moved on.
    assert touched == {f"w{i}" for i in range(n)}


def test_an_executor_going_silent_redoes_its_workflows_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ex-1 last wrote at 20 s, ex-2 at 50 s: ex-1 goes silent at 80 s (stalled after 60 s),
    # which turns its stalled workflows into orphans; ex-2's stay as they are.
    g = WorkflowGraph()
    g.apply([Workflow(f"a{i}", "PENDING", executor_id="ex-1", updated_at_ms=0) for i in range(50)])
    g.apply([Workflow("a-done", "SUCCESS", executor_id="ex-1", updated_at_ms=20_000)])
    g.apply(
        [Workflow(f"b{i}", "PENDING", executor_id="ex-2", updated_at_ms=50_000) for i in range(50)]
    )
    live = LiveDiagnoses()
    live.redo_all(g, 79_000, STALLED_60, frozenset())
    assert {d.kind for i in range(50) for d in live.of(f"a{i}")} == {"stalled"}
    counted = DiagnosedIds(monkeypatch)
    assert live.next_change_ms() == 80_001
    assert live.after_tick(g, 80_000, STALLED_60, frozenset()) == set()
    assert counted.take() == []
    changed = live.after_tick(g, 80_001, STALLED_60, frozenset())
    assert changed == {f"a{i}" for i in range(50)}
    assert set(counted.take()) == changed
    assert {d.kind for i in range(50) for d in live.of(f"a{i}")} == {"orphaned"}
    assert all(live.of(f"b{i}") == [] for i in range(50))
    assert live.ordered(g) == diagnose(g, 80_001, STALLED_60)


def test_a_late_step_of_a_blocked_queues_holder_updates_the_waiters_sentence() -> None:
    # The holder stays stuck (its step is old), so the Fleet is equal; only its idle time,
    # named in the waiter's sentence, changed.
    registry = Registry(queues=(QueueSettings("q_one", concurrency=1),))
    g = WorkflowGraph()
    g.apply(
        [
            registry,
            Workflow("holder", "PENDING", queue="q_one", updated_at_ms=0),
            Workflow("w1", "ENQUEUED", queue="q_one", created_at_ms=100_000),
        ]
    )
    live = LiveDiagnoses()
    live.redo_all(g, 400_000, LONG, frozenset())
    assert "(holder (no progress))" in live.of("w1")[0].reason
    changed = g.apply([Step("holder", 1, "step", completed_at_ms=200_000)])
    assert live.after_change(g, changed, 400_000, LONG, frozenset()) >= {"w1"}
    assert "(holder (no progress for 3m))" in live.of("w1")[0].reason
    assert live.ordered(g) == diagnose(g, 400_000, LONG)
