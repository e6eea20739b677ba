"""The limbo rules on plain data: what the user is told, and when they are not bothered."""

from __future__ import annotations

import pytest

from limbo_tui import diagnose as dg
from limbo_tui.diagnose import Diagnosis, LimboSummary, diagnose, summary
from limbo_tui.model import GET_RESULT_STEP, Step, Workflow, WorkflowGraph
from limbo_tui.settings import LimboSettings
from tests import seed

LIMBO = LimboSettings(stalled_after_s=300, enqueued_after_s=600, near_max_margin=1)
T0 = seed.CREATED_MS
NOW = T0 + 3_600_000  # an hour later: every grace period is long over
PARENT = seed.PARENT
CHILD = seed.CHILD


def graph(*rows: Workflow | Step, limits: dict[str, int] | None = None) -> WorkflowGraph:
    g = WorkflowGraph(limits=dict(limits or {}))
    g.apply(rows)
    return g


def kinds(diags: list[Diagnosis], workflow_id: str | None = None) -> list[str]:
    return [d.kind for d in diags if workflow_id is None or d.workflow_id == workflow_id]


# The seed's rows last written a minute before NOW, with no maximum of their own: the
# tests that need the recovery limits give them to the graph.
AS_READ = {"updated_at_ms": NOW - 60_000, "max_recovery_attempts": None}


def seed_parent(**kw: object) -> Workflow:
    return seed.parent(**{**AS_READ, **kw})


def seed_child(**kw: object) -> Workflow:
    return seed.child(**{**AS_READ, **kw})


def child_call(parent: str = PARENT, fid: int = 1, child: str = CHILD) -> Step:
    return seed.child_call(
        workflow_id=parent, function_id=fid, child_workflow_id=child, completed_at_ms=NOW - 60_000
    )


def get_result(parent: str = PARENT, fid: int = 2, child: str = CHILD, **kw: object) -> Step:
    return Step(parent, fid, GET_RESULT_STEP, child_workflow_id=child, **kw)  # type: ignore[arg-type]


# -- the seed ----------------------------------------------------------------------------


def test_seed_state_is_limbo_and_names_the_blocked_dedup_id() -> None:
    g = graph(seed_parent(), child_call(), seed_child())
    diags = diagnose(g, NOW, LIMBO)

    parent = {d.kind: d for d in diags if d.workflow_id == PARENT}
    awaiting = parent[dg.AWAITING_DEAD_CHILD]
    assert awaiting.severity == "limbo"
    assert CHILD in awaiting.reason and "MAX_RECOVERY_ATTEMPTS_EXCEEDED" in awaiting.reason
    assert awaiting.action.startswith("c: cancel it (frees dedup id 6/5)")

    blocked = parent[dg.DEDUP_BLOCKED]
    assert blocked.severity == "limbo"
    assert "dedup id 6/5 on queue example-queue" in blocked.reason.lower()
    assert "rejected" in blocked.reason
    assert "c: cancel" in blocked.action and "u: resume" in blocked.action

    child = [d for d in diags if d.workflow_id == CHILD]
    assert [d.kind for d in child] == [dg.DEAD_LETTERED]
    assert child[0].severity == "info" and PARENT in child[0].reason

    assert summary(diags).text == "1 in limbo, 1 dedup id blocked"
    # Limbo first, the child's info last.
    assert [d.severity for d in diags] == sorted(
        (d.severity for d in diags), key=dg.SEVERITIES.index
    )


def test_seed_limbo_holds_with_parent_id_link_only() -> None:
    # Steps of the parent not loaded: parent_workflow_id alone links the child.
    g = graph(seed_parent(), seed_child())
    assert kinds(diagnose(g, NOW, LIMBO), PARENT)[:2] == [dg.AWAITING_DEAD_CHILD, dg.DEDUP_BLOCKED]


def test_seed_limbo_holds_with_call_step_only_as_in_dbos_2_8() -> None:
    # dbos 2.8 has no parent_workflow_id column: only the call step links them.
    g = graph(seed_parent(), child_call(), seed_child(parent_id=None))
    assert dg.AWAITING_DEAD_CHILD in kinds(diagnose(g, NOW, LIMBO), PARENT)


def test_dbos_2_12_form_parent_error_dedup_freed_is_not_limbo() -> None:
    g = graph(
        seed_parent(status="ERROR", dedup_id=None, queue=None, recovery_attempts=1),
        child_call(),
        get_result(error="DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded"),
        seed_child(),
    )
    diags = diagnose(g, NOW, LIMBO)
    assert [d for d in diags if d.severity == "limbo"] == []
    assert kinds(diags) == [dg.DEAD_LETTERED]
    # Its parent no longer waits, so the sentence does not claim it does.
    assert "waits" not in diags[0].reason
    assert summary(diags).text == "nothing in limbo"


# -- awaiting-dead-child ------------------------------------------------------------------


@pytest.mark.parametrize("status", ["MAX_RECOVERY_ATTEMPTS_EXCEEDED", "CANCELLED", "ERROR"])
def test_awaiting_dead_child_for_each_dead_status(status: str) -> None:
    g = graph(seed_parent(dedup_id=None), child_call(), seed_child(status=status))
    diags = diagnose(g, NOW, LIMBO)
    assert kinds(diags, PARENT) == [dg.AWAITING_DEAD_CHILD]
    assert status in diags[0].reason


@pytest.mark.parametrize("status", ["SUCCESS", "PENDING", "ENQUEUED", "WEIRD_NEW_STATUS"])
def test_no_awaiting_dead_child_when_child_can_still_answer(status: str) -> None:
    g = graph(seed_parent(dedup_id=None), child_call(), seed_child(status=status))
    assert dg.AWAITING_DEAD_CHILD not in kinds(diagnose(g, NOW, LIMBO))


def test_no_awaiting_dead_child_once_the_parent_recorded_the_result() -> None:
    g = graph(seed_parent(), child_call(), get_result(), seed_child(), limits={"dbos_workflow": 2})
    # Only the recovery warning is left: no limbo, the dedup id is not reported blocked.
    assert kinds(diagnose(g, NOW, LIMBO), PARENT) == [dg.NEAR_MAX_RECOVERY]


def test_no_awaiting_dead_child_for_a_parent_that_is_not_pending() -> None:
    for status in ("SUCCESS", "ENQUEUED", "CANCELLED"):
        g = graph(seed_parent(status=status, dedup_id=None), child_call(), seed_child())
        assert dg.AWAITING_DEAD_CHILD not in kinds(diagnose(g, NOW, LIMBO))


def test_child_not_loaded_is_not_assumed_dead() -> None:
    g = graph(seed_parent(), child_call())
    assert dg.AWAITING_DEAD_CHILD not in kinds(diagnose(g, NOW, LIMBO))


def test_a_child_that_just_failed_gets_a_moment_to_be_answered() -> None:
    just = NOW - dg.ANSWER_GRACE_MS // 2
    g = graph(seed_parent(updated_at_ms=just), child_call(), seed_child(updated_at_ms=just))
    assert dg.AWAITING_DEAD_CHILD not in kinds(diagnose(g, NOW, LIMBO))
    later = NOW + dg.ANSWER_GRACE_MS
    assert dg.AWAITING_DEAD_CHILD in kinds(diagnose(g, later, LIMBO))


def test_several_dead_children_are_counted_in_one_sentence() -> None:
    rows: list[Workflow | Step] = [seed_parent(dedup_id=None)]
    for i in range(1, 5):
        rows += [child_call(fid=i, child=f"{PARENT}-{i}"), seed_child(id=f"{PARENT}-{i}")]
    diags = diagnose(graph(*rows), NOW, LIMBO)
    reason = next(d.reason for d in diags if d.kind == dg.AWAITING_DEAD_CHILD)
    assert reason.startswith("It waits for 4 children") and "2 more" in reason
    assert reason.count(".") == reason.count(". ") + 1  # one sentence


# -- dedup-blocked ------------------------------------------------------------------------


def test_dedup_blocked_for_a_stalled_holder() -> None:
    g = graph(
        Workflow(
            "w",
            "PENDING",
            queue="q",
            dedup_id="job-7",
            created_at_ms=NOW - 900_000,
            updated_at_ms=NOW - 900_000,
        )
    )
    diags = diagnose(g, NOW, LIMBO)
    assert kinds(diags) == [dg.DEDUP_BLOCKED, dg.STALLED]
    assert "job-7" in diags[0].reason and "15m" in diags[0].reason


def test_no_dedup_blocked_for_a_healthy_holder_or_without_dedup_id() -> None:
    healthy = Workflow("w", "PENDING", queue="q", dedup_id="d", updated_at_ms=NOW - 1_000)
    assert diagnose(graph(healthy), NOW, LIMBO) == []
    no_dedup = graph(seed_parent(dedup_id=None), child_call(), seed_child())
    assert dg.DEDUP_BLOCKED not in kinds(diagnose(no_dedup, NOW, LIMBO))
    assert summary(diagnose(no_dedup, NOW, LIMBO)).text == "1 in limbo"


# -- orphaned -----------------------------------------------------------------------------


def test_orphaned_when_the_executor_is_down() -> None:
    g = graph(Workflow("w", "PENDING", executor_id="ex-1", updated_at_ms=NOW - 900_000))
    diags = diagnose(g, NOW, LIMBO, frozenset({"ex-1"}))
    # The executor being down explains the lack of progress: no separate `stalled`.
    assert kinds(diags) == [dg.ORPHANED]
    assert diags[0].severity == "warning" and diags[0].action.startswith("r: restart")
    # ex-1 is not known down, but has written nothing for longer than the threshold.
    silent = diagnose(g, NOW, LIMBO, frozenset({"ex-2"}))
    assert kinds(silent) == [dg.ORPHANED]
    assert "Executor ex-1 has written nothing since" in silent[0].reason
    # ex-1 still writes (another of its workflows moves): this one is stalled, not orphaned.
    g.apply([Workflow("busy", "PENDING", executor_id="ex-1", updated_at_ms=NOW - 1_000)])
    assert kinds(diagnose(g, NOW, LIMBO, frozenset({"ex-2"})), "w") == [dg.STALLED]


def test_not_orphaned_when_finished_or_enqueued() -> None:
    for status in ("SUCCESS", "ENQUEUED"):
        g = graph(Workflow("w", status, executor_id="ex-1", updated_at_ms=NOW))
        assert dg.ORPHANED not in kinds(diagnose(g, NOW, LIMBO, frozenset({"ex-1"})))


# -- stalled ------------------------------------------------------------------------------


def test_stalled_after_the_threshold_and_not_before() -> None:
    g = graph(Workflow("w", "PENDING", updated_at_ms=NOW - 301_000))
    assert kinds(diagnose(g, NOW, LIMBO)) == [dg.STALLED]
    g.apply([Step("w", 1, "work", completed_at_ms=NOW - 10_000)])
    assert diagnose(g, NOW, LIMBO) == []


def test_parent_waiting_on_a_running_child_is_not_stalled() -> None:
    g = graph(
        Workflow(PARENT, "PENDING", updated_at_ms=NOW - 900_000),
        child_call(),
        Workflow(CHILD, "PENDING", parent_id=PARENT, updated_at_ms=NOW - 1_000),
    )
    assert diagnose(g, NOW, LIMBO) == []


def test_no_time_known_means_no_stalled() -> None:
    assert diagnose(graph(Workflow("w", "PENDING")), NOW, LIMBO) == []


# -- near-max-recovery ----------------------------------------------------------------------


def test_near_max_recovery_within_the_margin() -> None:
    limits = {"wf": 2}
    rows = [Workflow("w", "PENDING", name="wf", recovery_attempts=1, updated_at_ms=NOW)]
    assert diagnose(graph(*rows, limits=limits), NOW, LIMBO) == []
    rows = [Workflow("w", "PENDING", name="wf", recovery_attempts=2, updated_at_ms=NOW)]
    diags = diagnose(graph(*rows, limits=limits), NOW, LIMBO)
    assert kinds(diags) == [dg.NEAR_MAX_RECOVERY] and "1 more time" in diags[0].reason
    rows = [Workflow("w", "PENDING", name="wf", recovery_attempts=3, updated_at_ms=NOW)]
    diags = diagnose(graph(*rows, limits=limits), NOW, LIMBO)
    assert "next recovery dead-letters it" in diags[0].reason
    wider = LimboSettings(near_max_margin=2)
    rows = [Workflow("w", "PENDING", name="wf", recovery_attempts=1, updated_at_ms=NOW)]
    assert kinds(diagnose(graph(*rows, limits=limits), NOW, wider)) == [dg.NEAR_MAX_RECOVERY]


def test_no_near_max_recovery_when_max_unknown_or_finished() -> None:
    rows = [Workflow("w", "PENDING", name="wf", recovery_attempts=99, updated_at_ms=NOW)]
    assert diagnose(graph(*rows), NOW, LIMBO) == []
    done = [Workflow("w", "SUCCESS", name="wf", recovery_attempts=3)]
    assert diagnose(graph(*done, limits={"wf": 2}), NOW, LIMBO) == []


def test_row_max_recovery_attempts_counts_as_known() -> None:
    row = Workflow("w", "PENDING", recovery_attempts=5, max_recovery_attempts=5, updated_at_ms=NOW)
    assert kinds(diagnose(graph(row), NOW, LIMBO)) == [dg.NEAR_MAX_RECOVERY]


# -- dead-lettered ----------------------------------------------------------------------------


def test_dead_lettered_is_info_and_offers_resume() -> None:
    g = graph(Workflow("w", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", name="wf", recovery_attempts=4))
    diags = diagnose(g.with_limits({"wf": 2}), NOW, LIMBO)
    assert kinds(diags) == [dg.DEAD_LETTERED]
    assert diags[0].severity == "info" and "max_recovery_attempts 2" in diags[0].reason
    assert diags[0].action.startswith("u: resume")
    assert summary(diags) == LimboSummary(0, 0, 0)


# -- stuck-enqueued ------------------------------------------------------------------------


def test_stuck_enqueued_after_the_threshold() -> None:
    g = graph(Workflow("w", "ENQUEUED", queue="example-queue", created_at_ms=NOW - 601_000))
    diags = diagnose(g, NOW, LIMBO)
    assert kinds(diags) == [dg.STUCK_ENQUEUED] and "example-queue" in diags[0].reason
    fresh = graph(Workflow("w", "ENQUEUED", queue="q", created_at_ms=NOW - 599_000))
    assert diagnose(fresh, NOW, LIMBO) == []
    # A resumed workflow is enqueued again: its update time counts, not its creation.
    resumed = Workflow("w", "ENQUEUED", created_at_ms=NOW - 9e6, updated_at_ms=NOW - 1_000)
    assert diagnose(graph(resumed), NOW, LIMBO) == []


def test_delayed_is_not_stuck_enqueued() -> None:
    g = graph(Workflow("w", "DELAYED", created_at_ms=NOW - 9_000_000))
    assert diagnose(g, NOW, LIMBO) == []


# -- vocabulary, order, summary, weird data ---------------------------------------------------


def test_every_kind_has_a_severity_from_the_list() -> None:
    assert set(dg.SEVERITY_OF) == set(dg.KINDS)
    assert set(dg.SEVERITY_OF.values()) <= set(dg.SEVERITIES)
    assert dg.SEVERITIES == ("limbo", "warning", "info")


def test_order_is_severity_then_oldest_workflow() -> None:
    g = graph(
        Workflow("young-dead", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", created_at_ms=50),
        Workflow("old-stalled", "PENDING", created_at_ms=1, updated_at_ms=1),
        Workflow("young-stalled", "PENDING", created_at_ms=10, updated_at_ms=10),
        Workflow("no-time-stalled", "PENDING", updated_at_ms=None, created_at_ms=None),
    )
    g.apply([Step("no-time-stalled", 1, "s", completed_at_ms=5)])
    order = [(d.workflow_id, d.kind) for d in diagnose(g, NOW, LIMBO)]
    assert order == [
        ("old-stalled", dg.STALLED),
        ("young-stalled", dg.STALLED),
        ("no-time-stalled", dg.STALLED),
        ("young-dead", dg.DEAD_LETTERED),
    ]


def test_summary_counts_workflows_not_diagnoses() -> None:
    g = graph(
        seed_parent(),
        child_call(),
        seed_child(),
        Workflow("s", "PENDING", updated_at_ms=1),
        Workflow("e", "ENQUEUED", created_at_ms=1),
    )
    s = summary(diagnose(g.with_limits({"dbos_workflow": 2}), NOW, LIMBO))
    # The seed parent's near-max warning does not count twice: it is already in limbo.
    assert s == LimboSummary(in_limbo=1, dedup_blocked=1, warnings=2)
    assert s.text == "1 in limbo, 1 dedup id blocked, 2 warnings"


def test_hostile_text_from_the_database_cannot_reach_the_terminal() -> None:
    evil = "6/5\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"
    g = graph(seed_parent(dedup_id=evil, queue="q\x1b[31m"), child_call(), seed_child())
    for d in diagnose(g, NOW, LIMBO):
        for text in (d.reason, d.action):
            assert "\x1b" not in text and "\x07" not in text
    blocked = next(d for d in diagnose(g, NOW, LIMBO) if d.kind == dg.DEDUP_BLOCKED)
    assert "6/5" in blocked.reason


def test_weird_data_does_not_break_diagnose() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            Workflow("none-status", None, recovery_attempts=None),  # type: ignore[arg-type]
            Workflow("future", "SOMETHING_NEW", updated_at_ms=NOW + 10**9),
            Workflow("a", "PENDING", parent_id="b", updated_at_ms=1),
            Workflow("b", "PENDING", parent_id="a", updated_at_ms=1),
            Step("a", 1, "child", child_workflow_id="b"),
            Step("b", 1, "child", child_workflow_id="a"),
            Workflow("dead", "ERROR", parent_id="a", updated_at_ms=1),
        ]
    )
    diags = diagnose(g, NOW, LIMBO, frozenset({None}))  # type: ignore[arg-type]
    assert (("a", dg.AWAITING_DEAD_CHILD)) in [(d.workflow_id, d.kind) for d in diags]
    assert {d.kind for d in diags} <= set(dg.KINDS)


# -- a parent waiting on a child that is itself stuck --------------------------------------


def test_parent_waiting_on_a_stalled_child_blocks_its_dedup_id() -> None:
    hour_ago = NOW - 3_600_000
    # No executor known: stalled (a silent executor's work would be orphaned).
    stuck_child = seed_child(
        status="PENDING", recovery_attempts=1, updated_at_ms=hour_ago, executor_id=None
    )
    old_call = Step(PARENT, 1, "child_workflow", child_workflow_id=CHILD, completed_at_ms=hour_ago)
    g = graph(seed_parent(updated_at_ms=hour_ago), old_call, stuck_child)
    diags = diagnose(g, NOW, LIMBO)
    assert dg.DEDUP_BLOCKED in kinds(diags, PARENT)
    assert dg.STALLED in kinds(diags, CHILD)


def test_parent_waiting_on_a_busy_child_is_left_alone() -> None:
    hour_ago = NOW - 3_600_000
    busy_child = seed_child(status="PENDING", recovery_attempts=1, updated_at_ms=NOW - 5_000)
    old_call = Step(PARENT, 1, "child_workflow", child_workflow_id=CHILD, completed_at_ms=hour_ago)
    g = graph(seed_parent(updated_at_ms=hour_ago), old_call, busy_child)
    assert kinds(diagnose(g, NOW, LIMBO), PARENT) == []


def test_parent_waiting_on_an_orphaned_child_blocks_its_dedup_id() -> None:
    hour_ago = NOW - 3_600_000
    child = seed_child(status="PENDING", executor_id="gone", updated_at_ms=NOW - 5_000)
    old_call = Step(PARENT, 1, "child_workflow", child_workflow_id=CHILD, completed_at_ms=hour_ago)
    g = graph(seed_parent(updated_at_ms=hour_ago, executor_id="alive"), old_call, child)
    diags = diagnose(g, NOW, LIMBO, down_executors=frozenset({"gone"}))
    assert dg.DEDUP_BLOCKED in kinds(diags, PARENT)
