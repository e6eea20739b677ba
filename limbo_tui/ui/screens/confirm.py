"""Yes / no before anything destructive, with an optional extra choice (e.g. "children
too" for cancel). Keyboard only works: y / n, enter / escape, space toggles the choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static


@dataclass(frozen=True)
class Confirmed:
    # The state of the extra choice, when there is one.
    option: bool = False


class ConfirmScreen(ModalScreen[Confirmed | None]):
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
        self._question = question
        self._yes, self._no = yes, no
        self._option, self._option_default = option, option_default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self._question), id="question")
            if self._option is not None:
                yield Checkbox(self._option, self._option_default, id="option")
            with Horizontal(id="buttons"):
                yield Button(f"{self._yes} (y)", id="yes", variant="warning")
                yield Button(f"{self._no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no" if self._option is None else "#option").focus()

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
