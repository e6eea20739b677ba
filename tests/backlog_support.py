"""What the backlog tests share (a real Postgres, the real LiveFeed): the TUI on a
database, the text of its tree's lines, its header, and a wait that says what it
waited for and what it saw instead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from limbo_tui.config import Overrides, load_settings
from limbo_tui.pg.feed import LiveFeed
from limbo_tui.ui.app import LimboApp
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.workflow_tree import WorkflowTree


def tui_on(dbos_url: str, *, page_live: bool) -> LimboApp:
    """The TUI as `limbo-tui --worker none` runs it on that database (page_live: the
    TUI's paged snapshot of the live work, as the command's own feed has it)."""
    settings = load_settings(Overrides(db_url=dbos_url, worker="none"), {})
    return LimboApp(
        settings,
        "test",
        feed_factory=lambda on_batch, on_state: LiveFeed(
            dbos_url, settings, on_batch, on_state, page_live=page_live
        ),
    )


def header_text(app: LimboApp) -> str:
    return str(app.query_one(StatusHeader).render())


def tree_lines(tree: WorkflowTree) -> list[str]:
    return [str(node.label) for node in tree.visible_nodes()]


async def until(what: str, probe: Callable[[], bool], describe: Callable[[], str]) -> None:
    """Wait (up to 30 s: a database round trip and a frame, on a loaded machine) for
    probe; else fail naming what never happened and what describe() saw."""
    for _ in range(600):
        if probe():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {what}: {describe()}")
