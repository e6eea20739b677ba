"""Yes / no before anything destructive, with an optional extra choice (e.g. "children
too" for cancel). Keyboard only works: y / n, enter / escape, space toggles the choice.

The question quotes the database (names, statuses, dedup ids): every text is sanitised
here, whoever wrote the question."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Static

from limbo_tui.terminal_text import safe_text
from limbo_tui.ui.screens.dialog import Dialog


@dataclass(frozen=True)
class Confirmed:
    # The state of the extra choice, when there is one.
    option: bool = False


class ConfirmScreen(Dialog[Confirmed | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", id="confirm-yes"),
        Binding("n,escape", "dismiss_none", "No", id="confirm-no"),
    ]

    def __init__(
        self,
        question: str,
        *,
        yes: str = "Yes",
        no: str = "No",
        option: str | None = None,
        option_default: bool = False,
    ) -> None:
        super().__init__()
        self._question = safe_text(question, multiline=True)
        self._yes, self._no = safe_text(yes), safe_text(no)
        self._option = None if option is None else safe_text(option)
        self._option_default = option_default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # A long question (live push's consent) scrolls; the choices stay in sight.
            with VerticalScroll(id="dialog-body"):
                yield Static(Text(self._question), id="question")
            if self._option is not None:
                yield Checkbox(self._option, self._option_default, id="option", compact=True)
            with Horizontal(id="buttons"):
                yield Button(f"{self._yes} (y)", id="yes", variant="warning", compact=True)
                yield Button(f"{self._no} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        # query, not query_one: a dialog dismissed in the same instant has no widgets left.
        for widget in self.query("#no" if self._option is None else "#option"):
            widget.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "yes":
            self.action_confirm()
        else:
            self.dismiss(None)

    def action_confirm(self) -> None:
        option = self.query("#option")
        self.dismiss(Confirmed(option=bool(option and option.first(Checkbox).value)))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
