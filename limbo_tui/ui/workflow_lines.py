"""What one tree line says about a workflow, as plain (text, style class) parts.

Pure functions of the graph and a few live facts, so that the tree widget only paints
and tests can read a line without a terminal.
"""

from __future__ import annotations

from typing import Any

from limbo_tui import status_style
from limbo_tui.backlog import PAGE, RootGroup
from limbo_tui.dispatch_count import dispatch_text
from limbo_tui.model import ChildrenTotal, WorkflowGraph
from limbo_tui.model import short_id as model_short_id
from limbo_tui.numbering import live_step_text
from limbo_tui.terminal_text import safe_text
from limbo_tui.time_text import age_text
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui import tree_columns as columns

Part = columns.Part


def short_id(workflow_id: str, parent_id: str | None = None) -> str:
    """model.short_id as the tree shows it (a child under its parent), made safe."""
    return safe_text(model_short_id(workflow_id, parent_id, under_parent=True))


def progress_text(progress: Any) -> str:
    """`step 3 (try 2/3)` from a worker's StepProgress (attempt is 1-based)."""
    if progress is None:
        return ""
    return live_step_text(progress.step_id, progress.attempt, progress.max_attempts)


def row_cells(graph: WorkflowGraph, workflow_id: str, facts: TreeFacts) -> dict[str, Part]:
    """The cells of one workflow's tree line by column (tree_columns), without its age
    (the tree adds that when it paints, from the clock)."""
    parent = graph.parent_of(workflow_id)
    wf = graph.get(workflow_id)
    if wf is None:
        return {
            columns.STATUS: ("?", status_style.NOT_LOADED_CLASS),
            columns.NAME: ("(not loaded)", status_style.NOT_LOADED_CLASS),
            columns.ID: (short_id(workflow_id, parent), status_style.DIM_CLASS),
        }
    cells: dict[str, Part] = {
        columns.STATUS: (
            f"{status_style.glyph(wf.status)} {safe_text(status_style.word(wf.status))}",
            status_style.style_class(wf.status),
        ),
        columns.NAME: (safe_text(wf.name) or "?", ""),
        columns.ID: (short_id(workflow_id, parent), status_style.DIM_CLASS),
    }
    maximum = graph.max_recovery_attempts(workflow_id)
    cells[columns.RECOVERIES] = (
        dispatch_text(wf.recovery_attempts, maximum, wf.status, short=True),
        "",
    )
    counts = graph.step_counts(workflow_id)
    steps = str(counts.steps_completed)
    if counts.steps_failed:
        steps += f" +{counts.steps_failed} failed"
    cells[columns.STEPS] = (steps, status_style.DIM_CLASS)
    live = progress_text(facts.progress.get(workflow_id)) if not wf.finished else ""
    if live:
        cells[columns.CURRENT] = (live, "")
    if workflow_id in facts.limbo_ids:
        cells[columns.MARKS] = (status_style.LIMBO_MARK, status_style.LIMBO_CLASS)
    elif workflow_id in facts.warning_ids:
        cells[columns.MARKS] = (status_style.WARNING_MARK.strip(), status_style.WARNING_CLASS)
    return cells


def cells_text(cells: dict[str, Part]) -> list[Part]:
    """The cells one after the other, in column order: a line's text when no layout
    applies (the node's own label, what tests and the palette read)."""
    parts: list[Part] = []
    for column in columns.COLUMNS:
        cell = cells.get(column.key)
        if cell is not None and cell[0]:
            parts.append((" " if parts else "", ""))
            parts.append(cell)
    return parts


def group_parts(
    group: RootGroup, now_ms: int, warning_ids: frozenset[str], *, compact: bool = False
) -> list[Part]:
    """The summarized line of a queue's ENQUEUED backlog: how many, how many in the
    database, how many have a warning (stuck), the oldest and the newest. Compact (a
    narrow pane): the same numbers first, in few words, the queue's name last, so that
    a cut takes the name and never a count."""
    loaded = len(group.members)
    total = group.total
    more = total is not None and total.count > loaded
    warned = sum(1 for wid in group.members if wid in warning_ids)
    mark = status_style.WARNING_MARK.strip()
    ages = None
    if total is not None and total.oldest_ms is not None and total.newest_ms is not None:
        ages = age_text(now_ms - total.oldest_ms), age_text(now_ms - total.newest_ms)
    parts: list[Part] = [
        (
            f"{status_style.glyph(group.status)} {safe_text(status_style.word(group.status))}",
            status_style.style_class(group.status),
        )
    ]
    if compact:
        parts.append((f" {loaded:,}" + (f"/{total.count:,}" if total and more else ""), ""))
        if warned:
            parts.append((f" {mark}{warned:,}", status_style.WARNING_CLASS))
        if ages:
            parts.append((f" {ages[0]}-{ages[1]}", status_style.DIM_CLASS))
        parts.append((f" {safe_text(group.queue)}", ""))
        return parts
    parts.append((f" {loaded:,} on queue {safe_text(group.queue)}", ""))
    if total is not None and more:
        parts.append((f", {total.count:,} in the database", ""))
    if warned:
        parts.append((f" {mark} {warned:,} with a warning", status_style.WARNING_CLASS))
    if ages:
        parts.append((f" · oldest {ages[0]}, newest {ages[1]}", status_style.DIM_CLASS))
    return parts


def more_parts(group: RootGroup, shown: int, *, compact: bool = False) -> list[Part]:
    """The last line of an opened group: what enter brings next (loaded members first,
    then a page read from the database)."""
    left = len(group.members) - shown
    older = group.not_loaded
    if left <= 0:
        if compact:
            return [(f"… {older:,} older, enter: +{min(older, PAGE):,}", status_style.DIM_CLASS)]
        text = f"… {older:,} older in the database: enter loads the next {min(older, PAGE):,}"
        return [(text, status_style.DIM_CLASS)]
    if compact:
        text = f"… {left:,} more, enter: +{min(left, PAGE):,}"
        return [(text + (f" ({older:,} not loaded)" if older > 0 else ""), status_style.DIM_CLASS)]
    text = f"… {left:,} more: enter shows the next {min(left, PAGE):,}"
    if older > 0:
        text += f" ({older:,} older ones not loaded)"
    return [(text, status_style.DIM_CLASS)]


def more_children_parts(
    children: int,
    shown: int,
    counted: ChildrenTotal | None = None,
    loaded: int = 0,
    now_ms: int = 0,
    *,
    compact: bool = False,
) -> list[Part]:
    """The last line under a parent of many children: what enter brings next; for a
    parent whose children are counted in the database (`counted`: more there than
    `loaded`), how many there are by status, the oldest and the newest."""
    left = max(0, children - shown)
    if counted is None:
        if compact:
            return [(f"… {left:,} more, enter: +{min(left, PAGE):,}", status_style.DIM_CLASS)]
        return [(f"… {left:,} more children: enter shows the next {min(left, PAGE):,}",
                 status_style.DIM_CLASS)]  # fmt: skip
    older = counted.count - loaded
    if compact:
        text = f"… {counted.count:,} children, {older:,} not loaded, enter: +{PAGE:,}"
        return [(text, status_style.DIM_CLASS)]
    statuses = ", ".join(f"{n:,} {safe_text(s or '?')}" for s, n in counted.by_status)
    text = f"… {counted.count:,} children in the database ({statuses}"
    if counted.oldest_ms is not None and counted.newest_ms is not None:
        oldest, newest = age_text(now_ms - counted.oldest_ms), age_text(now_ms - counted.newest_ms)
        text += f"; oldest {oldest}, newest {newest}"
    text += f"), {older:,} not loaded: enter "
    text += f"shows the next {min(left, PAGE):,}" if left > 0 else f"loads the next {PAGE:,}"
    return [(text, status_style.DIM_CLASS)]


def more_families_parts(not_loaded: int, *, compact: bool = False) -> list[Part]:
    """The top level's last line while older live families are only counted."""
    if compact:
        return [(f"… {not_loaded:,} older live, enter: more", status_style.DIM_CLASS)]
    text = f"… {not_loaded:,} live workflows in older families not loaded: enter loads more"
    return [(text, status_style.DIM_CLASS)]
