"""A batch that leaves the tree's top level as it was (no family came, went or moved in
the order) reconciles only the families it touched; any other batch lays the top level
out again. Either way the tree reads as one that lays it out again for every batch."""

from __future__ import annotations

import random
from typing import Any

from textual.app import App, ComposeResult

from limbo_tui.model import Workflow, WorkflowGraph, WorkflowRemoved
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui import workflow_tree
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.view_sort import Sort, SortKey

NOW = 10_000_000
STATUSES = ("PENDING", "ENQUEUED", "SUCCESS", "ERROR", "CANCELLED")


class EveryRootTree(WorkflowTree):
    """Lays the top level out again for every batch (as before the families' path)."""

    def _top_stays(self, old: TreeFacts, changed: set[str]) -> bool:
        return False


class TwoTrees(App[None]):
    def compose(self) -> ComposeResult:
        yield WorkflowTree(lambda: NOW, id="tested")
        yield EveryRootTree(lambda: NOW, id="reference")


def _lines(tree: WorkflowTree) -> list[tuple[str, str]]:
    tree.action_unfold_all()
    return [(wid, tree.line_text(wid)) for wid in tree.shown_ids()]


async def test_batches_read_as_when_every_batch_lays_the_top_level_out_again() -> None:
    rng = random.Random(16)
    graph = WorkflowGraph()

    # Each id's parent is fixed, as DBOS's is; rows arrive in any order (a child before
    # its parent), change status and go.
    parents = {
        i: None if i % 3 == 0 else rng.choice([i - 1, rng.randint(0, i - 1)]) for i in range(80)
    }

    def row(i: int) -> Workflow:
        parent = parents[i]
        return Workflow(
            f"w{i:03d}",
            rng.choice(STATUSES),
            name="job",
            queue="q" if rng.random() < 0.5 else None,
            recovery_attempts=rng.randint(0, 3),
            parent_id=None if parent is None else f"w{parent:03d}",
            created_at_ms=NOW - 100_000 + i * 100,
        )

    app = TwoTrees()
    async with app.run_test(size=(160, 60)) as pilot:
        tested = app.query_one("#tested", WorkflowTree)
        reference = app.query_one("#reference", WorkflowTree)
        families_only = [0]
        sync_families = tested._sync_families

        def counted(changed: set[str]) -> None:
            families_only[0] += 1
            sync_families(changed)

        tested._sync_families = counted  # type: ignore[method-assign]
        for sort in (Sort(), Sort(SortKey.STATUS), Sort(SortKey.RECOVERIES, reverse=True)):
            graph = WorkflowGraph()
            changed = graph.apply([row(i) for i in range(0, 60, 2)])
            facts = TreeFacts(sort=sort)
            tested.sync(graph, facts, changed, True)
            reference.sync(graph, facts, changed, True)
            for _ in range(50):
                rows: list[Any] = []
                # Mostly what a live database sends: a step of a loaded child moves on.
                children = [
                    i
                    for i in range(80)
                    if (p := parents[i]) is not None and f"w{p:03d}" in graph.workflows
                ]
                for _ in range(rng.randint(1, 3)):
                    i = rng.randint(0, 79)
                    if rng.random() < 0.1:
                        rows.append(WorkflowRemoved(f"w{i:03d}"))
                    elif rng.random() < 0.4 or not children:
                        rows.append(row(i))
                    else:
                        rows.append(row(rng.choice(children)))
                changed = graph.apply(rows)
                tested.sync(graph, facts, changed, False)
                reference.sync(graph, facts, changed, False)
                await pilot.pause()
                assert _lines(tested) == _lines(reference)
        # Most batches took the families' path (a status change inside a family).
        assert families_only[0] >= 20


async def test_a_batch_inside_one_family_of_many_reconciles_that_family_alone() -> None:
    graph = WorkflowGraph()
    families = 300
    rows = []
    for i in range(families):
        rows.append(Workflow(f"p{i:03d}", "PENDING", name="job", created_at_ms=NOW - i))
        rows.append(Workflow(f"p{i:03d}-k", "PENDING", parent_id=f"p{i:03d}", created_at_ms=NOW))
    changed = graph.apply(rows)
    app = TwoTrees()
    async with app.run_test(size=(160, 60)) as pilot:
        tree = app.query_one("#tested", WorkflowTree)
        facts = TreeFacts()
        tree.sync(graph, facts, changed, True)
        await pilot.pause()
        top = [n.data for n in tree.root.children]
        placed: list[int] = []
        reconcile = tree._reconcile
        laid_out: list[int] = []
        group_roots = workflow_tree.group_roots

        def counted_reconcile(parent: Any, desired: list[str], *rest: Any) -> Any:
            placed.append(len(desired))
            return reconcile(parent, desired, *rest)

        def counted_group_roots(graph: WorkflowGraph, roots: Any, *rest: Any, **kw: Any) -> Any:
            laid_out.append(len(roots))
            return group_roots(graph, roots, *rest, **kw)

        tree._reconcile = counted_reconcile  # type: ignore[method-assign]
        workflow_tree.group_roots = counted_group_roots  # type: ignore[assignment]
        try:
            done = Workflow("p123-k", "SUCCESS", parent_id="p123", created_at_ms=NOW)
            tree.sync(graph, facts, graph.apply([done]), False)
            await pilot.pause()
        finally:
            workflow_tree.group_roots = group_roots  # type: ignore[assignment]
        assert "SUCCESS" in tree.line_text("p123-k")
        assert [n.data for n in tree.root.children] == top
        # The family's own child list, not the 300 families'.
        assert laid_out == [] and sum(placed) <= 2
        # A new family is a new top level: laid out again, in its place.
        tree.sync(
            graph, facts, graph.apply([Workflow("new", "PENDING", created_at_ms=NOW + 1)]), False
        )
        await pilot.pause()
        assert [n.data for n in tree.root.children] == ["new", *top]
