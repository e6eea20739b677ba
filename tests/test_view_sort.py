"""The families' order (limbo_tui/view_sort.py), pure: no Textual, no Postgres."""

from __future__ import annotations

import random

from limbo_tui.model import Workflow, WorkflowGraph, WorkflowRemoved
from limbo_tui.view_sort import SORT_CYCLE, RootOrder, Sort, SortKey, sort_value

STATUSES = ("PENDING", "ENQUEUED", "SUCCESS", "ERROR", "CANCELLED",
            "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "SOMETHING_NEW")  # fmt: skip


def wf(i: int, status: str = "SUCCESS", attempts: int = 1, created: int | None = None) -> Workflow:
    return Workflow(
        id=f"w{i:04d}",
        status=status,
        name="n",
        recovery_attempts=attempts,
        created_at_ms=1_000 * i if created is None else created,
    )


def full_order(graph: WorkflowGraph, sort: Sort) -> list[str]:
    """What the order must be: the roots sorted from scratch."""
    roots = graph.roots()
    if sort.key is SortKey.NEWEST:
        return roots[::-1] if sort.reverse else roots

    def key(r: str) -> tuple[int, int, str]:
        w = graph.workflows[r]
        return (sort_value(sort.key, w), -(w.created_at_ms or 0), r)

    ordered = sorted(roots, key=key)
    return ordered[::-1] if sort.reverse else ordered


def test_each_key_orders_the_families_as_a_user_reads_it() -> None:
    g = WorkflowGraph()
    g.apply(
        [
            wf(1, "SUCCESS", 1),
            wf(2, "MAX_RECOVERY_ATTEMPTS_EXCEEDED", 4),
            wf(3, "PENDING", 2),
            wf(4, "ERROR", 1),
            Workflow(id="w0003-1", status="SUCCESS", name="c", parent_id="w0003"),
        ]
    )
    order = RootOrder()
    assert order.ordered(g, Sort(), []) == ["w0004", "w0003", "w0002", "w0001"]
    # Dead-lettered, failed, in flight, succeeded: the ones that need a look first.
    assert order.ordered(g, Sort(SortKey.STATUS), []) == ["w0002", "w0004", "w0003", "w0001"]
    assert order.ordered(g, Sort(SortKey.AGE), []) == ["w0001", "w0002", "w0003", "w0004"]
    # Most recovered first; equal counts newest first.
    assert order.ordered(g, Sort(SortKey.RECOVERIES), []) == ["w0002", "w0003", "w0004", "w0001"]
    rev = Sort(SortKey.RECOVERIES).reversed()
    assert order.ordered(g, rev, []) == ["w0001", "w0004", "w0003", "w0002"]
    # A child is never a family of its own: it stays under its parent.
    assert "w0003-1" not in order.ordered(g, Sort(SortKey.STATUS), [])


def test_the_key_cycles_and_comes_back_to_newest_first() -> None:
    sort = Sort()
    seen = []
    for _ in SORT_CYCLE:
        sort = sort.next()
        seen.append(sort.key)
    assert seen == [SortKey.STATUS, SortKey.AGE, SortKey.RECOVERIES, SortKey.NEWEST]
    assert Sort(SortKey.AGE, reverse=True).next() == Sort(SortKey.RECOVERIES)
    # Newest first reversed is oldest first: the age sort, shown on the age column.
    assert Sort().reversed() == Sort(SortKey.AGE)
    assert Sort(SortKey.AGE).arrow == "↓" and Sort(SortKey.AGE, True).arrow == "↑"
    assert Sort(SortKey.AGE).describe() == "sorted by age, oldest first"


def test_bursts_move_families_into_place_without_sorting_again() -> None:
    rng = random.Random(18)
    g = WorkflowGraph()
    g.apply([wf(i, rng.choice(STATUSES), rng.randint(0, 5)) for i in range(400)])
    for key in (SortKey.STATUS, SortKey.AGE, SortKey.RECOVERIES):
        for reverse in (False, True):
            sort = Sort(key, reverse)
            order = RootOrder()
            assert order.ordered(g, sort, []) == full_order(g, sort)
            assert order.resorts == 1
            for _ in range(60):
                rows: list = []
                for _ in range(rng.randint(1, 8)):
                    i = rng.randint(0, 460)
                    if rng.random() < 0.15:
                        rows.append(WorkflowRemoved(f"w{i:04d}"))
                    else:
                        rows.append(wf(i, rng.choice(STATUSES), rng.randint(0, 5)))
                changed = g.apply(rows)
                assert order.ordered(g, sort, changed) == full_order(g, sort)
            # 60 bursts: each moved what it named, none sorted the whole list again.
            assert order.resorts == 1, (key, reverse)


def test_a_family_that_gets_a_parent_leaves_the_top_level() -> None:
    g = WorkflowGraph()
    g.apply([wf(1, "PENDING"), Workflow(id="kid", status="ERROR", name="c", parent_id="w0001")])
    order = RootOrder()
    sort = Sort(SortKey.STATUS)
    # The parent is not loaded yet... then it is: the kid moves under it.
    assert order.ordered(g, sort, []) == ["w0001"]
    g2 = WorkflowGraph()
    g2.apply([Workflow(id="kid", status="ERROR", name="c", parent_id="p")])
    order2 = RootOrder()
    assert order2.ordered(g2, sort, []) == ["kid"]
    changed = g2.apply([Workflow(id="p", status="SUCCESS", name="p", created_at_ms=5)])
    assert order2.ordered(g2, sort, changed) == ["p"]


def test_monitor_state_holds_the_sort_and_its_frame_hands_it_to_the_tree() -> None:
    from limbo_tui.monitor_state import MonitorState
    from limbo_tui.settings import Settings

    state = MonitorState(Settings(), clock=lambda: 10_000)
    assert state.frame().tree.sort == Sort()
    state.set_sort(Sort().next())
    frame = state.frame()
    assert frame.view.sort == Sort(SortKey.STATUS) and frame.tree.sort == Sort(SortKey.STATUS)
    # A new order redraws the tree (its families move), like a new filter.
    assert frame.rebuild
