"""Each workflow keeps the max_recovery_attempts its worker registered when it ran it.

DBOS stores no maximum. A real lab (the thread worker, the real feed) runs the experiment
with max 2, then a second session runs it with [experiment] max 7: the first session's
workflows still show 2 (kept in the lab database), the new ones 7, in the tree and in
`snapshot --json`. And the store itself: nothing until written, written only in a lab
that may be written.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faults_support import until, until_async
from test_worker_support import SMALL

from limbo_tui.database import Database
from limbo_tui.launch import build_app
from limbo_tui.model import RegisteredMax
from limbo_tui.pg import registered_max
from limbo_tui.scripting import run_snapshot
from limbo_tui.settings import Settings, UISettings
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui.workflow_lines import cells_text, row_cells
from limbo_tui.ui.workflow_tree import WorkflowTree


def _lab(maximum: int) -> Settings:
    quick = replace(
        SMALL,
        children=1,
        steps=1,
        crash_enabled=False,
        step_delay_ms=50,
        max_recovery_attempts=maximum,
        child_max_recovery_attempts=maximum,
    )
    return Settings(lab=True, experiment=quick, ui=UISettings(refresh_hz=50))


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT workflow_uuid, status FROM dbos.workflow_status").fetchall()
    return {str(w): str(s) for w, s in rows}


def _line(app: Any, workflow_id: str) -> str:
    cells = row_cells(app.graph, workflow_id, TreeFacts())
    return "".join(text for text, _ in cells_text(cells))


async def _session(url: str, maximum: int, log: Path) -> dict[str, str]:
    """One limbo-tui session: enqueue the experiment, wait until it is done and what was
    seen is kept; returns {workflow id: its tree line} for every workflow."""
    app, worker = await asyncio.to_thread(build_app, _lab(maximum), Database(url), log_path=log)
    before = set(_statuses(url))
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: worker.state == "RUNNING", 120, "the worker")
            await pilot.press("e")

            def done() -> bool:
                new = {w: s for w, s in _statuses(url).items() if w not in before}
                return len(new) == 2 and set(new.values()) == {"SUCCESS"}

            await until(done, 120, "the experiment done")
            new = set(_statuses(url)) - before

            async def kept() -> bool:
                # load() runs its own event loop (a blocking read): a thread, as the app's
                return new <= set(await asyncio.to_thread(registered_max.load, url, "dbos"))

            await until_async(kept, 60, "the maxima kept")
            # The lines the tree paints (an older family may be folded away on screen).
            ids = set(_statuses(url))

            def lines() -> dict[str, str]:
                return {w: _line(app, w) for w in ids if app.graph.get(w)}

            await until(lambda: len(lines()) == len(ids), 30, "every row loaded")
            await pilot.pause(0.3)
            assert "disp 1/" in str(app.query_one(WorkflowTree).node_for(next(iter(new))).label)
            return lines()
    finally:
        await asyncio.to_thread(worker.stop)


@pytest.mark.slow
async def test_old_workflows_keep_the_max_their_worker_ran_them_with(
    dbos_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await _session(dbos_url, 2, tmp_path / "first.log")
    assert len(first) == 2 and all("disp 1/3" in line for line in first.values()), first
    # The config changes, limbo-tui starts again: history is not rewritten.
    second = await _session(dbos_url, 7, tmp_path / "second.log")
    assert len(second) == 4, second
    for wid, line in second.items():
        expected = "disp 1/3" if wid in first else "disp 1/8"
        assert expected in line, (wid, line)
    kept = await asyncio.to_thread(registered_max.load, dbos_url, "dbos")
    assert {w: r.max_recovery_attempts for w, r in kept.items()} == {
        w: 2 if w in first else 7 for w in second
    }
    # snapshot --json reads the same history, by any session, with its source.
    capsys.readouterr()
    await asyncio.to_thread(run_snapshot, dbos_url, Settings(), True)
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    got = {
        w["id"]: (w["max_recovery_attempts"], w["max_recovery_attempts_source"])
        for w in doc["workflows"]
    }
    assert got == {w: (2 if w in first else 7, "worker") for w in second}


def test_the_store_is_written_only_in_a_lab_that_may_be_written(dbos_url: str) -> None:
    seen = {"wf-1": RegisteredMax(2, 1, "ex-1")}
    assert registered_max.registered_history(dbos_url, Settings()) == {}
    registered_max.keep_registered(dbos_url, Settings(), seen)  # a monitor
    registered_max.keep_registered(dbos_url, Settings(lab=True, read_only=True), seen)
    with psycopg.connect(dbos_url) as conn:
        schema = conn.execute("SELECT to_regnamespace('limbo_tui')").fetchone()
    assert schema == (None,)
    registered_max.keep_registered(dbos_url, Settings(lab=True), seen)
    registered_max.keep_registered(
        dbos_url, Settings(lab=True), {"wf-1": RegisteredMax(7, 2, "ex-2")}
    )
    assert registered_max.registered_history(dbos_url, Settings()) == {
        "wf-1": RegisteredMax(7, 2, "ex-2")
    }
    # Another DBOS schema in the same database keeps its own.
    other = Settings(database=replace(Settings().database, schema="other_dbos"))
    assert registered_max.registered_history(dbos_url, other) == {}
