"""The executor, version, queue and wait rules on plain data: what DBOS 3.x users meet.

Two executors (a silent, b writing), two application versions, a concurrency-1 queue,
workflows waiting in DBOS.recv / get_event or a durable sleep; each state gets its
diagnosis and the sentence for the database's DBOS release.
"""

from __future__ import annotations

from limbo_tui import diagnose as dg
from limbo_tui.diagnose import Diagnosis, diagnose
from limbo_tui.fleet import FleetIndex, fleet_of
from limbo_tui.model import GET_RESULT_STEP, Step, Workflow, WorkflowGraph
from limbo_tui.registry import (
    DBOS_2_8,
    DBOS_3,
    AppVersion,
    DbosRelease,
    QueueSettings,
    Registry,
    release_from_schema,
    release_of,
)
from limbo_tui.settings import LimboSettings
from limbo_tui.waits import MESSAGE, SLEEP, SLEEP_STEP, current_wait

LIMBO = LimboSettings(stalled_after_s=60, enqueued_after_s=30, near_max_margin=0)
NOW = 1_800_000_000_000
MIN = 60_000


def graph(*rows: object, release: object = DBOS_3, **registry: object) -> WorkflowGraph:
    g = WorkflowGraph()
    g.apply([Registry(release=release, **registry)])  # type: ignore[arg-type]
    g.apply(rows)  # type: ignore[arg-type]
    return g


def of(diags: list[Diagnosis], wid: str) -> dict[str, Diagnosis]:
    return {d.kind: d for d in diags if d.workflow_id == wid}


def wf(wid: str, status: str = "PENDING", **kw: object) -> Workflow:
    fields: dict[str, object] = dict(
        executor_id="a", app_version="v1", created_at_ms=NOW - 10 * MIN, updated_at_ms=NOW
    )
    fields.update(kw)
    return Workflow(wid, status, **fields)  # type: ignore[arg-type]


def alive_b(version: str = "v1") -> Workflow:
    return wf("b-work", "SUCCESS", executor_id="b", app_version=version, updated_at_ms=NOW - 1_000)


# -- orphaned: a silent executor ----------------------------------------------------------


def test_work_of_a_silent_executor_is_orphaned_and_names_the_live_one() -> None:
    g = graph(wf("w", updated_at_ms=NOW - 5 * MIN), alive_b())
    d = of(diagnose(g, NOW, LIMBO), "w")
    assert list(d) == [dg.ORPHANED]
    reason = d[dg.ORPHANED].reason
    assert "Executor a has written nothing since" in reason and "while b on v1 is active" in reason
    assert "executor id and version v1" in reason.replace("that executor id and", "executor id and")
    # 3.x: resume hands it to any live executor of its version, and says it resets attempts.
    action = d[dg.ORPHANED].action
    assert action.startswith(
        "u: resume it: DBOS re-enqueues it for any live executor of version v1"
    )
    assert "resets its recovery attempts to 0" in action


def test_orphaned_when_every_executor_is_silent() -> None:
    g = graph(wf("w", updated_at_ms=NOW - 5 * MIN))
    reason = of(diagnose(g, NOW, LIMBO), "w")[dg.ORPHANED].reason
    assert "nor has any other executor" in reason


def test_not_orphaned_before_the_threshold_nor_while_the_executor_writes() -> None:
    assert diagnose(graph(wf("w", updated_at_ms=NOW - 30_000)), NOW, LIMBO) == []
    busy = wf("busy", updated_at_ms=NOW - 1_000)
    d = of(diagnose(graph(wf("w", updated_at_ms=NOW - 5 * MIN), busy), NOW, LIMBO), "w")
    assert list(d) == [dg.STALLED]


def test_on_2_8_too_resume_hands_the_orphan_over() -> None:
    # 2.8's resume_workflow also sets ENQUEUED on DBOS's internal queue, attempts 0.
    g = graph(wf("w", updated_at_ms=NOW - 5 * MIN), alive_b(), release=DBOS_2_8)
    action = of(diagnose(g, NOW, LIMBO), "w")[dg.ORPHANED].action
    assert action.startswith("u: resume it: DBOS re-enqueues it for any live executor")


# -- unserved-version ---------------------------------------------------------------------


def test_pending_work_of_a_version_no_live_executor_runs() -> None:
    g = graph(
        wf("w", updated_at_ms=NOW - 5 * MIN),
        alive_b("v2"),
        versions=(AppVersion("v1", 1), AppVersion("v2", 2)),
    )
    d = of(diagnose(g, NOW, LIMBO), "w")
    assert list(d) == [dg.UNSERVED_VERSION]  # not also "orphaned": resume would not help
    assert d[dg.UNSERVED_VERSION].severity == dg.LIMBO
    reason = d[dg.UNSERVED_VERSION].reason
    assert "No live executor runs version v1 (live: b on v2; latest registered is v2)" in reason
    assert "never runs" in reason
    assert d[dg.UNSERVED_VERSION].action.startswith("F: fork it onto version v2")


def test_enqueued_work_of_an_unserved_version_after_the_threshold() -> None:
    young = wf("young", "ENQUEUED", executor_id=None, updated_at_ms=NOW - 10_000)
    old = wf("old", "ENQUEUED", executor_id=None, updated_at_ms=NOW - 5 * MIN, queue="q")
    g = graph(young, old, alive_b("v2"))
    diags = diagnose(g, NOW, LIMBO)
    assert of(diags, "young") == {}
    assert list(of(diags, "old")) == [dg.UNSERVED_VERSION]
    assert (
        "dequeues it only on a worker of that version"
        in of(diags, "old")[dg.UNSERVED_VERSION].reason
    )


def test_versionless_or_served_work_is_not_unserved() -> None:
    served = wf("served", "ENQUEUED", executor_id=None, updated_at_ms=NOW - 5 * MIN, queue="q")
    any_version = wf("any", "ENQUEUED", app_version=None, updated_at_ms=NOW - 5 * MIN, queue="q")
    diags = diagnose(graph(served, any_version, alive_b("v1")), NOW, LIMBO)
    assert list(of(diags, "served")) == [dg.STUCK_ENQUEUED]
    assert list(of(diags, "any")) == [dg.STUCK_ENQUEUED]
    assert "(live: b on v1)" in of(diags, "served")[dg.STUCK_ENQUEUED].reason


# -- queue-blocked ------------------------------------------------------------------------


def q_one(*rows: Workflow, concurrency: int = 1) -> WorkflowGraph:
    return graph(*rows, queues=(QueueSettings("q_one", concurrency=concurrency),))


def test_a_concurrency_1_queue_held_by_a_dead_executors_workflow_is_blocked() -> None:
    holder = wf("0ae65423-aaaa-bbbb", queue="q_one", updated_at_ms=NOW - 5 * MIN)
    waiting = [
        wf(f"w{i}", "ENQUEUED", executor_id=None, queue="q_one", updated_at_ms=NOW - 1_000)
        for i in range(3)
    ]
    diags = diagnose(q_one(holder, *waiting, alive_b()), NOW, LIMBO)
    held = of(diags, holder.id)
    assert next(iter(held)) == dg.QUEUE_BLOCKED and held[dg.QUEUE_BLOCKED].severity == dg.LIMBO
    reason = held[dg.QUEUE_BLOCKED].reason
    assert reason.startswith("Queue q_one is blocked: 1 of 1 slot is held by 0ae65423 (executor a")
    assert "silent since" in reason and "3 waiting behind them" in reason
    assert held[dg.QUEUE_BLOCKED].action.startswith("c: cancel it (frees its slot)")
    for w in waiting:  # linked to the holder at once, without waiting for the threshold
        stuck = of(diags, w.id)[dg.STUCK_ENQUEUED]
        assert "q_one, whose 1 of 1 slot is held" in stuck.reason and "0ae65423" in stuck.reason


def test_a_queue_with_a_free_slot_or_a_holder_that_progresses_is_not_blocked() -> None:
    holder = wf("h", queue="q_one", updated_at_ms=NOW - 5 * MIN)
    waiting = wf("w", "ENQUEUED", executor_id=None, queue="q_one", updated_at_ms=NOW - 1_000)
    assert fleet_of(q_one(holder, waiting, concurrency=2), NOW, LIMBO).blocked_queues == {}
    moving = wf("h", queue="q_one", updated_at_ms=NOW - 1_000)
    assert fleet_of(q_one(moving, waiting), NOW, LIMBO).blocked_queues == {}
    # Nothing waits: nothing is blocked (the holder is orphaned, nothing more).
    assert fleet_of(q_one(holder), NOW, LIMBO).blocked_queues == {}
    # No registry row (2.8, < 2.21): the limit is unknown, so no claim is made.
    assert fleet_of(graph(holder, waiting), NOW, LIMBO).blocked_queues == {}


def test_a_per_worker_limit_blocks_only_when_every_live_executor_is_full() -> None:
    per_worker = (QueueSettings("q_w", worker_concurrency=1),)
    hung = wf("hung", queue="q_w", executor_id="b", updated_at_ms=NOW - 5 * MIN)
    b_alive = wf("b-other", "SUCCESS", executor_id="b", updated_at_ms=NOW - 1_000)
    waiting = wf("w", "ENQUEUED", executor_id=None, queue="q_w", updated_at_ms=NOW - 1_000)
    g = graph(hung, b_alive, waiting, queues=per_worker)
    blocked = fleet_of(g, NOW, LIMBO).blocked_queues["q_w"]
    assert blocked.per_worker and blocked.holders == ("hung",)
    reason = of(diagnose(g, NOW, LIMBO), "hung")[dg.QUEUE_BLOCKED].reason
    assert "1 of 1 slot is (worker_concurrency on every live executor) held" in reason
    # A second live executor with a free slot takes the waiting work: not blocked.
    c_alive = wf("c-other", "SUCCESS", executor_id="c", updated_at_ms=NOW - 1_000)
    g.apply([c_alive])
    assert fleet_of(g, NOW, LIMBO).blocked_queues == {}
    # A dead executor's hung work takes no live worker's slot: not blocked either.
    dead = graph(
        wf("hung", queue="q_w", updated_at_ms=NOW - 5 * MIN), alive_b(), waiting, queues=per_worker
    )
    assert fleet_of(dead, NOW, LIMBO).blocked_queues == {}


# -- waits: recv / get_event / sleep -----------------------------------------------------


def recv_wait(wid: str = "w", deadline_s: float = 1_895_000_000.0) -> list[Step]:
    """What DBOS 3.x writes before DBOS.recv("approval", timeout) waits: the step before,
    then the timeout's DBOS.sleep row one function id after the recv's own (empty) slot."""
    return [
        Step(wid, 1, "prepare", started_at_ms=NOW - 9 * MIN, completed_at_ms=NOW - 9 * MIN),
        Step(
            wid,
            3,
            SLEEP_STEP,
            started_at_ms=NOW - 9 * MIN,
            completed_at_ms=NOW - 9 * MIN,
            output=repr(deadline_s),
            serialization="portable_json",
        ),
    ]


def test_a_workflow_waiting_in_recv_is_waiting_not_stalled() -> None:
    g = graph(wf("w", updated_at_ms=NOW - 9 * MIN), *recv_wait(), alive_b())
    wait = current_wait(g, "w")
    assert wait is not None and wait.kind == MESSAGE and wait.function_id == 2
    assert wait.deadline_ms == 1_895_000_000_000
    d = of(diagnose(g, NOW, LIMBO), "w")
    assert list(d) == [dg.AWAITING_MESSAGE]  # neither stalled nor orphaned
    reason = d[dg.AWAITING_MESSAGE].reason
    assert "DBOS.recv or DBOS.get_event (function id 2) until 2030-01-18 20:53:20Z" in reason
    assert d[dg.AWAITING_MESSAGE].action.startswith("s: send it a message")


def test_after_the_deadline_a_silent_waiter_is_orphaned() -> None:
    deadline_s = (NOW - 5 * MIN) / 1000
    g = graph(wf("w", updated_at_ms=NOW - 9 * MIN), *recv_wait(deadline_s=deadline_s))
    assert list(of(diagnose(g, NOW, LIMBO), "w")) == [dg.ORPHANED]


def test_a_durable_sleep_is_sleeping() -> None:
    wake = NOW + 3_600_000
    rows = [
        Step("w", 1, "prepare", completed_at_ms=NOW - 9 * MIN),
        Step(
            "w",
            2,
            SLEEP_STEP,
            started_at_ms=NOW - 9 * MIN,
            completed_at_ms=wake,
            output=str(wake / 1000),
            serialization="portable_json",
        ),
    ]
    g = graph(wf("w", updated_at_ms=NOW - 9 * MIN), *rows)
    wait = current_wait(g, "w")
    assert wait is not None and wait.kind == SLEEP and wait.deadline_ms == wake
    assert list(of(diagnose(g, NOW, LIMBO), "w")) == [dg.SLEEPING]
    # Its executor wrote nothing for 9 minutes; the projected wake-up is not a write.
    assert "a" in fleet_of(g, NOW, LIMBO).silent


# -- version-aware sentences: the dead child ---------------------------------------------


def parent_and_child(child_status: str, child_updated: int, release: object) -> WorkflowGraph:
    parent = wf("p", updated_at_ms=NOW - 5 * MIN)
    child = wf("p-1", child_status, parent_id="p", updated_at_ms=child_updated)
    call = Step("p", 1, "child", child_workflow_id="p-1", completed_at_ms=NOW - 5 * MIN)
    return graph(parent, child, call, alive_b(), release=release)


def test_on_3x_a_cancelled_child_with_the_parents_executor_gone_is_not_limbo() -> None:
    g = parent_and_child("CANCELLED", NOW - 4 * MIN, DBOS_3)
    d = of(diagnose(g, NOW, LIMBO), "p")
    assert dg.AWAITING_DEAD_CHILD not in d
    reason = d[dg.ORPHANED].reason
    assert "once recovered, DBOS 3.x fails it with the error of its child p-1 (CANCELLED)" in reason


def test_on_2_8_the_same_state_is_limbo_and_says_2_8_polls_for_ever() -> None:
    g = parent_and_child("CANCELLED", NOW - 4 * MIN, DBOS_2_8)
    d = of(diagnose(g, NOW, LIMBO), "p")
    assert d[dg.AWAITING_DEAD_CHILD].severity == dg.LIMBO
    assert "DBOS 2.8-2.10 polls for it for ever" in d[dg.AWAITING_DEAD_CHILD].reason
    # The fix proposed is one that works there: a resumed parent would wait again.
    assert d[dg.AWAITING_DEAD_CHILD].action == (
        "c: cancel it; a resume would only wait again on DBOS 2.8-2.10"
    )
    live_parent = wf("p", updated_at_ms=NOW - 2_000)
    child = wf("p-1", "CANCELLED", parent_id="p", updated_at_ms=NOW - 4 * MIN)
    call = Step("p", 1, "child", child_workflow_id="p-1", completed_at_ms=NOW - 2_000)
    on_213 = graph(live_parent, child, call, release=release_of("2.13", "2.13.0"))
    action = of(diagnose(on_213, NOW + 10_000, LIMBO), "p")[dg.AWAITING_DEAD_CHILD].action
    assert "u: resume it so that DBOS 2.12+ fails it" in action


def test_the_grace_period_applies_only_where_dbos_resolves_the_state() -> None:
    just_now = NOW - 1_000
    on_28 = of(
        diagnose(
            parent_and_child("MAX_RECOVERY_ATTEMPTS_EXCEEDED", just_now, DBOS_2_8), NOW, LIMBO
        ),
        "p",
    )
    assert dg.AWAITING_DEAD_CHILD in on_28  # 2.8 never resolves it: limbo at once
    live_parent = wf("p", updated_at_ms=NOW - 2_000)
    child = wf("p-1", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", parent_id="p", updated_at_ms=just_now)
    call = Step("p", 1, "child", child_workflow_id="p-1", completed_at_ms=NOW - 2_000)
    for release in (release_of("2.13", "2.13.0"), DBOS_3):
        g = graph(live_parent, child, call, release=release)
        assert dg.AWAITING_DEAD_CHILD not in of(diagnose(g, NOW, LIMBO), "p")
        assert dg.AWAITING_DEAD_CHILD in of(diagnose(g, NOW + 10_000, LIMBO), "p")


def test_a_collected_child_is_not_awaited() -> None:
    g = parent_and_child("CANCELLED", NOW - 4 * MIN, DBOS_3)
    g.apply([Step("p", 2, GET_RESULT_STEP, child_workflow_id="p-1")])
    assert dg.AWAITING_DEAD_CHILD not in of(diagnose(g, NOW, LIMBO), "p")


def test_the_release_follows_the_schema_shape() -> None:
    assert release_from_schema(has_parent_column=False, has_version_registry=False) == DBOS_2_8
    assert not release_from_schema(
        has_parent_column=True, has_version_registry=False
    ).fails_waiting_parent
    assert release_from_schema(has_parent_column=True, has_version_registry=True) == DBOS_3
    # From the schema version: judged by the oldest release of the range.
    assert not release_of("2.11-2.12", "2.11.0").fails_waiting_parent
    assert release_of("3.4", "3.4.0") == DbosRelease("3.4", fails_waiting_parent=True)


# -- the fleet itself ---------------------------------------------------------------------


def test_executor_versions_come_from_what_they_ran_not_what_they_enqueued() -> None:
    ran = wf("ran", "SUCCESS", executor_id="b", app_version="v2", updated_at_ms=NOW - 2_000)
    asked = wf("asked", "ENQUEUED", executor_id="b", app_version="v1", updated_at_ms=NOW - 1_000)
    fleet = fleet_of(graph(ran, asked), NOW, LIMBO)
    assert dict(fleet.live) == {"b": "v2"}


def test_the_index_follows_rows_that_come_and_go() -> None:
    g = graph(wf("w", updated_at_ms=NOW - 5 * MIN), alive_b())
    index = FleetIndex()
    index.reset(g)
    assert index.fleet(g, NOW, LIMBO) == fleet_of(g, NOW, LIMBO)
    from limbo_tui.model import WorkflowRemoved

    changed = g.apply([WorkflowRemoved("b-work")])
    index.update(g, changed)
    assert index.fleet(g, NOW, LIMBO) == fleet_of(g, NOW, LIMBO)
    assert "b" not in index.executors()
