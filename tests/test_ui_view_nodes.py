"""A new view (filter, limbo only, sort) moves the tree's lines without making them
anew: the nodes of the workflows it hides are kept and placed again when a view shows
them, as the user left them (folded or open) and reading as they do now."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from test_ui_support import NOW_MS, make_app

from limbo_tui.model import Workflow
from limbo_tui.ui.workflow_tree import WorkflowTree

FAMILIES = 40


def _rows() -> list[Workflow]:
    rows = []
    for i in range(FAMILIES):
        parent = f"par-{i:03d}" + ("-needle" if i % 2 else "")
        created = NOW_MS - 60_000 - i * 1_000
        rows.append(Workflow(parent, "PENDING", name="job", created_at_ms=created))
        rows.append(
            Workflow(f"kid-{i:03d}", "PENDING", name="kid", parent_id=parent, created_at_ms=created)
        )
    return rows


async def test_a_filter_and_its_clearing_make_no_node_and_keep_each_family_as_left() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        feeds[0].push(_rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        every = tree.shown_ids()
        assert len(every) == 2 * FAMILIES  # live families open: parent and child
        # The user folds one family that the filter will hide.
        folded = tree.node_for("par-000")
        assert folded is not None
        folded.collapse()
        await pilot.pause()
        before = tree.shown_ids()
        made: list[str] = []
        make_node = tree.make_node

        def counted(parent: Any, label: Any, data: str, expanded: bool) -> Any:
            made.append(data)
            return make_node(parent, label, data, expanded)

        tree.make_node = counted  # type: ignore[method-assign]
        app.state.set_filter("needle")
        app.repaint()
        await pilot.pause()
        assert len(tree.shown_ids()) == FAMILIES  # half the rows hidden
        graph = app.state.graph
        assert all("needle" in w + (graph.parent_of(w) or "") for w in tree.shown_ids())
        # A hidden workflow finishes meanwhile: shown again, its line says so.
        feeds[0].push(
            [
                Workflow(
                    "kid-000",
                    "SUCCESS",
                    name="kid",
                    parent_id="par-000",
                    created_at_ms=NOW_MS - 60_000,
                )
            ]
        )
        await pilot.pause()
        app.state.set_filter("")
        app.repaint()
        await pilot.pause()
        assert made == []
        assert tree.shown_ids() == before
        assert folded.is_expanded is False
        assert tree.node_for("par-000") is folded
        folded.expand()
        await pilot.pause()
        assert "SUCCESS" in tree.line_text("kid-000")
        app.state.set_filter("needle")
        app.repaint()
        await pilot.pause()
        assert made == [] and len(tree.shown_ids()) == FAMILIES


async def test_a_filter_showing_one_family_of_many_visits_that_family_not_the_others() -> None:
    # Hiding walked every node under each hidden family and the parent of every hidden
    # id: at 5,000 families of 5 that was most of the `/` filter's time on screen.
    families = 300
    rows = []
    for i in range(families):
        parent = f"fam-{i:04d}" + ("-needle" if i == 123 else "")
        created = NOW_MS - 60_000 - i * 1_000
        rows.append(Workflow(parent, "PENDING", name="job", created_at_ms=created))
        for kid in "abc":
            kid_id = f"{parent}-{kid}"
            rows.append(Workflow(kid_id, "PENDING", parent_id=parent, created_at_ms=created))
    app, feeds = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        feeds[0].push(rows, full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert len(tree.shown_ids()) == 4 * families
        walked: list[int] = []
        subtree = tree.subtree

        def counted_subtree(node: Any) -> Any:
            out = subtree(node)
            walked.append(len(out))
            return out

        tree.subtree = counted_subtree  # type: ignore[method-assign]
        graph = app.state.graph
        parents_asked: list[str] = []
        parent_of = graph.parent_of

        def counted_parent_of(wid: str) -> str | None:
            parents_asked.append(wid)
            return parent_of(wid)

        graph.parent_of = counted_parent_of  # type: ignore[method-assign]
        app.state.set_filter("needle")
        app.repaint()
        await pilot.pause()
        assert tree.shown_ids() == ["fam-0123-needle", *(f"fam-0123-needle-{k}" for k in "abc")]
        # The families hidden are left as they are, not visited one node at a time.
        assert sum(walked) + len(parents_asked) < families
        # Shown again whole, as they were.
        app.state.set_filter("")
        app.repaint()
        await pilot.pause()
        assert len(tree.shown_ids()) == 4 * families
        assert tree.node_for("fam-0000-a") is not None


async def test_clearing_a_filter_places_untouched_families_back_without_reconciling_them() -> None:
    # Clearing a filter at 25k workflows reconciled each family shown again node by node
    # (5,000 calls); one whose rows changed while hidden still reads as they are now.
    app, feeds = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        feeds[0].push(_rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        before = tree.shown_ids()
        app.state.set_filter("needle")
        app.repaint()
        await pilot.pause()
        # While hidden: one family gets a new child.
        late = Workflow("kid-late", "PENDING", name="kid", parent_id="par-000")
        feeds[0].push([replace(late, created_at_ms=NOW_MS)])
        await pilot.pause()
        reconciled: list[str | None] = []
        reconcile = tree._reconcile

        def counted(parent: Any, *rest: Any) -> Any:
            reconciled.append(parent.data)
            return reconcile(parent, *rest)

        tree._reconcile = counted  # type: ignore[method-assign]
        app.state.set_filter("")
        app.repaint()
        await pilot.pause()
        # The top level, and the one family that changed: not the other 19 shown again.
        assert sorted(r for r in reconciled if r is not None) == ["par-000"]
        assert tree.shown_ids() == [*before[:2], "kid-late", *before[2:]]
