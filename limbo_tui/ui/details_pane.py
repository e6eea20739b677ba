"""The right-hand side: every field of the selected workflow, its diagnoses, a safe view
of its inputs / output / error, and its steps table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from limbo_tui import status_style
from limbo_tui.dispatch_count import dispatch_text
from limbo_tui.fleet import Fleet
from limbo_tui.model import PENDING, SLEEP_STEP, WAIT_STEPS, Step, WorkflowGraph
from limbo_tui.modes import offered_action
from limbo_tui.stored_values import describe
from limbo_tui.terminal_text import safe_text
from limbo_tui.time_text import age_text, duration_text, stamp_text, time_of_day_text, until_text
from limbo_tui.timeline import TimelineEvent
from limbo_tui.ui.workflow_lines import progress_text, short_id
from limbo_tui.waits import MESSAGE, Wait, current_wait

# How much of a stored input / output / error the pane shows.
DATA_LIMIT = 2000


def when(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "-"
    ago = age_text(now_ms - ms)
    return f"{stamp_text(ms)} ({ago} ago)" if ago else stamp_text(ms)


def _wait_state(step: Step, wait: Wait | None) -> tuple[str, str]:
    """(state, took) of a row DBOS writes for a wait: the wait's deadline, not a step."""
    if step.name == SLEEP_STEP:
        if wait is not None and wait.sleep_function_id == step.function_id:
            what = "timeout" if wait.kind == MESSAGE else "sleeping"
            return what, until_text(wait.deadline_ms, step.started_at_ms)
        return "timer", "-"
    return "received", duration_text(step.duration_ms)


def _executor_text(executor: str | None, fleet: Fleet, now_ms: int) -> str:
    """The executor and what its writes say: live (and its version), silent since when."""
    if not executor:
        return "-"
    if executor in fleet.live:
        version = fleet.live[executor]
        return f"{executor} (live{', runs ' + version if version else ''})"
    silent = fleet.silent.get(executor)
    if silent is None:
        return executor
    if silent.down:
        return f"{executor} (down)"
    if silent.last_write_ms is None:
        return f"{executor} (silent)"
    return f"{executor} (silent, last write {age_text(now_ms - silent.last_write_ms)} ago)"


STEP_COLUMNS = ("#", "step", "state", "took", "child")


class StepsTable(DataTable[str]):
    """Steps of the selected workflow; enter on a child call jumps to the child."""

    class JumpTo(Message):
        def __init__(self, workflow_id: str) -> None:
            super().__init__()
            self.workflow_id = workflow_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.border_title = "steps"
        self._child_of_row: dict[str, str] = {}
        # What the rows show now: a live workflow is shown again on every repaint, and
        # rebuilding an unchanged table costs a layout of the whole screen.
        self._shown: tuple[str | None, str | None, list[Step]] | None = None

    def on_mount(self) -> None:
        self._set_columns([])

    def show(self, graph: WorkflowGraph, workflow_id: str | None) -> None:
        """Replace the rows, keeping the cursor on the same function id."""
        wf = graph.get(workflow_id) if workflow_id else None
        status = wf.status if wf is not None else None
        shown = (workflow_id, status, graph.steps_of(workflow_id) if workflow_id else [])
        if shown == self._shown:
            return
        self._shown = shown
        keep = None
        if self.row_count and self.cursor_row >= 0:
            keep = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        self.clear()
        self._child_of_row = {}
        if workflow_id is None:
            return
        # A wait in progress: DBOS wrote its deadline (a DBOS.sleep row) and, for recv /
        # get_event, nothing yet at the wait's own function id. Shown as a wait.
        wait = current_wait(graph, workflow_id) if status == PENDING else None
        rows: list[tuple[int, tuple[str, str, str, str, str]]] = []
        for step in shown[2]:
            key = str(step.function_id)
            state = "failed" if step.failed else "ok"
            took = duration_text(step.duration_ms)
            child = ""
            if step.child_workflow_id:
                child = short_id(step.child_workflow_id, workflow_id)
                self._child_of_row[key] = step.child_workflow_id
                state = "waited" if not step.is_child_call else "called"
            elif step.name in WAIT_STEPS:
                state, took = _wait_state(step, wait)
            rows.append((step.function_id, (key, safe_text(step.name)[:28], state, took, child)))
        if wait is not None and wait.kind == MESSAGE:
            sleep = graph.steps.get(workflow_id, {}).get(wait.sleep_function_id)
            until = until_text(wait.deadline_ms, sleep.started_at_ms if sleep else None)
            rows.append(
                (
                    wait.function_id,
                    (str(wait.function_id), "DBOS.recv / get_event", "waiting", until, ""),
                )
            )
        self._set_columns([cells for _, cells in rows])
        for _, cells in sorted(rows):
            self.add_row(*cells, key=cells[0])
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def _set_columns(self, rows: list[tuple[str, ...]]) -> None:
        """Columns as wide as their widest cell, set here: DataTable would measure them
        when it is next idle, which a busy app may reach only after a frame has shown
        them squeezed to their headers."""
        self.clear(columns=True)
        for i, header in enumerate(STEP_COLUMNS):
            width = max([cell_len(header), *(cell_len(cells[i]) for cells in rows)])
            self.add_column(header, width=width)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        child = self._child_of_row.get(str(event.row_key.value))
        if child is not None:
            event.stop()
            self.post_message(self.JumpTo(child))


def _timeline_text(events: Sequence[TimelineEvent] | None) -> Text:
    if events is None:
        return Text()
    text = Text()
    text.append(f"timeline ({len(events)} events; t hides it)\n", style="bold")
    if not events:
        text.append("nothing seen yet\n")
    for e in events:
        seen = " (seen)" if e.observed else ""
        text.append(f"{time_of_day_text(e.at_ms)} ", style="dim")
        text.append(f"{e.kind:<12} ", style="bold" if e.kind in _LOUD else "")
        text.append(f"{safe_text(e.text)}{seen}\n")
    return text


# Kinds a reader of the seed's story looks for first.
_LOUD = frozenset({"dispatch", "status", "worker", "step-failed"})


class DetailsPane(Vertical):
    """Details of one workflow over its steps table."""

    # What to do when there is nothing to show; the app sets it (it knows the worker).
    empty_hint = "Waiting for the first workflow to appear in the database."
    # True until the feed's first snapshot is applied: an empty graph then means "not read
    # yet", not "no workflows" (a database of 300 must not first say "No workflows yet").
    loading = False
    # --read-only: the proposals name no write key (modes.offered_action).
    read_only = False
    # Which executors are live or silent; the app sets it with each repaint's diagnoses.
    fleet = Fleet()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Static id -> the text it shows (see _put).
        self._texts: dict[str, Text] = {}
        # The workflow shown last: a new one starts at the top (status and diagnosis).
        self._shown_id: str | None = None

    def compose(self) -> ComposeResult:
        # A Tab stop (its keys scroll the details), so it has a frame line as the others.
        scroll = VerticalScroll(id="details-scroll")
        scroll.border_title = "details"
        with scroll:
            yield Static(id="details-status")
            yield Static(id="details-diagnoses")
            yield Static(id="details-timeline")
            yield Static(id="details-fields")
            yield Static(id="details-data")
        yield StepsTable(id="steps")

    def on_mount(self) -> None:
        self.show(WorkflowGraph(), None, [], None, 0)

    def show(
        self,
        graph: WorkflowGraph,
        workflow_id: str | None,
        diagnoses: Sequence[Any],
        progress: Any,
        now_ms: int,
        timeline: Sequence[TimelineEvent] | None = None,
    ) -> None:
        """timeline: the workflow's events when `t` shows them, else None."""
        self._put(self.query_one("#details-timeline", Static), _timeline_text(timeline))
        status = self.query_one("#details-status", Static)
        diag = self.query_one("#details-diagnoses", Static)
        fields = self.query_one("#details-fields", Static)
        data = self.query_one("#details-data", Static)
        wf = graph.get(workflow_id) if workflow_id else None
        status_class = status_style.style_class(wf.status) if wf is not None else None
        for cls in status_style.STATUS_CLASSES:
            status.set_class(cls == status_class, cls)
        self.query_one(StepsTable).show(graph, workflow_id if wf else None)
        if workflow_id != self._shown_id:
            self._shown_id = workflow_id
            self.query_one("#details-scroll", VerticalScroll).scroll_home(animate=False)
        if workflow_id is None and self.loading and not graph.workflows:
            self._put(status, "Loading workflows…")
            self._put(diag, "")
            self._put(fields, "Reading the database's first snapshot.")
            self._put(data, "")
            return
        if workflow_id is None:
            empty = not graph.workflows
            self._put(status, "No workflows yet." if empty else "No workflow selected.")
            self._put(diag, "")
            self._put(fields, self.empty_hint if empty else "Select one in the tree.")
            self._put(data, "")
            return
        if wf is None:
            self._put(status, f"? {safe_text(workflow_id)} (not loaded)")
            self._put(diag, "")
            self._put(fields, "This child is named by its parent's steps; its row is not loaded.")
            self._put(data, "")
            return
        self._put(
            status, f"{status_style.glyph(wf.status)} {safe_text(wf.status)}  {safe_text(wf.name)}"
        )
        self._put(diag, self._diagnoses_text(diagnoses, self.read_only))
        self._put(fields, self._fields_text(graph, workflow_id, progress, now_ms, self.fleet))
        self._put(data, self._data_text(wf))

    def _put(self, static: Static, content: Text | str) -> None:
        """Show content in a Static, skipping what would not change the screen.

        The selected workflow is shown again on every repaint while it is live: an
        unchanged text is not sent again, and a text that takes as many rows as before
        (same lines, each wrapping the same way) is sent without a layout of the screen.
        """
        text = Text(content) if isinstance(content, str) else content
        key = static.id or str(id(static))
        old = self._texts.get(key)
        if old == text:
            return
        self._texts[key] = text
        # Compared with the rows the Static has now, not with what the old text would take:
        # a text first shown before the pane had its final width keeps that height.
        rows = _rows(text, static.content_region.width)
        same_height = old is not None and rows is not None and rows == static.content_region.height
        static.update(text, layout=not same_height)

    @staticmethod
    def _diagnoses_text(diagnoses: Sequence[Any], read_only: bool = False) -> Text:
        text = Text()
        for d in diagnoses:
            mark = status_style.LIMBO_MARK if d.severity == "limbo" else d.severity.upper()
            text.append(f"{mark} {d.kind}\n", style="bold")
            text.append(f"{safe_text(d.reason)}\n")
            if d.action:
                text.append(f"→ {safe_text(offered_action(d.action, read_only))}\n")
        return text

    @staticmethod
    def _fields_text(
        graph: WorkflowGraph, wid: str, progress: Any, now_ms: int, fleet: Fleet
    ) -> Text:
        wf = graph.workflows[wid]
        maximum, source = graph.known_max(wid)
        counts = graph.step_counts(wid)
        kids = graph.children(wid)
        rows: list[tuple[str, str]] = [
            ("id", wid),
            ("class", wf.class_name or "-"),
            ("queue", wf.queue or "-"),
            ("dedup id", wf.dedup_id or "-"),
            ("executor", _executor_text(wf.executor_id, fleet, now_ms)),
            ("version", wf.app_version or "-"),
            (
                "recovery",
                dispatch_text(wf.recovery_attempts, maximum, wf.status, short=False, source=source),
            ),
            ("steps", f"{counts.steps_completed} done, {counts.steps_failed} failed"),
            ("live step", progress_text(progress) or "-"),
            ("parent", graph.parent_of(wid) or "-"),
            ("children", str(len(kids))),
            ("created", when(wf.created_at_ms, now_ms)),
            ("updated", when(wf.updated_at_ms, now_ms)),
            ("forked from", wf.forked_from or "-"),
            ("priority", "-" if wf.priority is None else str(wf.priority)),
            ("timeout", duration_text(wf.timeout_ms) or "-"),
            ("deadline", when(wf.deadline_ms, now_ms) if wf.deadline_ms else "-"),
            ("serialization", wf.serialization or "-"),
        ]
        text = Text()
        for label, value in rows:
            text.append(f"{label:>13} ", style="bold")
            text.append(f"{safe_text(value)}\n")
        return text

    @staticmethod
    def _data_text(wf: Any) -> Text:
        text = Text()
        for label, raw in (("inputs", wf.inputs), ("output", wf.output), ("error", wf.error)):
            if raw is None:
                continue
            text.append(f"{label}\n", style="bold")
            text.append(describe(raw, wf.serialization, limit=DATA_LIMIT) + "\n")
        return text


def _rows(text: Text, width: int) -> int | None:
    """Screen rows the text takes at this width when no line wraps; None when one may
    (word wrapping is the Static's to work out) or nothing is laid out yet."""
    lines = text.plain.split("\n")
    if width <= 0 or any(cell_len(line) > width for line in lines):
        return None
    return len(lines)
