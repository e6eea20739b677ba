"""The workflow an action targets is the row the user sees highlighted, or nothing.

Tried as a new user would (issue 12): a filter hides the highlighted workflow, then `c`.
The dialog must name the row now highlighted, or say that nothing is selected; it must
never offer to cancel a workflow that is no longer on screen."""

from __future__ import annotations

from test_ui_keys import notes, settle
from test_ui_support import NOW_MS, PARENT, ActionsDouble, family_rows, make_app
from textual.widgets import Static

from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests import seed

SIZE = (80, 24)


async def test_a_filter_that_hides_the_selection_moves_the_target_to_the_highlighted_row() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(family_rows("done-a", NOW_MS - 5000, status="PENDING") + seed.rows())
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert tree.select_workflow(PARENT)
        await pilot.pause()
        assert app.selected_id == PARENT
        # A filter that keeps only the other family: the PENDING parent is hidden.
        await pilot.press("slash", *"done-a", "enter")
        await settle(app, pilot)
        assert PARENT not in tree.shown_ids()
        highlighted = tree.selected_id
        assert highlighted is not None and highlighted in tree.shown_ids()
        assert app.selected_id == highlighted
        await pilot.press("c")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#question").render())
        assert highlighted[:8] in question
        assert PARENT[:8] not in question


async def test_c_on_an_empty_filtered_tree_says_nothing_is_selected() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        assert app.selected_id == PARENT
        await pilot.press("slash", *"no-such-workflow", "enter")
        await settle(app, pilot)
        assert app.query_one(WorkflowTree).shown_ids() == []
        assert app.selected_id is None
        # The details pane says so too: it shows no workflow the tree hides.
        assert "No workflow selected" in str(app.query_one("#details-status", Static).render())
        await pilot.press("c")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("nothing selected" in n for n in notes(app))
        assert actions.calls == []
