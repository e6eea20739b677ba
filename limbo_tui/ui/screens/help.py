"""Every key, from the one binding list, and what the glyphs mean."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from limbo_tui import status_style
from limbo_tui.ui.bindings import KEYS, WIDGET_KEYS, display_key


def help_text(read_only: bool) -> Text:
    text = Text()
    text.append("Keys\n", style="bold")
    for k in KEYS:
        note = "  (off: read-only)" if read_only and k.mutating else ""
        text.append(f" {display_key(k.key):>9}  {k.help}{note}\n")
    for key, what in WIDGET_KEYS:
        text.append(f" {key:>9}  {what}\n")
    text.append("\nStatus\n", style="bold")
    for glyph, word, status in status_style.legend():
        full = f" ({status})" if word != status else ""
        text.append(f" {glyph} {word}{full}\n")
    text.append(f" {status_style.LIMBO_MARK}  waits for something that will never come\n")
    text.append(
        " disp a/n  dispatch a of at most n: DBOS counts each run of a workflow (the first,\n"
        "           then each recovery) and allows n = its max_recovery_attempts + 1 (? while\n"
        "           unknown); the dispatch past n is refused: DBOS dead-letters it\n"
        "           (MAX_RECOVERY_ATTEMPTS_EXCEEDED), shown as 'disp 4/3 refused'. The max\n"
        "           is the workflow's own: what limbo-tui's worker registered when it\n"
        "           dispatched it, else [limits] (details: 'from [limits]'), else ?\n"
    )
    text.append("\nNumbering\n", style="bold")
    text.append(
        " step 4    DBOS's function id of a step in its workflow: the steps table's #,\n"
        "           the tree's live step, the worker log, the fork picker, the crash point\n"
        " try 1/3   the step's try, from 1 (DBOS logs 'attempt 1 of 3' when try 1 fails)\n"
        " …-3       a child by its id: <parent id>-<function id of the call that started\n"
        "           it>; the seed's children are -1, -3, -5 (each also waits: getResult)\n"
    )
    text.append("\nTree columns\n", style="bold")
    text.append(
        " status, name, id (short), recovery (the counter above), steps (done, +failed),\n"
        " current (the live step and its try), age, mark (‼ LIMBO, ! a warning).\n"
        " A narrow tree cuts the name first, then drops current, steps and age; the\n"
        " header's arrow names the sort (o: status, age, recoveries, newest first; O\n"
        " reverses). < / > move the split, z shows the details alone.\n"
    )
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help-close"),
    ]

    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self._read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(Text("limbo-tui help  (escape closes)"), id="question")
            yield Static(help_text(self._read_only))

    def on_mount(self) -> None:
        self.query_one("#dialog").focus()  # up / down / page keys scroll the help

    def action_close(self) -> None:
        self.dismiss(None)
