"""The app through Pilot at 80x24: the feed seam, selection, filter, limbo-only, pause."""

from __future__ import annotations

from test_ui_support import (
    NOW_MS,
    PARENT,
    RepaintCount,
    WorkerDouble,
    family_rows,
    make_app,
    screen_lines,
    workers_done,
)

from limbo_tui.model import Step, Workflow
from limbo_tui.pg.feed import FeedState
from limbo_tui.ui.details_pane import DetailsPane
from limbo_tui.ui.limbo_bar import LimboBar
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.workflow_tree import WorkflowTree
from tests import seed

SIZE = (80, 24)


async def test_empty_app_renders_at_80x24() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert feeds and feeds[0].started
        # A monitor (the default settings) polls and offers live push, as the real feed
        # does (tests/test_ui_feed_double.py).
        header = app.query_one(StatusHeader)
        assert (header.feed_state, header.live_push_offer) == ("POLLING", True)
        assert app.query_one(WorkflowTree).shown_ids() == []
        assert "nothing in limbo" in str(app.query_one(LimboBar).render())
    assert feeds[0].stopped


async def test_seed_state_shows_limbo_parent_and_dead_child() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert tree.shown_ids() == [PARENT, f"{PARENT}-1"]
        parent_line = str(tree.node_for(PARENT).label)
        assert "PENDING" in parent_line and "‼ LIMBO" in parent_line
        assert "disp 2/3" in parent_line
        child_line = str(tree.node_for(f"{PARENT}-1").label)
        assert "DEAD" in child_line and "…-1" in child_line
        assert child_line.split()[-1] == "3"  # the steps column: 3 done
        assert "in limbo" in str(app.query_one(LimboBar).render())
        # The cursor starts on the first line and the details follow it.
        assert app.selected_id == PARENT
        fields = str(app.query_one("#details-fields").render())
        assert "6/5" in fields and "example-queue" in fields


async def test_not_loaded_child_is_shown() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        rows = seed.rows()[:1]
        from limbo_tui.model import Step

        rows.append(Step(PARENT, 1, "dbos_sub_workflow", child_workflow_id="ghost-child"))
        feeds[0].push(rows)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert "(not loaded)" in str(tree.node_for("ghost-child").label)


async def test_selection_survives_a_burst_of_500_updates() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feed = feeds[0]
        for i in range(20):
            feed.push(family_rows(f"old-{i:02d}", NOW_MS - 3_600_000 + i * 1000))
        feed.push(seed.rows())
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert tree.select_workflow(f"{PARENT}-1")
        await pilot.pause()
        node = tree.node_for("old-05")
        node.expand()
        await pilot.pause()
        offset_before = tree.cursor_line - tree.scroll_offset.y
        for i in range(500):
            # New families above the selection, and updates of the selected one.
            feed.push(family_rows(f"new-{i:03d}", NOW_MS - 1000 + i, status="PENDING", kids=1))
            feed.push(
                [
                    Workflow(
                        id=f"{PARENT}-1",
                        status="MAX_RECOVERY_ATTEMPTS_EXCEEDED",
                        name="dbos_sub_workflow",
                        parent_id=PARENT,
                        recovery_attempts=3 + i,
                        created_at_ms=NOW_MS - 59_000,
                    )
                ]
            )
        await pilot.pause()
        await pilot.pause()
        assert app.selected_id == f"{PARENT}-1"
        assert tree.cursor_node is tree.node_for(f"{PARENT}-1")
        assert tree.node_for("old-05").is_expanded
        assert tree.cursor_line - tree.scroll_offset.y == offset_before
        assert "disp 502/" in str(tree.node_for(f"{PARENT}-1").label)
        assert len(tree.shown_ids()) > 500


async def test_filter_and_limbo_only() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(family_rows("done-a", NOW_MS - 5000) + seed.rows())
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        tree.node_for("done-a").expand()
        await pilot.pause()
        assert "done-a" in tree.shown_ids()
        await pilot.press("l")
        await pilot.pause()
        assert tree.shown_ids() == [PARENT, f"{PARENT}-1"]
        assert "limbo only" in str(app.query_one(LimboBar).render())
        await pilot.press("l")
        await pilot.pause()
        assert "done-a" in tree.shown_ids()
        await pilot.press("slash")
        await pilot.press(*"done-a-2")
        await pilot.pause()
        assert tree.shown_ids() == ["done-a", "done-a-2"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is tree
        assert tree.shown_ids() == ["done-a", "done-a-2"]
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert "done-a-1" in tree.shown_ids() and PARENT in tree.shown_ids()
        # Filter by status word and by queue.
        await pilot.press("slash", *"example-queue", "enter")
        await pilot.pause()
        assert tree.shown_ids()[0] == PARENT and "done-a" not in tree.shown_ids()


async def test_pause_holds_changes_and_counts_them() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        await pilot.press("p")
        header = app.query_one(StatusHeader)
        assert header.paused_changes == 0
        feeds[0].push(family_rows("during-pause", NOW_MS - 10, kids=2))
        feeds[0].push(family_rows("also-paused", NOW_MS - 5, kids=0))
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert "during-pause" not in tree.shown_ids()
        assert header.paused_changes == 4
        assert "4 changes wait" in str(header.render())
        await pilot.press("p")
        await pilot.pause()
        assert header.paused_changes is None
        assert "during-pause" in tree.shown_ids()


async def test_details_follow_the_cursor_and_enter_on_child_step_jumps() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        assert app.selected_id == PARENT
        details = app.query_one(DetailsPane)
        assert "awaiting-dead-child" in str(details.query_one("#details-diagnoses").render())
        steps = app.query_one("#steps")
        assert steps.row_count == 1
        steps.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected_id == f"{PARENT}-1"
        assert app.focused is app.query_one(WorkflowTree)
        await pilot.press("up")
        await pilot.pause()
        assert app.selected_id == PARENT


async def test_feed_errors_are_shown_not_fatal() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()

        feeds[0].on_state(FeedState("RECONNECTING", "connection lost", 0.0))
        await pilot.pause()
        header = app.query_one(StatusHeader)
        assert header.feed_state == "RECONNECTING"
        assert "connection lost" in str(header.render())
        # A row the graph cannot take (an unhashable step number) fails the batch.
        feeds[0].push([Step(PARENT, [1], "broken")])  # type: ignore[arg-type]
        await pilot.pause()
        assert "could not apply a feed batch" in str(header.render())
        feeds[0].on_state(FeedState("POLLING", "", 1.5, source="every 0.2-2 s"))
        feeds[0].push(seed.rows())
        await pilot.pause()
        assert "POLLING every 0.2-2 s 1.5 ev/s" in str(header.render())
        assert app.is_running
        assert PARENT in app.query_one(WorkflowTree).shown_ids()  # the next batch lands


async def test_a_monitor_polling_by_choice_keeps_the_second_line_for_problems() -> None:
    """A monitor polls until the user asks for live push: that is no problem (no ⚠), the
    offer is on the first line, and a fallback or a worker's trouble still shows."""

    worker = WorkerDouble(state="DOWN", detail="crashed on purpose (x); r restarts it")
    app, feeds = make_app(worker=worker)
    async with app.run_test(size=(140, 24)) as pilot:
        await workers_done(app)
        await pilot.pause()
        header = app.query_one(StatusHeader)
        first, second = str(header.render()).splitlines()
        assert "feed POLLING every 0.2-2 s 0.0 ev/s │ P: live push" in first
        assert second.startswith("⚠ crashed on purpose (x); r restarts it │ db "), second
        # A poll the feed fell back to (no offer) is a problem, and says why.
        feeds[0].on_state(
            FeedState("POLLING", "every 0.2-2 s: LISTEN does not reach us", source="every 0.2-2 s")
        )
        await pilot.pause()
        second = str(header.render()).splitlines()[1]
        assert second.startswith("⚠ every 0.2-2 s: LISTEN does not reach us │ db "), second


async def test_a_feed_that_fails_to_start_leaves_the_app_running() -> None:
    from limbo_tui.settings import Settings
    from limbo_tui.ui.app import LimboApp

    def broken(on_batch, on_state):  # type: ignore[no-untyped-def]
        class Broken:
            async def start(self) -> None:
                raise OSError("connection refused to postgresql://u:secret@db/x")

            async def stop(self) -> None:
                pass

        return Broken()

    app = LimboApp(Settings(), DB_URL_MASKED, feed_factory=broken, clock=lambda: NOW_MS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        header = app.query_one(StatusHeader)
        assert header.feed_state == "DOWN"
        assert "secret" not in str(header.render())
        assert "connection refused" in str(header.render())


DB_URL_MASKED = "postgresql://u:***@db/x"


async def test_no_color_keeps_status_words(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        assert app.no_color
        tree = app.query_one(WorkflowTree)
        line = str(tree.node_for(PARENT).label)
        assert "PENDING" in line and "LIMBO" in line


async def test_a_worker_that_fails_to_start_is_reported_in_the_header() -> None:
    from test_ui_support import WorkerDouble

    class Failing(WorkerDouble):
        def start(self) -> None:
            raise RuntimeError("DBOS launch failed: postgresql://u:hunter2@db/x refused")

    app, _ = make_app(worker=Failing(state="NONE"))
    app.start_worker = True
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        header = str(app.query_one(StatusHeader).render())
        assert "DBOS launch failed" in header and "hunter2" not in header
        assert app.is_running


async def test_a_storm_of_batches_costs_few_repaints_at_10_hz() -> None:
    from dataclasses import replace

    app, feeds = make_app()
    app.settings = replace(app.settings, ui=replace(app.settings.ui, refresh_hz=10.0))
    repaints = RepaintCount(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        before = repaints.count
        for i in range(300):
            feeds[0].push(family_rows(f"storm-{i:03d}", NOW_MS - i, kids=1))
        await pilot.pause(0.3)
        assert repaints.count - before <= 4
        assert len(app.query_one(WorkflowTree).shown_ids()) == 300


async def test_a_folded_family_shows_its_children_when_opened_or_jumped_into() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(family_rows("done-a", NOW_MS - 5000, kids=3) + seed.rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        assert "done-a" in tree.shown_ids() and "done-a-1" not in tree.shown_ids()
        # Opening the finished family shows every child, labelled like any other line.
        tree.select_workflow("done-a")
        await pilot.press("space")
        await pilot.pause()
        assert tree.shown_ids()[:4] == ["done-a", "done-a-1", "done-a-2", "done-a-3"]
        assert "SUCCESS" in str(tree.node_for("done-a-2").label)
        await pilot.press("space")
        await pilot.pause()
        assert "done-a-1" not in tree.shown_ids()
        # A jump to a child of a folded family (e.g. a dedup id's holder) opens it.
        feeds[0].push(family_rows("done-b", NOW_MS - 9000, kids=2))
        await pilot.pause()
        app.jump_to("done-b-2")
        await pilot.pause()
        assert app.selected_id == "done-b-2"
        assert tree.cursor_node is tree.node_for("done-b-2")


async def test_a_new_theme_recolours_every_line() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        before = tree.node_for(PARENT).label.spans
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        after = tree.node_for(PARENT).label.spans
        # The same parts of the line, in the new theme's colours.
        assert [(s.start, s.end) for s in after] == [(s.start, s.end) for s in before]
        assert [s.style for s in after] != [s.style for s in before]


async def test_a_new_selection_shows_its_details_from_the_top() -> None:
    from textual.containers import VerticalScroll

    app, feeds = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        tree.focus()
        await pilot.press("g")
        await pilot.pause()
        scroll = app.query_one("#details-scroll", VerticalScroll)
        assert scroll.max_scroll_y > 0, "the parent's details must be taller than the pane"
        scroll.scroll_end(animate=False)
        await pilot.pause()
        assert scroll.scroll_y > 0
        await pilot.press("j")
        await pilot.pause()
        assert scroll.scroll_y == 0


async def test_first_frame_says_loading_until_the_first_snapshot() -> None:
    app, feeds = make_app(worker=WorkerDouble())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert "Loading workflows" in shown and "No workflows yet" not in shown
        feeds[0].push([], full=True)
        await pilot.pause()
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert "No workflows yet" in shown and "Loading" not in shown
