"""WorkflowGraph on plain rows: the tree a user sees, whatever order the rows come in."""

from __future__ import annotations

from limbo_tui.model import (
    GET_RESULT_STEP,
    Step,
    StepRemoved,
    Workflow,
    WorkflowGraph,
    WorkflowRemoved,
)

P = "parent"


def wf(wid: str, status: str = "PENDING", **kw: object) -> Workflow:
    return Workflow(id=wid, status=status, **kw)  # type: ignore[arg-type]


def call(parent: str, fid: int, child: str) -> Step:
    return Step(parent, fid, "child_workflow", child_workflow_id=child)


def get_result(parent: str, fid: int, child: str) -> Step:
    return Step(parent, fid, GET_RESULT_STEP, child_workflow_id=child)


def test_children_follow_call_order_whatever_the_arrival_order() -> None:
    g = WorkflowGraph()
    g.apply([call(P, 3, "c3"), wf(P), call(P, 1, "c1"), call(P, 2, "c2")])
    assert g.children(P) == ["c1", "c2", "c3"]
    assert g.parent_of("c2") == P


def test_children_known_only_by_parent_id_come_after_calls_by_creation_time() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            wf("late", parent_id=P, created_at_ms=300),
            wf("early", parent_id=P, created_at_ms=100),
            call(P, 5, "called"),
        ]
    )
    assert g.children(P) == ["called", "early", "late"]


def test_a_later_row_replaces_the_earlier_one() -> None:
    g = WorkflowGraph()
    g.apply([wf("a", "ENQUEUED", recovery_attempts=0), wf("a", "PENDING", recovery_attempts=1)])
    a = g.get("a")
    assert a is not None and a.status == "PENDING" and a.recovery_attempts == 1


def test_status_change_of_a_child_marks_its_parent_changed() -> None:
    # The parent's limbo marking depends on its children's statuses.
    g = WorkflowGraph()
    g.apply([wf(P), call(P, 1, "c"), wf("c", parent_id=P)])
    assert g.apply([wf("c", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", parent_id=P)]) == {"c", P}
    assert g.apply([wf("c", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", parent_id=P)]) == {"c"}


def test_changing_parent_id_moves_the_child_and_reports_both_parents() -> None:
    g = WorkflowGraph()
    g.apply([wf("a"), wf("b"), wf("c", parent_id="a")])
    changed = g.apply([wf("c", parent_id="b")])
    assert {"a", "b", "c"} <= changed
    assert g.children("a") == [] and g.children("b") == ["c"]


def test_clearing_parent_id_makes_the_child_a_root() -> None:
    g = WorkflowGraph()
    g.apply([wf("a", created_at_ms=1), wf("c", parent_id="a", created_at_ms=2)])
    g.apply([wf("c", created_at_ms=2)])
    assert g.parent_of("c") is None
    assert g.roots() == ["c", "a"]


def test_deleted_child_stays_listed_as_not_loaded_while_the_call_step_exists() -> None:
    g = WorkflowGraph()
    g.apply([wf(P), call(P, 1, "c"), wf("c", parent_id=P)])
    g.apply([WorkflowRemoved("c")])
    assert g.get("c") is None
    assert g.children(P) == ["c"]


def test_removing_the_call_step_unlinks_a_child_without_parent_id() -> None:
    g = WorkflowGraph()
    g.apply([wf(P), call(P, 1, "c"), wf("c")])
    g.apply([StepRemoved(P, 1)])
    assert g.children(P) == [] and g.parent_of("c") is None
    assert P not in g.steps


def test_workflow_removal_deletes_its_steps_like_the_database_cascade() -> None:
    g = WorkflowGraph()
    g.apply([wf(P), call(P, 1, "c"), Step(P, 2, "work")])
    changed = g.apply([WorkflowRemoved(P)])
    assert P in changed and "c" in changed
    assert g.steps_of(P) == [] and g.parent_of("c") is None


def test_replacing_a_call_step_with_another_child_relinks() -> None:
    g = WorkflowGraph()
    g.apply([call(P, 1, "old")])
    g.apply([call(P, 1, "new")])
    assert g.children(P) == ["new"] and g.parent_of("old") is None


def test_forked_workflow_does_not_steal_the_originals_child() -> None:
    # fork_workflow copies the original's call steps; with no parent_workflow_id column
    # (dbos < 2.11) the default child id `<parent>-<fid>` says whose child it is.
    g = WorkflowGraph()
    g.apply([wf("a-fork"), call("a-fork", 1, "zz-1"), wf("zz"), call("zz", 1, "zz-1")])
    assert g.parent_of("zz-1") == "zz"
    assert g.children("a-fork") == []


def test_parent_id_column_wins_over_call_steps() -> None:
    g = WorkflowGraph()
    g.apply([call("other", 1, "c"), wf("c", parent_id=P)])
    assert g.parent_of("c") == P


def test_self_parent_and_self_call_are_ignored() -> None:
    g = WorkflowGraph()
    g.apply([wf("a", parent_id="a"), call("a", 1, "a")])
    assert g.parent_of("a") is None and g.children("a") == []
    assert g.roots() == ["a"]


def test_a_parent_cycle_still_shows_up_once_in_roots_and_family_terminates() -> None:
    g = WorkflowGraph()
    g.apply([wf("b", parent_id="a"), wf("a", parent_id="c"), wf("c", parent_id="b")])
    g.apply([wf("d", parent_id="b")])
    assert g.roots() == ["a"]
    assert sorted(g.family("d")) == ["a", "b", "c", "d"]
    assert g.root_of("c") == "a"


def test_closing_and_breaking_a_cycle_far_from_its_root_moves_the_root() -> None:
    # x <- y <- a is a chain topped by x; giving x the parent a closes a cycle whose
    # smallest id, a, is two links away from x. The tree must then show the family
    # from a, and from x again once the cycle is broken.
    g = WorkflowGraph()
    g.apply([wf("x"), wf("y", parent_id="x"), wf("a", parent_id="y")])
    assert g.roots() == ["x"]
    g.apply([wf("x", parent_id="a")])
    assert g.roots() == ["a"]
    g.apply([wf("x")])
    assert g.roots() == ["x"]
    # Unloading a cycle member breaks it too: its child becomes a root.
    g.apply([wf("x", parent_id="a")])
    g.apply([WorkflowRemoved("y")])
    assert g.roots() == ["a"] and g.parent_of("a") == "y"


def test_roots_follow_new_removed_and_re_dated_workflows() -> None:
    g = WorkflowGraph()
    g.apply([wf("a", created_at_ms=1), wf("b", created_at_ms=2)])
    assert g.roots() == ["b", "a"]
    g.apply([wf("a", created_at_ms=3), wf("c", parent_id="a", created_at_ms=9)])
    assert g.roots() == ["a", "b"]
    g.apply([WorkflowRemoved("a")])
    assert g.roots() == ["c", "b"]


def test_roots_most_recent_first_and_children_of_unloaded_parents_are_roots() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            wf("old", created_at_ms=1),
            wf("new", created_at_ms=5),
            wf("orphan", parent_id="gone", created_at_ms=3),
        ]
    )
    assert g.roots() == ["new", "orphan", "old"]
    assert g.children("gone") == ["orphan"]


def test_family_is_root_then_descendants_depth_first() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            wf(P),
            call(P, 1, "a"),
            call(P, 2, "b"),
            wf("a", parent_id=P),
            wf("b", parent_id=P),
            call("a", 1, "a1"),
            wf("a1", parent_id="a"),
        ]
    )
    assert g.family("a1") == [P, "a", "a1", "b"]


def test_unanswered_children() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            call(P, 1, "waiting"),
            call(P, 2, "answered"),
            get_result(P, 3, "answered"),
            wf("linked-only", parent_id=P),
            wf("linked-answered", parent_id=P),
            get_result(P, 4, "linked-answered"),
            # A getResult row before the call cannot be its answer.
            get_result(P, 5, "reordered"),
            call(P, 6, "reordered"),
        ]
    )
    assert g.unanswered_children(P) == ["waiting", "reordered", "linked-only"]


def test_step_counts_leave_out_child_calls_and_waits() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            Step(P, 1, "s1"),
            Step(P, 2, "s2", failed=True),
            call(P, 3, "c"),
            get_result(P, 4, "c"),
            Step(P, 5, "s5"),
        ]
    )
    counts = g.step_counts(P)
    assert (counts.steps_completed, counts.steps_failed) == (2, 1)
    assert [s.function_id for s in g.steps_of(P)] == [1, 2, 3, 4, 5]


def test_max_recovery_attempts_row_value_then_limits_by_name() -> None:
    g = WorkflowGraph().with_limits({"parent_wf": 2})
    g.apply([wf("a", name="parent_wf"), wf("b", name="parent_wf", max_recovery_attempts=7)])
    g.apply([wf("c", name="unknown")])
    assert g.max_recovery_attempts("a") == 2
    assert g.max_recovery_attempts("b") == 7
    assert g.max_recovery_attempts("c") is None
    assert g.max_recovery_attempts("missing") is None


def test_last_progress_is_the_newest_update_or_step() -> None:
    g = WorkflowGraph()
    g.apply([wf("a", created_at_ms=10, updated_at_ms=20)])
    assert g.last_progress_ms("a") == 20
    g.apply([Step("a", 1, "s", started_at_ms=25, completed_at_ms=30)])
    assert g.last_progress_ms("a") == 30
    assert g.last_progress_ms("missing") is None


def test_replace_all_reports_what_was_and_what_is() -> None:
    g = WorkflowGraph()
    g.apply([wf("gone"), wf("kept")])
    changed = g.replace_all([wf("kept"), wf("new")])
    assert changed == {"gone", "kept", "new"}
    assert set(g.workflows) == {"kept", "new"}


def test_same_rows_in_other_orders_give_equal_graphs() -> None:
    rows = [
        wf(P, created_at_ms=1),
        call(P, 2, "b"),
        call(P, 1, "a"),
        wf("a", parent_id=P, created_at_ms=2),
        wf("b", "ERROR", created_at_ms=3),
        get_result(P, 3, "a"),
    ]
    first, second = WorkflowGraph(), WorkflowGraph()
    first.apply(rows)
    second.apply(reversed(rows))
    assert first == second
    assert first.children(P) == ["a", "b"]


def test_short_id_is_one_algorithm_with_two_forms_for_children() -> None:
    from limbo_tui.model import short_id

    parent = "fe5f923f-1531-4c06-af78-f4e8f9b5b9c4"
    assert short_id(parent) == "fe5f923f"
    assert short_id("my-job-42") == "my-job-42"  # 12 or fewer: whole
    assert short_id(f"{parent}-3", parent) == "fe5f923f-3"
    assert short_id(f"{parent}-3", parent, under_parent=True) == "…-3"
    assert short_id(f"{parent}-3") == "fe5f923f"  # no parent known: a plain uuid prefix
