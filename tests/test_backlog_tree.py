"""A queue's large ENQUEUED backlog is one summarized line of the tree, with its counts
(loaded, in the database, with a warning), oldest and newest; opened, it shows a page of
its members, and enter on its last line the next page. Workflows in limbo stay apart."""

from __future__ import annotations

from test_ui_support import NOW_MS, make_app

from limbo_tui.backlog import GROUP_MIN, PAGE
from limbo_tui.model import GroupTotal, Totals, Workflow
from limbo_tui.ui.workflow_tree import WorkflowTree

BACKLOG = 450
SIZE = (120, 30)


def _rows(in_database: int = 500_000) -> list[object]:
    rows: list[object] = [
        Workflow(
            f"bulk-{i:05d}",
            "ENQUEUED",
            name="bulk_job",
            queue="bulk",
            created_at_ms=NOW_MS - 60_000 - i * 10,
        )
        for i in range(BACKLOG)
    ]
    rows.append(Workflow("solo-1", "SUCCESS", name="other", created_at_ms=NOW_MS - 1_000))
    groups = (GroupTotal("ENQUEUED", "bulk", in_database, NOW_MS - 3_600_000, NOW_MS - 60_000),)
    rows.append(Totals(in_database + 1, groups, NOW_MS))
    return rows


def _lines(tree: WorkflowTree) -> list[str]:
    return [str(node.label) for node in tree.visible_nodes()]


async def test_a_large_backlog_is_one_line_with_its_counts_and_opens_by_pages() -> None:
    assert BACKLOG >= GROUP_MIN
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push(_rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        lines = _lines(tree)
        assert len(lines) == 2  # the other workflow, and the backlog's one line
        group = next(line for line in lines if "on queue bulk" in line)
        assert f"{BACKLOG:,} on queue bulk, 500,000 in the database" in group
        assert "oldest 1h" in group and "newest 1m" in group
        # Selecting the group selects no workflow: no key acts on it.
        tree.cursor_line = lines.index(group)
        await pilot.pause()
        assert app.selected_id is None
        await pilot.press("enter")  # open it
        await pilot.pause()
        lines = _lines(tree)
        assert sum("bulk_job" in line for line in lines) == PAGE
        more = lines[-1]
        assert f"{BACKLOG - PAGE:,} more: enter shows the next {PAGE}" in more
        tree.cursor_line = len(lines) - 1
        await pilot.press("enter")
        await pilot.pause()
        assert sum("bulk_job" in line for line in _lines(tree)) == 2 * PAGE


async def test_a_member_can_be_jumped_to_and_limbo_stays_apart() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push(_rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        # Deep in the third page: the group opens as far as needed.
        assert tree.select_workflow("bulk-00250")
        await pilot.pause()
        assert app.selected_id == "bulk-00250"
        # Under a filter that leaves few, there is no group.
        app.state.set_filter("bulk-0044")
        app.repaint()
        await pilot.pause()
        lines = _lines(tree)
        assert len(lines) == 10 and not any("on queue" in line for line in lines)


def test_group_roots_keeps_limbo_and_families_apart() -> None:
    from limbo_tui.backlog import RootGroup, group_roots
    from limbo_tui.model import WorkflowGraph

    graph = WorkflowGraph()
    graph.apply(_rows(in_database=GROUP_MIN + 5))
    roots = graph.roots()
    entries = group_roots(graph, roots, keep_apart={"bulk-00003"})
    groups = [e for e in entries if isinstance(e, RootGroup)]
    assert len(groups) == 1 and "bulk-00003" not in groups[0].members
    assert "bulk-00003" in entries
    assert groups[0].members[0] == "bulk-00000"  # the newest first, at its place
    assert groups[0].total is not None and groups[0].total.count == GROUP_MIN + 5
    # A filter that leaves few: no group.
    small = [w for w in roots if w in ("solo-1", "bulk-00001")]
    assert group_roots(graph, small, set(), filtered=True) == small


def test_a_backlog_stays_one_line_while_its_loaded_rows_are_dequeued() -> None:
    from limbo_tui.backlog import RootGroup, group_roots
    from limbo_tui.model import WorkflowGraph

    graph = WorkflowGraph()
    graph.replace_all(_rows())
    # All but 3 of the loaded rows dequeued (DBOS takes the highest priority first): the
    # database still holds 500,000 minus those, so the 3 stay one summarized line.
    graph.apply(
        [Workflow(f"bulk-{i:05d}", "PENDING", name="bulk_job", queue="bulk",
                  created_at_ms=NOW_MS - 60_000 - i * 10) for i in range(3, BACKLOG)]
    )  # fmt: skip
    entries = group_roots(graph, graph.roots(), set())
    groups = [e for e in entries if isinstance(e, RootGroup)]
    assert len(groups) == 1 and len(groups[0].members) == 3
    assert groups[0].total is not None and groups[0].total.count > GROUP_MIN


async def test_a_parent_of_many_children_shows_them_a_page_at_a_time() -> None:
    kids = 450
    rows: list[object] = [Workflow("big-parent", "PENDING", name="fan_out", created_at_ms=NOW_MS)]
    rows += [
        Workflow(f"big-parent-{i}", "SUCCESS", name="leaf", parent_id="big-parent",
                 created_at_ms=NOW_MS + i)
        for i in range(kids)
    ]  # fmt: skip
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push(rows, full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        lines = _lines(tree)
        # An unfinished family opens by default: the parent, a page, and the more line.
        assert len(lines) == 1 + PAGE + 1
        assert f"{kids - PAGE:,} more children: enter shows the next {PAGE}" in lines[-1]
        tree.cursor_line = len(lines) - 1
        await pilot.press("enter")
        await pilot.pause()
        assert sum("leaf" in line for line in _lines(tree)) == 2 * PAGE
        assert tree.select_workflow("big-parent-420")
        await pilot.pause()
        assert app.selected_id == "big-parent-420"
        assert sum("leaf" in line for line in _lines(tree)) == kids


async def test_at_80x24_the_backlog_line_keeps_every_count_whole() -> None:
    from test_ui_support import screen_lines

    app, feeds = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        feeds[0].push(_rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        region = tree.region
        lines = [line[region.x : region.right] for line in screen_lines(app)[region.y :]]
        group = next(line for line in lines if "ENQUEUED" in line)
        # The full sentence does not fit 48 columns: the compact one says the same
        # numbers (loaded / in the database, oldest-newest), the queue's name last.
        assert f"{BACKLOG:,}/500,000" in group and "1h00m-1m00s" in group, group
        tree.cursor_line = next(i for i, line in enumerate(_lines(tree)) if "bulk" in line)
        await pilot.press("enter")  # open it, then its last line: the "more" one
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()
        lines = [line[region.x : region.right] for line in screen_lines(app)[region.y :]]
        more = next(line for line in lines if "more" in line)
        assert f"{BACKLOG - PAGE:,} more" in more and f"+{PAGE}" in more, more
