"""The tree's columns and header, the sort key, the split and the full-width details,
through Pilot, read off the screen as a user sees it."""

from __future__ import annotations

from typing import Any

from test_ui_support import NOW_MS, PARENT, family_rows, make_app, screen_lines

from limbo_tui.model import Workflow
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests import seed


def pane_lines(app: Any, selector: str = "#tree-pane") -> list[str]:
    region = app.query_one(selector).region
    return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]


def header(app: Any) -> str:
    return pane_lines(app, "#tree-header")[0]


def line_of(app: Any, text: str) -> str:
    found = [line for line in pane_lines(app, "#tree") if text in line]
    assert found, (text, pane_lines(app, "#tree"))
    return found[0]


async def test_at_80x24_a_header_names_the_columns_and_numbers_align_at_every_depth() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        top = header(app)
        for title in ("status", "id", "recovery", "mark"):
            assert title in top, top
        parent, child = line_of(app, "fe5f923f"), line_of(app, "…-1")
        # The essentials whole: status word, short id, the counter, the limbo mark.
        for whole in ("PENDING", "fe5f923f", "disp 2/3", "‼ LIMBO"):
            assert whole in parent, parent
        assert "DEAD" in child and "disp 3/3" in child
        # Parent and child (one level deeper) put their counters in the same column,
        # under its title.
        assert parent.index("disp") == child.index("disp") == top.index("recovery")
        assert parent.index("fe5f923f") == child.index("…-1") == top.index("id ")
        # The name gave way (cut with an ellipsis) rather than a number.
        assert "dbos_workflow" not in parent and "…" in parent


async def test_wider_terminals_show_more_columns_and_no_half_blank_pane() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        top = header(app)
        for title in ("status", "name", "id", "recovery", "steps", "age", "mark"):
            assert title in top, top
        parent = line_of(app, "fe5f923f")
        assert "dbos_workflow" in parent and "1m00s" in parent
        assert parent.index("1m00s") + 5 == top.index("age") + 3
        # The tree is as wide as its columns (not the 3/5 of the screen it had): its
        # lines reach its right edge and the details get the rest.
        width = app.query_one("#tree-pane").region.width
        assert width < 120 and len(parent.rstrip()) >= width - 2, (width, parent)
        assert app.query_one("#details").region.width >= 200 - width - 1


async def test_o_cycles_the_sort_and_the_header_shows_it() -> None:
    app, feeds = make_app()
    rows = [
        *family_rows("old-ok", NOW_MS - 50_000, "SUCCESS"),
        *family_rows("mid-err", NOW_MS - 30_000, "ERROR"),
        *family_rows("new-ok", NOW_MS - 10_000, "SUCCESS"),
        Workflow(
            id="retried",
            status="PENDING",
            name="w",
            recovery_attempts=5,
            created_at_ms=NOW_MS - 20_000,
        ),
    ]
    async with app.run_test(size=(100, 30)) as pilot:
        feeds[0].push(rows, full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)

        def families() -> list[str]:
            return [w for w in tree.shown_ids() if tree.node_for(w).parent is tree.root]

        assert families() == ["new-ok", "retried", "mid-err", "old-ok"]
        assert "↓" not in header(app) and "↑" not in header(app)
        await pilot.press("o")
        await pilot.pause()
        assert families() == ["mid-err", "retried", "new-ok", "old-ok"]
        assert "status↓" in header(app)
        await pilot.press("o")
        await pilot.pause()
        assert families() == ["old-ok", "mid-err", "retried", "new-ok"]
        assert "age↓" in header(app)
        await pilot.press("O")
        await pilot.pause()
        assert families() == ["new-ok", "retried", "mid-err", "old-ok"]
        assert "age↑" in header(app)
        await pilot.press("o")
        await pilot.pause()
        assert families()[0] == "retried" and "recovery↓" in header(app)
        # A change moves its family to its new place at once.
        feeds[0].push([Workflow(id="old-ok", status="SUCCESS", name="dbos_workflow",
                                recovery_attempts=9, created_at_ms=NOW_MS - 50_000)])  # fmt: skip
        await pilot.pause()
        assert families()[0] == "old-ok"
        await pilot.press("o")
        await pilot.pause()
        assert families() == ["new-ok", "retried", "mid-err", "old-ok"]
        assert "↓" not in header(app)


async def test_the_split_moves_with_the_keys_and_is_kept_across_a_resize() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()

        def tree_width() -> int:
            return int(app.query_one("#tree-pane").region.width)

        start = tree_width()
        await pilot.press("less_than_sign")
        await pilot.pause()
        narrower = tree_width()
        assert narrower < start
        await pilot.press("greater_than_sign", "greater_than_sign")
        await pilot.pause()
        wider = tree_width()
        assert wider > narrower and wider - narrower == 20
        # Kept for the session: a resized terminal keeps the share the user chose.
        await pilot.resize_terminal(200, 30)
        await pilot.pause()
        await pilot.pause()
        assert abs(tree_width() - 2 * wider) <= 2
        # The details keep their part: both panes are on screen.
        assert app.query_one("#details").region.width > 20


async def test_z_shows_the_details_full_width_and_escape_backs_out() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        await pilot.press("z")
        await pilot.pause()
        details = app.query_one("#details")
        assert details.region.width == 80
        assert not app.query_one("#tree-pane").display
        assert app.focused is app.query_one("#details-scroll")
        # The details say it all in full lines: the diagnosis sentence unwrapped further.
        text = "\n".join(pane_lines(app, "#details"))
        assert "awaiting-dead-child" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.query_one("#tree-pane").display and details.region.width < 80
        assert app.focused is app.query_one(WorkflowTree)
        assert app.selected_id == PARENT
        await pilot.press("z", "z")
        await pilot.pause()
        assert app.query_one("#tree-pane").display


def test_the_tree_gets_what_its_columns_need_within_bounds() -> None:
    from limbo_tui.ui.split_view import moved_share, tree_width

    # Its own width when that fits; at 80 columns the details keep 32.
    assert tree_width(200, 86, None) == 86
    assert tree_width(80, 86, None) == 48
    # Never less than 40% of the screen: a tree of short lines leaves no blank details.
    assert tree_width(200, 30, None) == 80
    # A share the user chose holds at any size, and leaves both panes on screen.
    assert tree_width(100, 86, 70) == 70 and tree_width(200, 86, 70) == 140
    assert tree_width(60, 86, 80) == 40
    # The keys walk whole tenths, from wherever the split was.
    # At 60 columns the essentials (41 here) beat the 60% rule, the details keep 20.
    assert tree_width(60, 86, None, essential=41) == 40
    assert tree_width(60, 86, None, essential=30) == 36
    assert moved_share(100, 48, +10) == 60 and moved_share(100, 48, -10) == 40
    assert moved_share(100, 80, +10) == 80 and moved_share(100, 20, -10) == 20


async def test_a_tree_taller_than_the_pane_keeps_its_last_column_clear_of_the_scrollbar() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        rows = seed.rows()
        for i in range(30):  # newer families above the seed: it ends up at the bottom
            rows += family_rows(f"fam{i:03d}", NOW_MS - 1_000 * i, "SUCCESS", kids=1)
        feeds[0].push(rows, full=True)
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert tree.max_scroll_y > 0  # the scrollbar is on screen
        assert "‼ LIMBO" in line_of(app, "fe5f923f")
        await pilot.press("o", "o", "o")  # sorted by recoveries: the arrow fits too
        await pilot.pause()
        assert "recovery↓" in header(app) and "mark" in header(app)


async def test_at_60x15_the_tree_keeps_its_essential_columns_whole() -> None:
    app, feeds = make_app()
    async with app.run_test(size=(60, 15)) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        parent = line_of(app, "fe5f923f")
        for whole in ("PENDING", "fe5f923f", "disp 2/3", "‼ LIMBO"):
            assert whole in parent, parent
        assert "mark" in header(app)
        assert app.query_one("#details").region.width >= 19
