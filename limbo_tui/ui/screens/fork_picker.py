"""Pick the step a fork starts from: the steps before it are copied, it and the rest run
again. Lists the workflow's recorded steps plus "the next step" after the last one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from limbo_tui.model import Step
from limbo_tui.terminal_text import safe_text
from limbo_tui.ui.screens.dialog import Dialog


class ForkStepScreen(Dialog[int | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="fork-close")
    ]

    def __init__(self, workflow_label: str, steps: Sequence[Step]) -> None:
        super().__init__()
        self._label = safe_text(workflow_label)
        self._steps = list(steps)

    def compose(self) -> ComposeResult:
        options = [
            Option(
                Text(
                    f"step {s.function_id}: {safe_text(s.name)}" + (" (failed)" if s.failed else "")
                ),
                id=str(s.function_id),
            )
            for s in self._steps
        ]
        following = (self._steps[-1].function_id + 1) if self._steps else 1
        options.append(
            Option(Text(f"step {following}: the next, not yet recorded"), id=str(following))
        )
        with Vertical(id="dialog"):
            yield Static(Text(f"Fork {self._label} starting from which step?"), id="question")
            yield OptionList(*options, id="steps-to-fork")
            yield Static(Text("enter: fork from it   escape: close"), classes="hint")

    def on_mount(self) -> None:
        # query, not query_one: a dialog dismissed in the same instant has no widgets left.
        for picker in self.query(OptionList):
            picker.focus()
            # Forking from the step that never completed is the usual way out of a crash loop.
            picker.highlighted = picker.option_count - 1

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 1))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
