"""Random row streams: the graph depends only on the final rows, and nothing ever raises.

The live feed delivers rows late, twice, out of order and in batches of any size; after a
reconnect it swaps in a snapshot. Whatever the path, the screen must show the same tree
as a fresh snapshot of the same database state.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limbo_tui.diagnose import KINDS, SEVERITIES, diagnose
from limbo_tui.model import (
    GET_RESULT_STEP,
    STATUSES,
    Row,
    Step,
    StepRemoved,
    Workflow,
    WorkflowGraph,
    WorkflowRemoved,
)
from limbo_tui.settings import LimboSettings

# Few ids, so that rows collide, links conflict and cycles happen; "p-1" is p's default
# child id for function 1.
IDS = ["p", "p-1", "p-2", "q", "q-1"]
FIDS = [1, 2, 3]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.sampled_from(IDS)
maybe_time = st.none() | st.integers(0, 2_000_000)

workflows = st.builds(
    Workflow,
    id=ids,
    status=st.sampled_from([*STATUSES, "SOMETHING_NEW", ""]),
    name=st.sampled_from(["parent_wf", "child_wf"]),
    parent_id=st.none() | ids,
    queue=st.none() | st.just("example-queue"),
    dedup_id=st.none() | st.just("6/5"),
    executor_id=st.none() | st.sampled_from(["ex-1", "ex-2"]),
    recovery_attempts=st.integers(0, 5),
    created_at_ms=maybe_time,
    updated_at_ms=maybe_time,
    max_recovery_attempts=st.none() | st.integers(0, 3),
)
steps = st.builds(
    Step,
    workflow_id=ids,
    function_id=st.sampled_from(FIDS),
    name=st.sampled_from(["child_wf", GET_RESULT_STEP, "step"]),
    child_workflow_id=st.none() | ids,
    failed=st.booleans(),
    started_at_ms=maybe_time,
    completed_at_ms=maybe_time,
)
removals = st.builds(WorkflowRemoved, id=ids) | st.builds(
    StepRemoved, workflow_id=ids, function_id=st.sampled_from(FIDS)
)
rows_strategy = st.lists(
    st.one_of(workflows, workflows, steps, steps, steps, removals), max_size=40
)


def final_state(rows: list[Row]) -> list[Row]:
    """What the database holds after these writes (deleting a workflow deletes its steps)."""
    wfs: dict[str, Workflow] = {}
    held: dict[tuple[str, int], Step] = {}
    for row in rows:
        if isinstance(row, Workflow):
            wfs[row.id] = row
        elif isinstance(row, Step):
            held[(row.workflow_id, row.function_id)] = row
        elif isinstance(row, WorkflowRemoved):
            wfs.pop(row.id, None)
            held = {k: v for k, v in held.items() if k[0] != row.id}
        else:
            held.pop((row.workflow_id, row.function_id), None)
    return [*wfs.values(), *held.values()]


def snapshot(rows: list[Row]) -> WorkflowGraph:
    g = WorkflowGraph()
    g.replace_all(rows)
    return g


def roots_from_scratch(g: WorkflowGraph) -> list[str]:
    """roots() by its definition: every loaded workflow that is the top of its own tree."""
    tops = {wid for wid in g.workflows if g.root_of(wid) == wid}
    return sorted(tops, key=lambda w: (g.workflows[w].created_at_ms or 0, w), reverse=True)


def assert_consistent(g: WorkflowGraph) -> None:
    every = set(IDS)
    for parent in every:
        kids = g.children(parent)
        assert len(kids) == len(set(kids))
        assert all(g.parent_of(c) == parent for c in kids)
    for child in every:
        parent = g.parent_of(child)
        assert parent != child
        if parent is not None:
            assert child in g.children(parent)
    # The roots kept up to date row by row are the ones a fresh look finds.
    assert g.roots() == roots_from_scratch(g)
    # Every loaded workflow is reachable from a root: nothing vanishes from the tree.
    shown = {wid for root in g.roots() for wid in g.family(root)}
    assert set(g.workflows) <= shown


@FAST
@given(rows=rows_strategy, seed=st.integers(0, 2**32))
def test_any_history_gives_the_graph_of_its_final_state(rows: list[Row], seed: int) -> None:
    live = WorkflowGraph()
    live.apply(rows)
    final = final_state(rows)
    assert live == snapshot(final)
    # The snapshot's own row order does not matter either.
    shuffled = list(final)
    random.Random(seed).shuffle(shuffled)
    assert snapshot(shuffled) == live
    assert_consistent(live)


@FAST
@given(rows=rows_strategy, seed=st.integers(0, 2**32))
def test_duplicates_and_batching_change_nothing(rows: list[Row], seed: int) -> None:
    rng = random.Random(seed)
    once = WorkflowGraph()
    once.apply(rows)
    # Each row delivered one to three times in a row, in batches of random size.
    doubled = [row for row in rows for _ in range(rng.randint(1, 3))]
    batched = WorkflowGraph()
    start = 0
    while start < len(doubled):
        size = rng.randint(1, 7)
        batched.apply(doubled[start : start + size])
        start += size
        # The tree asks for its roots after every batch; the answer must stay right.
        assert batched.roots() == roots_from_scratch(batched)
    assert batched == once
    assert batched.roots() == once.roots()


@FAST
@given(before=rows_strategy, rows=rows_strategy)
def test_replace_all_forgets_the_old_state(before: list[Row], rows: list[Row]) -> None:
    dirty = WorkflowGraph()
    dirty.apply(before)
    dirty.roots()  # roots known before the swap must not leak into the new snapshot
    dirty.replace_all(final_state(rows))
    assert dirty == snapshot(final_state(rows))
    assert dirty.roots() == roots_from_scratch(dirty)


def view(g: WorkflowGraph, wid: str) -> tuple[object, ...]:
    return (g.get(wid), dict(g.steps.get(wid, {})), g.children(wid), g.parent_of(wid))


@FAST
@given(rows=rows_strategy)
def test_apply_reports_every_id_whose_line_changed(rows: list[Row]) -> None:
    g = WorkflowGraph()
    for row in rows:
        before = {wid: view(g, wid) for wid in IDS}
        changed = g.apply([row])
        moved = {wid for wid in IDS if view(g, wid) != before[wid]}
        assert moved <= changed
        assert g.roots() == roots_from_scratch(g)


@FAST
@given(
    rows=rows_strategy,
    now=st.integers(0, 4_000_000),
    down=st.frozensets(st.sampled_from(["ex-1", "ex-2"])),
    margin=st.integers(-1, 3),
    stalled=st.floats(0, 3_000),
)
def test_diagnose_never_raises_and_speaks_the_vocabulary(
    rows: list[Row], now: int, down: frozenset[str], margin: int, stalled: float
) -> None:
    g = WorkflowGraph().with_limits({"parent_wf": 2})
    g.apply(rows)
    limbo = LimboSettings(stalled_after_s=stalled, enqueued_after_s=stalled, near_max_margin=margin)
    found = diagnose(g, now, limbo, down)
    assert all(d.kind in KINDS and d.severity in SEVERITIES for d in found)
    assert all(d.workflow_id in g.workflows for d in found)
    assert len({(d.workflow_id, d.kind) for d in found}) == len(found)
    ranks = [SEVERITIES.index(d.severity) for d in found]
    assert ranks == sorted(ranks)
    assert found == diagnose(
        snapshot(final_state(rows)).with_limits({"parent_wf": 2}), now, limbo, down
    )
