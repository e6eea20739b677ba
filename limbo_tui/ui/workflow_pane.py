"""The tree's pane: its frame (the focus frame, titled "workflows"), a header line naming
the columns, the tree under it and the `/` filter line under the tree when shown. The
header is laid out from the tree's own Layout (WorkflowTree.ColumnsChanged), so every
title sits above its column. The filter line lives in the pane so that showing it
changes the size of the tree alone (the details pane is not laid out again) and the
focus stays within the pane (its frame does not change)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget

from limbo_tui.ui import tree_columns as columns
from limbo_tui.ui.filter_input import FilterInput
from limbo_tui.ui.workflow_tree import WorkflowTree

TITLE_CLASS = "tree-header--title"
# The pane holds the focus (app.tcss draws its frame doubled).
FOCUS_CLASS = "-focus"
SORTED_CLASS = "tree-header--sorted"


class TreeHeader(Widget):
    """One line: the title of each column the tree shows, the sorted one marked."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {TITLE_CLASS, SORTED_CLASS}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.column_layout: columns.Layout | None = None

    def show(self, lay: columns.Layout) -> None:
        self.column_layout = lay
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        if self.column_layout is None:
            return text
        for part, cls in columns.header_parts(self.column_layout, TITLE_CLASS, SORTED_CLASS):
            text.append(part, style=self.get_component_rich_style(cls) if cls else "")
        return text


class WorkflowPane(Vertical):
    def __init__(self, clock: Callable[[], int], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        # The pane's name in its top frame line (app.tcss draws the focused pane's frame).
        self.border_title = "workflows"

    def compose(self) -> ComposeResult:
        yield TreeHeader(id="tree-header")
        yield WorkflowTree(self._clock, id="tree")
        yield FilterInput(id="filter")

    def on_workflow_tree_columns_changed(self, message: WorkflowTree.ColumnsChanged) -> None:
        self.query_one(TreeHeader).show(message.layout)

    # The focus frame follows a class, not a :focus-within rule: Textual restyles the
    # whole subtree of a node styled by :focus-within on every focus change inside it
    # (the tree's ~20 component classes each time `/` moves the focus to the filter line).
    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.set_class(self.has_focus_within, FOCUS_CLASS)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.set_class(self.has_focus_within, FOCUS_CLASS)
