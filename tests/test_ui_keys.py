"""Every key and dialog, through Pilot at 80x24, with worker / actions doubles."""

from __future__ import annotations

from test_ui_support import (
    PARENT,
    ActionsDouble,
    WorkerDouble,
    make_app,
    workers_done,
)

from limbo_tui.ui.bindings import KEYS
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.screens.enqueue_form import EnqueueFormScreen
from limbo_tui.ui.screens.fork_picker import ForkStepScreen
from limbo_tui.ui.screens.help import HelpScreen
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.worker.protocol import EnqueueResult, ExperimentParams
from tests import seed

SIZE = (80, 24)


async def settle(app, pilot) -> None:  # type: ignore[no-untyped-def]
    """Let thread workers finish and their messages land."""
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()
    await pilot.pause()


def notes(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(n.message) for n in app._notifications]


async def test_e_enqueues_the_experiment_with_defaults_and_follows_it() -> None:
    worker = WorkerDouble()
    app, feeds = make_app(worker=worker, actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await settle(app, pilot)
        assert worker.calls[0][0] == "enqueue"
        assert worker.calls[0][1] == ExperimentParams.from_settings(app.settings.experiment)
        assert worker.calls[0][1].effective_dedup_id == "6/5"
        assert app.state.following == "new-wf"
        from test_ui_support import family_rows

        feeds[0].push(family_rows("new-wf", 1_770_326_605_000, status="PENDING"))
        await pilot.pause()
        assert app.selected_id == "new-wf"


async def test_E_opens_the_form_validates_and_enqueues() -> None:
    worker = WorkerDouble()
    app, _ = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EnqueueFormScreen)
        children = app.screen.query_one("#children")
        children.value = ""
        await pilot.press(*"300", "enter")
        await pilot.pause()
        assert isinstance(app.screen, EnqueueFormScreen)  # refused: out of range
        assert "between" in str(app.screen.query_one("#form-error").render())
        children.value = "2"
        app.screen.query_one("#steps").value = "4"
        app.screen.query_one("#crash_child").value = "1"
        app.screen.query_one("#crash_step").value = "2"
        app.screen.query_one("#dedup_id").value = "mine"
        children.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, EnqueueFormScreen)
        params = worker.calls[-1][1]
        assert (params.children, params.steps, params.crash_child, params.crash_step) == (
            2,
            4,
            1,
            2,
        )
        assert params.effective_dedup_id == "mine"


async def test_escape_closes_the_form_without_enqueueing() -> None:
    worker = WorkerDouble()
    app, _ = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("escape")
        await settle(app, pilot)
        assert worker.calls == []


async def test_rejected_enqueue_names_the_holder_and_offers_a_jump() -> None:
    worker = WorkerDouble(
        enqueue_result=EnqueueResult(
            False, "deduplicated: 6/5 is held", None, holder_id=PARENT, holder_status="PENDING"
        )
    )
    app, feeds = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        tree.select_workflow(f"{PARENT}-1")
        await pilot.pause()
        await pilot.press("e")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#question").render())
        assert "'6/5'" in question and "fe5f923f" in question and "PENDING" in question
        assert any("deduplicated" in n for n in notes(app))
        await pilot.press("y")
        await pilot.pause()
        assert app.selected_id == PARENT


async def test_x_crashes_and_r_restarts_the_worker() -> None:
    worker = WorkerDouble()
    app, _ = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await settle(app, pilot)
        header = app.query_one(StatusHeader)
        assert worker.calls[-1][0] == "crash"
        assert header.worker_state == "DOWN"
        assert "worker DOWN limbo-tui-worker" in str(header.render())
        await pilot.press("r")
        await settle(app, pilot)
        assert worker.calls[-1][0] == "restart"
        assert header.worker_state == "RUNNING"


async def test_worker_keys_without_a_worker_explain_why() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "x", "r")
        await pilot.pause()
        assert sum("no embedded worker" in n for n in notes(app)) == 3


async def test_c_asks_then_cancels_with_children() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "frees dedup id '6/5'" in str(app.screen.query_one("#question").render())
        await pilot.press("n")
        await settle(app, pilot)
        assert actions.calls == []
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("space")  # untick "children too"
        await pilot.press("y")
        await settle(app, pilot)
        assert actions.calls == [("cancel", PARENT, False)]
        await pilot.press("c", "y")
        await settle(app, pilot)
        assert actions.calls[-1] == ("cancel", PARENT, True)


async def test_u_asks_then_resumes() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert actions.calls == []
        await pilot.press("u", "y")
        await settle(app, pilot)
        assert actions.calls == [("resume", PARENT)]


async def test_f_picks_a_step_and_forks() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        app.query_one(WorkflowTree).select_workflow(f"{PARENT}-1")
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, ForkStepScreen)
        await pilot.press("up", "enter")  # from the last recorded step (7)
        await settle(app, pilot)
        assert actions.calls == [("fork", f"{PARENT}-1", 7)]
        assert app.state.following == f"{PARENT}-1-fork"


async def test_y_copies_the_selected_id() -> None:
    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == PARENT


async def test_question_mark_lists_every_key() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "".join(str(s.render()) for s in app.screen.query("Static"))
        for k in KEYS:
            assert k.help in text
        assert "MAX_RECOVERY_ATTEMPTS_EXCEEDED" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_q_quits() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_q_stops_a_running_worker_as_ctrl_c_stops_a_dbos_app() -> None:
    worker = WorkerDouble()
    app, _ = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        for _ in range(50):
            if not app.is_running:
                break
            await pilot.pause(0.05)
    assert app.return_code == 0
    assert ("stop_gracefully", None) in worker.calls
    assert ("crash", None) not in worker.calls


async def test_palette_offers_every_action() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        # Live push too: a monitor's feed offers it (only then: test_live_push.py).
        for k in KEYS:
            assert any(k.help.lower() in t.lower() for t in titles), k.help
        await pilot.press("ctrl+p")
        await pilot.pause()
        from textual.command import CommandPalette

        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"only workflows in limbo")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.limbo_only


async def test_read_only_refuses_mutating_keys_and_hides_them() -> None:
    worker, actions = WorkerDouble(), ActionsDouble()
    app, feeds = make_app(worker=worker, actions=actions, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        shown = {b.binding.id for b in app.screen.active_bindings.values() if b.binding.show}
        for k in KEYS:
            assert (k.binding_id in shown) == (k.show and not k.mutating), k.binding_id
        await pilot.press("e", "E", "x", "r", "c", "u", "f")
        await settle(app, pilot)
        assert worker.calls == [] and actions.calls == []
        assert not isinstance(app.screen, ConfirmScreen | EnqueueFormScreen | ForkStepScreen)
        refusals = [n for n in notes(app) if n.startswith("read-only")]
        assert len(refusals) == 7
        # View keys still work.
        await pilot.press("l")
        await pilot.pause()
        assert app.limbo_only


async def test_tree_keys_move_fold_and_unfold_like_a_terminal_user_expects() -> None:
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        tree = app.query_one(WorkflowTree)
        tree.focus()
        await pilot.press("g")
        assert tree.selected_id == PARENT
        await pilot.press("j")
        child = tree.selected_id
        assert child is not None and child != PARENT
        await pilot.press("k")
        assert tree.selected_id == PARENT
        await pilot.press("G")
        assert tree.cursor_line == tree.last_line
        await pilot.press("g", "left")  # the parent's family is open: ← folds it
        assert not tree.node_for(PARENT).is_expanded  # type: ignore[union-attr]
        await pilot.press("right")  # → unfolds it again
        assert tree.node_for(PARENT).is_expanded  # type: ignore[union-attr]
        await pilot.press("right")  # on an open family → goes to its first child
        assert tree.selected_id == child
        await pilot.press("left")  # on a leaf ← goes to the parent
        assert tree.selected_id == PARENT
        await pilot.press("minus")
        assert all(not n.is_expanded for n in tree.root.children)
        await pilot.press("plus")
        assert all(n.is_expanded for n in tree.root.children if n.allow_expand)
        assert child in tree.shown_ids()


async def test_escape_clears_the_filter_then_limbo_only() -> None:
    app, feeds = make_app(worker=WorkerDouble(), actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows())
        await pilot.pause()
        everything = app.query_one(WorkflowTree).shown_ids()
        await pilot.press("slash", "n", "o", "p", "e", "enter")
        await pilot.pause()
        assert app.query_one(WorkflowTree).shown_ids() != everything
        await pilot.press("l")
        await pilot.press("escape")  # the tree has focus: escape clears the filter first
        await pilot.pause()
        assert app.filter_text == "" and app.limbo_only
        await pilot.press("escape")
        await pilot.pause()
        assert not app.limbo_only
        assert app.query_one(WorkflowTree).shown_ids() == everything


async def test_x_and_r_on_a_monitor_say_there_is_no_worker_not_done(dbos_url: str) -> None:
    from limbo_tui.settings import Settings
    from limbo_tui.worker.monitor_only import NoWorker

    worker = NoWorker(dbos_url, Settings())
    app, _ = make_app(worker=worker, actions=worker.actions)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x", "r")
        await settle(app, pilot)
        said = notes(app)
        assert not any("done" in n for n in said), said
        assert sum("no embedded worker here (--worker none)" in n for n in said) == 2


async def test_x_asks_first_when_the_worker_runs_the_users_workflows() -> None:
    from dataclasses import replace

    from limbo_tui.settings import Settings, WorkerSettings

    worker = WorkerDouble()
    settings = replace(Settings(), worker=WorkerSettings(imports=("shop.workflows",)))
    app, _ = make_app(worker=worker, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "shop.workflows" in str(app.screen.query_one("#question").render())
        assert worker.calls == []
        await pilot.press("escape")
        await settle(app, pilot)
        assert worker.calls == []
        await pilot.press("x")
        await pilot.pause()
        await pilot.pause(0.3)  # the dialog ignores keys typed before it was shown
        await pilot.press("y")
        await settle(app, pilot)
        assert worker.calls == [("crash", None)]
        assert any("as after a SIGKILL" in n for n in notes(app))


async def test_t_shows_the_selected_workflows_timeline_with_dispatches_and_crashes() -> None:
    from dataclasses import replace

    from limbo_tui.model import Workflow

    worker = WorkerDouble()
    app, feeds = make_app(worker=worker, actions=ActionsDouble())
    async with app.run_test(size=(120, 40)) as pilot:
        rows = seed.rows()
        feeds[0].push(rows)
        await pilot.pause()
        parent = next(r for r in rows if isinstance(r, Workflow) and r.id == PARENT)
        app.query_one(WorkflowTree).focus()
        await pilot.press("g", "t")
        await pilot.press("x")
        await settle(app, pilot)
        app.poll_worker()
        await settle(app, pilot)
        later = replace(
            parent,
            recovery_attempts=parent.recovery_attempts + 1,
            updated_at_ms=(parent.updated_at_ms or 0) + 1_000,
        )
        feeds[0].push([later])
        await settle(app, pilot)
        shown = str(app.query_one("#details-timeline").render())
        n = parent.recovery_attempts
        assert f"dispatch {n + 1} (recovery_attempts {n} -> {n + 1})" in shown
        assert "worker crashed (crash 1)" in shown and "(seen)" in shown
        await pilot.press("t")
        await pilot.pause()
        assert "timeline" not in str(app.query_one("#details-timeline").render())


async def test_the_focused_pane_has_a_doubled_frame_and_tab_only_stops_on_panes() -> None:
    from test_ui_support import screen_lines

    app, feeds = make_app()
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(seed.rows(), full=True)
        await pilot.pause()
        framed = ["#tree-pane", "#details-scroll", "#steps"]
        panes = [app.query_one(name) for name in framed]
        stops = [app.query_one("#tree"), *panes[1:]]

        def frames() -> list[bool]:
            lines = screen_lines(app)
            return ["═" in lines[p.region.y][p.region.x : p.region.right] for p in panes]

        assert frames() == [True, False, False]
        for expected in ([False, True, False], [False, False, True], [True, False, False]):
            await pilot.press("tab")
            await pilot.pause()
            # Every stop is a pane with its frame: no Tab lands on something unseen.
            assert app.focused in stops
            assert frames() == expected


async def test_fork_picker_opens_on_the_failed_step_marked_without_colour() -> None:
    from test_ui_support import screen_lines

    from limbo_tui.model import Step

    steps = [
        Step(PARENT, 1, "fetch", completed_at_ms=1),
        Step(PARENT, 2, "charge", failed=True, completed_at_ms=2),
        Step(PARENT, 3, "mail", completed_at_ms=3),
    ]
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.push_screen(ForkStepScreen("demo", steps))
        await pilot.pause()
        await pilot.pause()
        marked = [line for line in screen_lines(app) if "▶" in line]
        assert len(marked) == 1 and "step 2: charge (failed)" in marked[0], marked
        await pilot.press("down")
        await pilot.pause()
        marked = [line for line in screen_lines(app) if "▶" in line]
        assert len(marked) == 1 and "step 3: mail" in marked[0], marked
