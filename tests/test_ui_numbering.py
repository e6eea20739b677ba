"""One numbering on every surface, and each workflow's own max_recovery_attempts.

Through Pilot at 80x24: the tree's live step, the steps table, the fork picker and the
header's crash point name a step by its DBOS function id and a child by its id; the
`E` form takes the same numbers; the recovery counter's maximum is what the worker that
dispatched the workflow registered (kept across sessions), else [limits], else "?".
"""

from __future__ import annotations

from typing import Any

from test_ui_support import NOW_MS, ActionsDouble, WorkerDouble, make_app, screen_lines

from limbo_tui.model import RegisteredMax, Step, Workflow
from limbo_tui.numbering import crash_point_text
from limbo_tui.settings import Settings
from limbo_tui.ui.screens.enqueue_form import EnqueueFormScreen
from limbo_tui.ui.screens.fork_picker import ForkStepScreen
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.worker.protocol import StepProgress

SIZE = (80, 24)
RUN = "3c1d9a70-5b2e-4f7a-9e61-0d4f2b8c7a11"
OURS = "limbo-tui-worker"
PARENT_NAME, CHILD_NAME = "limbo_demo.parent", "limbo_demo.child"


def experiment_rows(child_status: str = "PENDING", attempts: int = 1) -> list[Any]:
    """The seed experiment as DBOS writes it: child 1 (-1) done, child 2 (-3: the parent's
    function ids 1 and 2 went to child 1's start and wait) done with 3 of its steps."""
    created = NOW_MS - 12_000
    rows: list[Any] = [
        Workflow(RUN, "PENDING", name=PARENT_NAME, executor_id=OURS, recovery_attempts=1,
                 created_at_ms=created, updated_at_ms=created + 200),
        Step(RUN, 1, CHILD_NAME, child_workflow_id=f"{RUN}-1"),
        Step(RUN, 2, "DBOS.getResult", child_workflow_id=f"{RUN}-1"),
        Step(RUN, 3, CHILD_NAME, child_workflow_id=f"{RUN}-3"),
    ]  # fmt: skip
    for suffix, status, done in (("1", "SUCCESS", 5), ("3", child_status, 3)):
        cid = f"{RUN}-{suffix}"
        rows.append(
            Workflow(cid, status, name=CHILD_NAME, parent_id=RUN, executor_id=OURS,
                     recovery_attempts=attempts if suffix == "3" else 1,
                     created_at_ms=created + int(suffix) * 1000)
        )  # fmt: skip
        rows += [
            Step(cid, fid, "limbo_demo.step", started_at_ms=created + fid * 300,
                 completed_at_ms=created + fid * 300 + 200)
            for fid in range(1, done + 1)
        ]  # fmt: skip
    return rows


def tree_line(app: Any, workflow_id: str) -> str:
    node = app.query_one(WorkflowTree).node_for(workflow_id)
    assert node is not None, workflow_id
    return str(node.label)


def recovery_field(app: Any) -> str:
    fields = str(app.query_one("#details-fields").render())
    return next(line.strip() for line in fields.splitlines() if "recovery" in line)


async def select(app: Any, pilot: Any, workflow_id: str) -> None:
    assert app.query_one(WorkflowTree).select_workflow(workflow_id)
    await pilot.pause()
    await pilot.pause()
    assert app.selected_id == workflow_id


async def test_a_step_and_a_child_have_one_number_on_every_surface() -> None:
    child = f"{RUN}-3"
    worker = WorkerDouble(
        executor_id=OURS,
        progress={child: StepProgress(child, 4, "limbo_demo.step", 1, 3, 0.0)},
        limits={PARENT_NAME: 2, CHILD_NAME: 2},
    )
    app, feeds = make_app(worker=worker, actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push(experiment_rows(), full=True)
        await pilot.pause()
        # The tree: the child by its id (-3, as DBOS named it), its live step by function id.
        line = tree_line(app, child)
        assert "…-3" in line and "step 4 (try 1/3)" in line, line
        await select(app, pilot, child)
        steps = app.query_one("#steps")
        assert [str(steps.get_row_at(n)[0]) for n in range(steps.row_count)] == ["1", "2", "3"]
        assert "step 4 (try 1/3)" in str(app.query_one("#details-fields").render())
        # The fork picker offers the same step 4 as the one not yet recorded.
        app.query_one(WorkflowTree).focus()
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, ForkStepScreen)
        assert "step 4: the next, not yet recorded" in "\n".join(screen_lines(app))
        await pilot.press("escape")
        await pilot.pause()
        # The worker crashes at that step: the header names the child by its id.
        worker.state, worker.progress = "DOWN", {}
        worker.detail = f"crash point: {crash_point_text(child, 4)}"
        for _ in range(40):
            await pilot.pause(0.05)
            if "crash point" in app.query_one(StatusHeader).worker_detail:
                break
        header = "\n".join(screen_lines(app)[:3])
        assert "crash point: child 3c1d9a70-3 step 4" in header, header


async def test_the_form_takes_the_crash_point_in_the_same_numbers() -> None:
    worker = WorkerDouble()
    app, _ = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EnqueueFormScreen)
        shown = "\n".join(screen_lines(app))
        assert "child ids -1, -3, …, -11; steps 1-5 (function ids)" in shown, shown
        form = app.screen
        form.query_one("#children").value = "3"
        await pilot.pause()
        assert "child ids -1, -3, -5; steps 1-5" in "\n".join(screen_lines(app))
        # The second child is -3: "2" names no child, and the form says which do.
        form.query_one("#crash_child").value = "2"
        form.query_one("#crash_step").value = "2"
        form.query_one("#children").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EnqueueFormScreen)
        error = str(form.query_one("#form-error").render())
        assert "crash child 2 is not a child" in error and "-1, -3, -5" in error, error
        assert app.focused is form.query_one("#crash_child")
        form.query_one("#crash_child").value = "3"
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if worker.calls:
                break
        params = worker.calls[-1][1]
        assert (params.children, params.crash_child, params.crash_step) == (3, 3, 2)


async def test_the_max_is_what_the_worker_registered_when_it_dispatched_the_workflow() -> None:
    # An earlier session's worker ran the first child with max 5; this session's worker
    # registers 2. The finished child keeps its 5; the running one gets this worker's 2;
    # a name in [limits] says so; an unknown one is "?".
    kept = {f"{RUN}-1": RegisteredMax(5, 1, OURS)}
    worker = WorkerDouble(executor_id=OURS, limits={PARENT_NAME: 2, CHILD_NAME: 2}, history=kept)
    other = Workflow("9f00aa11-2222-4333-8444-555566667777", "PENDING", name="shop.checkout",
                     executor_id="elsewhere", recovery_attempts=2,
                     created_at_ms=NOW_MS - 1000)  # fmt: skip
    unknown = Workflow("8e00aa11-2222-4333-8444-555566667777", "PENDING", name="report.nightly",
                       executor_id="elsewhere", recovery_attempts=1,
                       created_at_ms=NOW_MS - 2000)  # fmt: skip
    settings = Settings(limits={"shop.checkout": 7})
    app, feeds = make_app(worker=worker, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push([*experiment_rows(), other, unknown], full=True)
        for _ in range(40):
            await pilot.pause(0.05)
            if f"{RUN}-3" in worker.kept:
                break
        assert "disp 1/6" in tree_line(app, f"{RUN}-1")
        assert "disp 1/3" in tree_line(app, f"{RUN}-3")
        assert "disp 2/8" in tree_line(app, other.id)
        assert "disp 1/?" in tree_line(app, unknown.id)
        # What this session saw is kept for the next one; the old record is not rewritten.
        assert worker.kept == {
            f"{RUN}-3": RegisteredMax(2, 1, OURS),
            RUN: RegisteredMax(2, 1, OURS),
        }
        await select(app, pilot, f"{RUN}-1")
        assert "dispatch 1 of 6 (max_recovery_attempts 5, as the worker that ran it" in (
            recovery_field(app)
        )
        await select(app, pilot, other.id)
        assert "dispatch 2 of 8 (max_recovery_attempts 7, from [limits]" in recovery_field(app)
        await select(app, pilot, unknown.id)
        assert "dispatch 1 of ? (max_recovery_attempts unknown" in recovery_field(app)
        # Its next dispatches by this worker (recoveries) run with this worker's max 2:
        # the count above what that allows is said, never shown bare.
        feeds[0].push([Workflow(f"{RUN}-1", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", name=CHILD_NAME,
                                parent_id=RUN, executor_id=OURS, recovery_attempts=4,
                                created_at_ms=NOW_MS - 11_000)])  # fmt: skip
        await pilot.pause()
        await pilot.pause()
        assert "disp 4/3 refused" in tree_line(app, f"{RUN}-1")
        await select(app, pilot, f"{RUN}-1")
        assert "dispatch 4 was refused: DBOS dead-lettered it" in recovery_field(app)


async def test_what_the_worker_was_last_seen_dispatching_is_kept_at_quit() -> None:
    worker = WorkerDouble(executor_id=OURS, limits={PARENT_NAME: 2, CHILD_NAME: 2})
    app, feeds = make_app(worker=worker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feeds[0].push(experiment_rows(), full=True)
        for _ in range(40):
            await pilot.pause(0.05)
            if RUN in worker.kept:
                break
        assert RUN in worker.kept
        late = Workflow("7d00aa11-2222-4333-8444-555566667777", "PENDING", name=PARENT_NAME,
                        executor_id=OURS, recovery_attempts=1, created_at_ms=NOW_MS)  # fmt: skip
        feeds[0].push([late])
        await pilot.pause()
    # The app quit before its next poll: what the last batch showed is kept all the same.
    assert worker.kept[late.id] == RegisteredMax(2, 1, OURS)
