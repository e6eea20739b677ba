"""The `/` filter line: narrows the tree as you type; enter keeps it, escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="filter-clear")
    ]

    class Closed(Message):
        """The user is done with the filter line (kept with enter, cleared with escape)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter: id, name, status or queue", id=id)

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Closed())

    async def action_submit(self) -> None:
        self.post_message(self.Closed())
