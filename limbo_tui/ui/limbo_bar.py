"""The bottom line above the footer: the limbo summary and the active view filters."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from limbo_tui.terminal_text import safe_text


class LimboBar(Widget):
    summary: reactive[str] = reactive("")
    in_limbo: reactive[int] = reactive(0)
    limbo_only: reactive[bool] = reactive(False)
    filter_text: reactive[str] = reactive("")

    def render(self) -> Content:
        text = self.summary or "nothing in limbo"
        views = []
        if self.limbo_only:
            views.append("showing limbo only (l)")
        if self.filter_text:
            views.append(f"filter '{safe_text(self.filter_text)}' (/)")
        if views:
            text += " │ " + ", ".join(views)
        return Content(text)

    def watch_in_limbo(self) -> None:
        self.set_class(self.in_limbo > 0, "-limbo")
