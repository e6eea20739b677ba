"""SVG snapshots of what the eye must judge: empty, an experiment running, a crashed
worker, the seed's limbo and the help screen at 80x24; the running experiment and the
limbo also at 100x30 and 200x50, where the tree shows more of its columns. Deterministic:
the clock is fixed and the worker is an in-memory double. Update with
`pytest --snapshot-update`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from test_ui_support import NOW_MS, PARENT, WorkerDouble, make_app, screen_lines
from textual.worker import WorkerCancelled

from limbo_tui.model import Step, Workflow
from limbo_tui.ui.workflow_tree import WorkflowTree
from limbo_tui.worker.protocol import StepProgress
from tests import seed

SIZE = (80, 24)
RUN = "3c1d9a70-5b2e-4f7a-9e61-0d4f2b8c7a11"


def running_rows(child_status: str = "PENDING") -> list[Any]:
    """An experiment mid-way: child 1 done, child 2 on its third step."""
    created = NOW_MS - 12_000
    rows: list[Any] = [
        Workflow(
            id=RUN,
            status="PENDING",
            name="demo_parent",
            queue="example-queue",
            dedup_id="6/5",
            executor_id="limbo-tui-worker",
            recovery_attempts=1,
            created_at_ms=created,
            updated_at_ms=created + 200,
        ),
    ]
    for k, status in ((1, "SUCCESS"), (2, child_status)):
        cid = f"{RUN}-{k}"
        rows.append(
            Workflow(
                id=cid,
                status=status,
                name="demo_child",
                parent_id=RUN,
                executor_id="limbo-tui-worker",
                recovery_attempts=1,
                created_at_ms=created + k * 2000,
            )
        )
        rows.append(Step(RUN, k * 2 - 1, "demo_child", child_workflow_id=cid))
        done = 5 if status == "SUCCESS" else 2
        for fid in range(1, done + 1):
            start = created + k * 2000 + fid * 300
            rows.append(
                Step(cid, fid, "demo_step", started_at_ms=start, completed_at_ms=start + 290)
            )
    rows.append(Step(RUN, 2, "DBOS.getResult", child_workflow_id=f"{RUN}-1"))
    return rows


def snapshot_app(rows: list[Any], worker: Any = None) -> Any:
    app, feeds = make_app(worker=worker)

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        feeds[0].push(rows, full=True)
        await settle(pilot)

    return app, run_before


async def settle(pilot: Any) -> None:
    """Wait until the screen stops changing: on a loaded machine (a parallel run) the
    worker's first poll and the steps table's column widths (measured when the table is
    idle) may land a good while later. Still means the same picture for 0.6 s."""
    app = pilot.app
    before, still = None, 0
    for _ in range(150):
        # The worker poll is exclusive: on a loaded machine a poll may cancel the one
        # still waiting, which wait_for_complete reports; the next round waits again.
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        now = app.export_screenshot()
        still = still + 1 if now == before else 0
        if still >= 3:
            return
        before = now


def test_snapshot_empty(snap_compare: Any) -> None:
    app, run_before = snapshot_app([])
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30"),
         pytest.param((200, 50), id="200x50")]  # fmt: skip
# The header's titles each size must show (the narrower drop columns, never these).
TITLES = {
    (80, 24): ("status", "name", "id", "recovery", "mark"),
    (100, 30): ("status", "name", "id", "recovery", "steps", "age", "mark"),
    (200, 50): ("status", "name", "id", "recovery", "steps", "current", "age", "mark"),
}


def header_line(app: Any) -> str:
    from limbo_tui.ui.workflow_pane import TreeHeader

    return str(app.query_one(TreeHeader).render())


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_experiment_running(snap_compare: Any, size: tuple[int, int]) -> None:
    worker = WorkerDouble(
        progress={f"{RUN}-2": StepProgress(f"{RUN}-2", 3, "demo_step", 2, 3, 0.0)},
        limits={"demo_parent": 2, "demo_child": 2},
    )
    app, run_before = snapshot_app(running_rows(), worker)

    async def with_columns(pilot: Any) -> None:
        await run_before(pilot)
        titles = header_line(app).split()
        assert all(t in titles for t in TITLES[size]), titles

    assert snap_compare(app, terminal_size=size, run_before=with_columns)


def test_snapshot_worker_crashed(snap_compare: Any) -> None:
    worker = WorkerDouble(
        state="DOWN",
        detail="crashed at child 2 step 3 (x)",
        limits={"demo_parent": 2, "demo_child": 2},
    )
    app, run_before = snapshot_app(running_rows(), worker)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_limbo_seed_state(snap_compare: Any, size: tuple[int, int]) -> None:
    app, run_before = snapshot_app(seed.rows())

    async def seed_in_limbo(pilot: Any) -> None:
        await run_before(pilot)
        # What the picture must show, checked on the screen itself: the seed's parent in
        # limbo, its mark whole in the tree's columns, under the header (a snapshot
        # accepted by mistake would otherwise keep any picture).
        line = app.query_one(WorkflowTree).line_text(PARENT)
        assert "‼ LIMBO" in line and "disp 2/3" in line, line
        assert "mark" in header_line(app).split()

    assert snap_compare(app, terminal_size=size, run_before=seed_in_limbo)


def test_snapshot_help_screen(snap_compare: Any) -> None:
    app, run_before = snapshot_app(seed.rows())

    async def open_help(pilot: Any) -> None:
        await run_before(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_help)


README_IMAGE = Path(__file__).parent.parent / "docs" / "limbo-tui.svg"


async def test_readme_image_is_todays_limbo_screen(request: pytest.FixtureRequest) -> None:
    """The README's picture is the seed's limbo as the app draws it today: rewritten by
    --snapshot-update with the snapshots, and failing the suite when it is stale."""
    app, run_before = snapshot_app(seed.rows())
    async with app.run_test(size=SIZE) as pilot:
        await run_before(pilot)
        await settle(pilot)
        picture = app.export_screenshot(title="limbo-tui")
    if request.config.getoption("--snapshot-update"):
        README_IMAGE.write_text(picture)
    assert README_IMAGE.read_text() == picture, (
        "docs/limbo-tui.svg is stale: run pytest tests/test_ui_snapshots.py --snapshot-update"
    )


README = Path(__file__).parent.parent / "README.md"
README_TEXT_INTRO = "What it looks like (the seed's state, 100x28, `--worker none`):\n\n```\n"


async def test_readme_text_picture_is_todays_screen(request: pytest.FixtureRequest) -> None:
    """The README's text picture is the seed's screen at 100x28 as the app draws it today
    (a monitor's header: polling, live push offered), rewritten by --snapshot-update."""
    app, run_before = snapshot_app(seed.rows())
    async with app.run_test(size=(100, 28)) as pilot:
        await run_before(pilot)
        await settle(pilot)
        picture = "\n".join(line.rstrip() for line in screen_lines(app)) + "\n"
    text = README.read_text()
    start = text.index(README_TEXT_INTRO) + len(README_TEXT_INTRO)
    end = text.index("```\n", start)
    if request.config.getoption("--snapshot-update"):
        README.write_text(text[:start] + picture + text[end:])
        text = README.read_text()
        end = text.index("```\n", start)
    assert text[start:end] == picture, (
        "README.md's picture is stale: run pytest tests/test_ui_snapshots.py --snapshot-update"
    )
