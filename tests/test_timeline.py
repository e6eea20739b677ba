"""The timeline of a workflow, from rows alone: pure, no database."""

from __future__ import annotations

import dataclasses

from limbo_tui.model import Step, Workflow, WorkflowRemoved
from limbo_tui.timeline import MAX_EVENTS_PER_WORKFLOW, Timeline, TimelineEvent

T0 = 1_764_000_000_000
P = "parent-1"


def dispatches(tl: Timeline, workflow_id: str) -> list[TimelineEvent]:
    return [e for e in tl.events(workflow_id) if e.kind == "dispatch"]


def wf(status: str, attempts: int, updated: int, **kw: object) -> Workflow:
    return Workflow(
        P,
        status,
        "dbos_workflow",
        recovery_attempts=attempts,
        created_at_ms=T0,
        updated_at_ms=updated,
        queue="example-queue",
        **kw,  # type: ignore[arg-type]
    )


def test_the_seed_parent_story_lists_every_dispatch_in_order() -> None:
    tl = Timeline()
    tl.observe([wf("ENQUEUED", 0, T0)], T0 + 5)
    tl.observe([wf("PENDING", 1, T0 + 100)], T0 + 105)
    tl.observe(
        [Step(P, 1, "child_workflow", child_workflow_id=f"{P}-1", completed_at_ms=T0 + 150)],
        T0 + 151,
    )
    tl.worker_event("crashed (x)", T0 + 1_000)
    tl.worker_event("restarted (r): DBOS recovers its PENDING work", T0 + 2_000)
    tl.observe([wf("PENDING", 2, T0 + 2_100)], T0 + 2_105)
    tl.observe([wf("PENDING", 4, T0 + 4_100)], T0 + 4_105)  # two dispatches between polls
    tl.observe([wf("MAX_RECOVERY_ATTEMPTS_EXCEEDED", 4, T0 + 5_000)], T0 + 5_005)
    tl.worker_event("crashed (x)", T0 + 9_000)  # after it ended: not part of its story

    events = tl.events(P)
    assert [(e.at_ms - T0, e.kind, e.text) for e in events] == [
        (0, "created", "ENQUEUED, recovery_attempts 0, queue example-queue"),
        (100, "dispatch", "dispatch 1 (recovery_attempts 0 -> 1)"),
        (100, "status", "ENQUEUED -> PENDING"),
        (150, "child-call", f"step 1 started child {P}-1 (child_workflow)"),
        (1_000, "worker", "crashed (x)"),
        (2_000, "worker", "restarted (r): DBOS recovers its PENDING work"),
        (2_100, "dispatch", "dispatch 2 (recovery_attempts 1 -> 2)"),
        (4_100, "dispatch", "dispatches 3..4 (recovery_attempts 2 -> 4, not seen one by one)"),
        (5_000, "status", "PENDING -> MAX_RECOVERY_ATTEMPTS_EXCEEDED"),
    ]
    assert [e.observed for e in events if e.kind == "worker"] == [True, True]
    assert all(not e.observed for e in events if e.kind != "worker")


def test_a_child_started_directly_has_its_first_dispatch_at_its_creation() -> None:
    tl = Timeline()
    child = Workflow(f"{P}-1", "PENDING", "child", recovery_attempts=1, created_at_ms=T0,
                     updated_at_ms=T0 + 3)  # fmt: skip
    tl.observe([child], T0 + 5)
    tl.observe([dataclasses.replace(child, recovery_attempts=2, updated_at_ms=T0 + 900)], T0 + 905)
    # Seen for the first time already dispatched three times (a monitor attached late).
    late = Workflow("late", "PENDING", "x", recovery_attempts=3, created_at_ms=T0,
                    updated_at_ms=T0 + 50)  # fmt: skip
    tl.observe([late], T0 + 60)
    assert [(e.at_ms - T0, e.text, e.attempts) for e in dispatches(tl, f"{P}-1")] == [
        (0, "dispatch 1 (recovery_attempts 0 -> 1)", 1),
        (900, "dispatch 2 (recovery_attempts 1 -> 2)", 2),
    ]
    assert [(e.at_ms - T0, e.text) for e in dispatches(tl, "late")] == [
        (50, "dispatches 1..3 (recovery_attempts 0 -> 3, not seen one by one), before "
             "limbo-tui saw it"),
    ]  # fmt: skip


def test_a_resync_repeating_known_rows_adds_nothing() -> None:
    tl = Timeline()
    rows = [wf("PENDING", 1, T0), Step(P, 1, "step", completed_at_ms=T0 + 1)]
    assert [e.kind for e in tl.observe(rows, T0)] == ["created", "dispatch", "step"]
    assert tl.observe(rows, T0 + 10) == []
    assert len(tl.events(P)) == 3


def test_resume_resets_the_counter_and_a_delete_is_the_last_word() -> None:
    tl = Timeline()
    tl.observe([wf("CANCELLED", 3, T0)], T0)
    tl.observe([wf("ENQUEUED", 0, T0 + 10)], T0 + 11)
    tl.observe([WorkflowRemoved(P)], T0 + 20)
    texts = [e.text for e in tl.events(P)]
    assert texts[1:] == [
        "dispatches 1..3 (recovery_attempts 0 -> 3, not seen one by one), before limbo-tui saw it",
        "recovery_attempts reset 3 -> 0 (resumed)",
        "CANCELLED -> ENQUEUED",
        "row deleted",
    ]


def test_step_attempts_are_recorded_once_per_try_and_cleared_by_the_step_row() -> None:
    tl = Timeline()
    tl.observe([wf("PENDING", 1, T0)], T0)
    assert len(tl.progress({P: (3, 1, 3)}, T0 + 1)) == 1
    assert tl.progress({P: (3, 1, 3)}, T0 + 2) == []  # the same try, polled again
    assert [e.text for e in tl.progress({P: (3, 2, 3)}, T0 + 3)] == ["step 3 (try 2/3) running"]
    tl.observe(
        [Step(P, 3, "step", failed=True, started_at_ms=T0 + 3, completed_at_ms=T0 + 9)], T0 + 9
    )
    assert tl.events(P)[-1].text == "step 3 step failed in 6 ms"


def test_memory_is_bounded_per_workflow() -> None:
    tl = Timeline()
    for i in range(MAX_EVENTS_PER_WORKFLOW * 2):
        tl.observe([wf("PENDING", i, T0 + i)], T0 + i)
    events = tl.events(P)
    assert len(events) == MAX_EVENTS_PER_WORKFLOW
    assert events[-1].text.endswith(f"-> {MAX_EVENTS_PER_WORKFLOW * 2 - 1})")


def test_every_row_kind_the_feed_carries_survives_a_recording() -> None:
    import json
    import typing

    from limbo_tui.model import GroupTotal, Row, Totals
    from limbo_tui.recording import decode_row, encode_row
    from limbo_tui.registry import AppVersion, QueueSettings, Registry

    rows: list[Row] = [
        wf("PENDING", 2, T0, dedup_id="6/5"),
        Step(P, 1, "child_workflow", child_workflow_id=f"{P}-1"),
        WorkflowRemoved(P),
        Totals(3, (GroupTotal("PENDING", "q", 2, T0, T0 + 1),), T0, exact=False),
    ]
    rows += [
        typing.cast(Row, Registry(queues=(QueueSettings("q"),), versions=(AppVersion("v1", T0),)))
    ]
    for row in rows:
        assert decode_row(json.loads(json.dumps(encode_row(row)))) == row
