"""Pick the step a fork starts from: the steps before it are copied, it and the rest run
again. Lists the workflow's recorded steps plus "the next step" after the last one.

It opens on the step the details name first as the trouble: the first failed step, else
the next one (the step that never completed: the usual way out of a crash loop). The
highlighted line carries a ▶, so the choice reads without colour."""

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
from limbo_tui.numbering import step_text
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

    def _texts(self) -> dict[str, str]:
        """Option id -> its words (without the mark)."""
        texts = {
            str(s.function_id): f"{step_text(s.function_id)}: {safe_text(s.name)}"
            + (" (failed)" if s.failed else "")
            for s in self._steps
        }
        following = (self._steps[-1].function_id + 1) if self._steps else 1
        texts[str(following)] = f"{step_text(following)}: the next, not yet recorded"
        return texts

    def preselected(self) -> int:
        """The index of the option to open on."""
        for index, step in enumerate(self._steps):
            if step.failed:
                return index
        return len(self._steps)

    def compose(self) -> ComposeResult:
        options = [Option(Text(f"  {text}"), id=oid) for oid, text in self._texts().items()]
        with Vertical(id="dialog"):
            yield Static(Text(f"Fork {self._label} starting from which step?"), id="question")
            yield OptionList(*options, id="steps-to-fork")
            yield Static(Text("enter: fork from it   escape: close"), classes="hint")

    def on_mount(self) -> None:
        # query, not query_one: a dialog dismissed in the same instant has no widgets left.
        for picker in self.query(OptionList):
            picker.focus()
            picker.highlighted = self.preselected()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        picker = event.option_list
        for oid, text in self._texts().items():
            mark = "▶ " if oid == event.option.id else "  "
            picker.replace_option_prompt(oid, Text(mark + text))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 1))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
