"""`/` then text typed at once, as a fast typist or a paste does: every key reaches the
filter line, none is taken by the tree as a command key (`e` would enqueue, `l` would
switch to limbo-only)."""

from __future__ import annotations

from typing import Any

from test_ui_support import ActionsDouble, WorkerDouble, make_app, seeded_app
from textual import events
from textual.strip import Strip
from textual.widgets import Input

from limbo_tui.model import Workflow
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui.details_pane import DetailsPane
from limbo_tui.ui.filter_input import FilterInput
from limbo_tui.ui.split_view import SplitView
from limbo_tui.ui.workflow_pane import WorkflowPane
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests import seed


async def test_text_typed_right_after_slash_all_reaches_the_filter() -> None:
    worker, actions = WorkerDouble(), ActionsDouble()
    app, feeds = make_app(worker=worker, actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        # One burst, as the terminal delivers it: no wait between the keys.
        for ch in "/needle":
            app.post_message(events.Key(ch if ch != "/" else "slash", ch))
        await pilot.pause()
        await pilot.pause()
        assert app.query_one(FilterInput).value == "needle"
        assert app.filter_text == "needle"
        assert not app.limbo_only
        assert [c for c in worker.calls if c[0] != "start"] == [] and actions.calls == []


async def test_a_slash_typed_into_a_form_field_is_text() -> None:
    app, _feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("E")
        await pilot.pause()
        field = app.screen.query_one("#dedup_id", Input)
        field.focus()
        await pilot.pause()
        field.value = ""
        await pilot.press("7", "slash", "3")
        assert field.value == "7/3"
        assert not app.query_one(FilterInput).display


async def test_a_filter_typed_in_one_burst_syncs_the_tree_once_for_its_last_text() -> None:
    # Each sync of a large tree costs more than the burst takes to arrive: a sync per key
    # ("n" matches nearly everything) kept 20k workflows from filtering for seconds. The
    # app repaints after the messages already queued, so the burst is one sync.
    async with seeded_app() as (app, pilot):
        tree = app.query_one(WorkflowTree)
        synced: list[frozenset[str] | None] = []
        sync = tree.sync

        def counted(graph: Any, facts: TreeFacts, *rest: Any) -> None:
            synced.append(facts.shown)
            sync(graph, facts, *rest)

        tree.sync = counted  # type: ignore[method-assign]
        for ch in "/parent":
            app.post_message(events.Key(ch if ch != "/" else "slash", ch))
        await pilot.pause(0.3)
        assert app.filter_text == "parent"
        assert len(synced) == 1 and synced[0] is not None


async def test_the_filter_line_showing_does_not_rebuild_the_trees_lines() -> None:
    # `/` makes the tree one line shorter and takes its focus: Tree's own handlers rebuilt
    # every line for each (25k lines twice before the filter's own sync).
    async with seeded_app() as (app, pilot):
        tree = app.query_one(WorkflowTree)
        height, built = tree.size.height, tree.lines_built
        await pilot.press("slash")
        await pilot.pause(0.3)  # past FILTER_HOLD_S: `/` alone is painted then
        assert app.query_one(FilterInput).has_focus
        assert tree.size.height == height - 1
        assert tree.lines_built == built
        await pilot.press("z", "z", "z")
        await pilot.pause(0.3)
        assert app.filter_text == "zzz"
        assert tree.shown_ids() == []
        assert tree.lines_built == built + 1  # the filter's own view, once


async def test_the_filter_line_opens_under_the_tree_leaving_the_details_pane_as_it_was() -> None:
    # Under the whole split it made the details pane one line shorter too: a layout and
    # paint of the details and steps (and the tree pane's frame, as the focus left it)
    # on every `/`.
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause(0.3)
        details = app.query_one(DetailsPane).region
        tree = app.query_one(WorkflowTree).region
        await pilot.press("slash", "p")
        await pilot.pause(0.3)
        field = app.query_one(FilterInput)
        assert field.has_focus
        assert app.query_one(DetailsPane).region == details
        assert app.query_one(WorkflowPane).has_focus_within
        # The line the tree gave up, under it, as wide as the tree's pane.
        assert field.region.y == tree.bottom - 1 and field.region.x == tree.x


async def test_slash_in_the_zoomed_details_shows_the_tree_and_its_filter_line() -> None:
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause(0.3)
        await pilot.press("z")
        await pilot.pause()
        assert app.query_one(SplitView).zoomed
        await pilot.press("slash", "p", "a")
        await pilot.pause()
        assert not app.query_one(SplitView).zoomed
        field = app.query_one(FilterInput)
        assert field.has_focus and field.region.width > 0
        assert app.filter_text == "pa"


async def test_the_first_frame_after_slash_and_its_text_is_the_filtered_tree() -> None:
    # `/` moved the focus and showed the filter line: a frame of its own repainted every
    # line of the whole tree (for the focus) before the filtered tree's frame.
    rows = [Workflow(f"job-{i:02d}", "PENDING", name="job", created_at_ms=i) for i in range(30)]
    rows.append(Workflow("needle-1", "PENDING", name="job", created_at_ms=100))
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        feeds[0].push(rows, full=True)
        await pilot.pause(0.3)
        tree = app.query_one(WorkflowTree)
        assert len(tree.shown_ids()) == 31
        painted: list[str] = []
        render_line = tree.render_line

        def recorded(y: int) -> Strip:
            strip = render_line(y)
            painted.append(strip.text.strip())
            return strip

        tree.render_line = recorded  # type: ignore[method-assign]
        for ch in "/needle":
            app.post_message(events.Key(ch if ch != "/" else "slash", ch))
        await pilot.pause(0.3)
        assert tree.shown_ids() == ["needle-1"]
        lines = [text for text in painted if text]
        assert lines and all("needle-1" in text for text in lines)


async def test_the_tree_panes_frame_follows_the_focus_without_restyling_the_pane() -> None:
    # A :focus-within rule made Textual restyle the pane's whole subtree (the tree's ~20
    # component classes among it) on every focus change inside it, as `/` is.
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause(0.3)
        pane = app.query_one(WorkflowPane)
        assert pane.styles.border_top[0] == "double"
        restyled: list[str] = []
        update_nodes = app.stylesheet.update_nodes

        def recorded(nodes: Any, animate: bool = False) -> None:
            nodes = list(nodes)
            restyled.extend(type(n).__name__ for n in nodes)
            update_nodes(nodes, animate)

        app.stylesheet.update_nodes = recorded  # type: ignore[method-assign]
        await pilot.press("slash", "p")
        await pilot.pause(0.3)
        assert app.query_one(FilterInput).has_focus
        assert "WorkflowPane" not in restyled and "TreeHeader" not in restyled
        assert pane.styles.border_top[0] == "double"
        await pilot.press("enter", "z")  # the details alone take the focus
        await pilot.pause(0.3)
        await pilot.press("z")
        await pilot.pause(0.3)
        assert app.query_one(WorkflowTree).has_focus
        assert pane.styles.border_top[0] == "double"
        app.query_one("#details-scroll").focus()
        await pilot.pause(0.3)
        assert pane.styles.border_top[0] == "hkey"
