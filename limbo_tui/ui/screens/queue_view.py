"""`Q`: every queue at a glance, kept live; enter filters the tree to the queue.

One row per queue (queues.QueueView): its limits from dbos.queues, PENDING and ENQUEUED
counts (by executor in the line below the table for the highlighted queue), the oldest
wait, how many deduplication ids are held, and BLOCKED when every slot is held by work
that makes no progress. The app calls refresh_views() on each repaint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from limbo_tui.queues import QueueView
from limbo_tui.terminal_text import safe_text
from limbo_tui.time_text import age_text
from limbo_tui.ui.workflow_lines import short_id


def _counts(by: Sequence[tuple[str, int]]) -> str:
    # "-": no executor (or version) named, e.g. work enqueued by a client for any version.
    shown = [f"{safe_text(e or '-', 24)} {n}" for e, n in by[:4]]
    more = len(by) - 4
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") if shown else "none"


def detail_text(view: QueueView, now_ms: int) -> str:
    """The highlighted queue in full: counts by executor, held dedup ids, holders."""
    lines = [
        f"{safe_text(view.name, 60)}: {view.limits_text}",
        f"PENDING by executor: {_counts(view.pending_by_executor)}",
        f"ENQUEUED by executor: {_counts(view.enqueued_by_executor)}; by version: "
        f"{_counts(view.enqueued_by_version)}",
    ]
    if view.blocked is not None:
        holders = ", ".join(short_id(h) for h in view.blocked.holders[:3])
        lines.append(
            f"BLOCKED: {len(view.blocked.holders)} of {view.blocked.concurrency} slots held by "
            f"{holders} (no progress); {view.blocked.waiting} waiting"
        )
    for held in view.held[:3]:
        age = f", {age_text(held.age_ms)}" if held.age_ms is not None else ""
        lines.append(
            f"dedup {safe_text(held.dedup_id, 30)} held by {short_id(held.holder)} "
            f"({held.status}{age})"
        )
    if len(view.held) > 3:
        lines.append(f"and {len(view.held) - 3} more dedup ids held")
    return "\n".join(lines)


class QueueScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,Q", "dismiss_none", "Close", id="queues-close"),
    ]

    def __init__(self, views: Sequence[QueueView], now_ms: int) -> None:
        super().__init__()
        self._views = list(views)
        self._now = now_ms

    def compose(self) -> ComposeResult:
        with Vertical(id="queue-dialog"):
            yield Static(Text("Queues (enter: show its workflows, escape: close)"), id="question")
            yield DataTable(id="queues", cursor_type="row", zebra_stripes=False)
            yield Static(id="queue-detail")

    def on_mount(self) -> None:
        table = self.query_one("#queues", DataTable)
        table.add_columns("queue", "limits", "pending", "enqueued", "oldest wait", "dedup", "")
        self._fill()
        table.focus()

    def refresh_views(self, views: Sequence[QueueView], now_ms: int) -> None:
        """New numbers from the live feed; the highlighted queue stays highlighted."""
        if list(views) == self._views and now_ms // 1000 == self._now // 1000:
            return
        self._views, self._now = list(views), now_ms
        if self.is_mounted:
            self._fill()

    def _fill(self) -> None:
        table = self.query_one("#queues", DataTable)
        keep = None
        if table.row_count and table.cursor_row >= 0:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for view in self._views:
            oldest = age_text(view.oldest_wait_ms) if view.oldest_wait_ms is not None else "-"
            table.add_row(
                safe_text(view.name, 28),
                safe_text(view.limits_text, 30),
                str(view.pending),
                str(view.enqueued),
                oldest,
                str(len(view.held)),
                "BLOCKED" if view.blocked is not None else "",
                key=view.name,
            )
        if not self._views:
            self.query_one("#queue-detail", Static).update(Text("No queue has live work."))
            return
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._show_detail()

    def _highlighted(self) -> QueueView | None:
        table = self.query_one("#queues", DataTable)
        if not table.row_count or table.cursor_row < 0:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((v for v in self._views if v.name == name), None)

    def _show_detail(self) -> None:
        view = self._highlighted()
        text = detail_text(view, self._now) if view is not None else ""
        self.query_one("#queue-detail", Static).update(Text(text))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(str(event.row_key.value))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
