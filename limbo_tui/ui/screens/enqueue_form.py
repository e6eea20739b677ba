"""The experiment form (E): how many children and steps, where it crashes, which dedup
id. Enter in any field submits; escape closes; values are checked before submitting.

The crash point is numbered as the tree, the steps table and the worker log number it
(numbering.py): the crash child is a child's id suffix (-1, -3, ...), the crash step a
function id in it; the line under the fields lists the numbers this experiment has.

Compact fields (one row each), so that the whole form, its error line just below the
fields and its buttons fit a 60x15 terminal; a bad value's field takes the focus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Static

from limbo_tui.settings import ExperimentSettings, out_of_bounds
from limbo_tui.ui.screens.dialog import Dialog
from limbo_tui.worker.protocol import child_ids_text, crash_point_problem


@dataclass(frozen=True)
class ExperimentForm:
    children: int
    steps: int
    crash_enabled: bool
    crash_child: int
    crash_step: int
    # Empty: the default "<children>/<steps>" (as the seed); "-": no dedup id.
    dedup_id: str


class BadField(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EnqueueFormScreen(Dialog[ExperimentForm | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="form-close")
    ]

    def __init__(self, defaults: ExperimentSettings, dedup_default: str = "") -> None:
        super().__init__()
        self._defaults = defaults
        self._dedup_default = dedup_default

    def compose(self) -> ComposeResult:
        d = self._defaults
        with VerticalScroll(id="dialog"):
            yield Static(Text("Enqueue the experiment"), id="question")
            with Grid(id="form"):
                yield Label("children")
                yield Input(str(d.children), id="children", type="integer", compact=True)
                yield Label("steps")
                yield Input(str(d.steps), id="steps", type="integer", compact=True)
                yield Label("crash child")
                yield Input(str(d.crash_child), id="crash_child", type="integer", compact=True)
                yield Label("crash step")
                yield Input(str(d.crash_step), id="crash_step", type="integer", compact=True)
                yield Label("dedup id")
                yield Input(
                    self._dedup_default,
                    id="dedup_id",
                    placeholder="children/steps; - for none",
                    compact=True,
                )
            yield Static(crash_hint(d.children, d.steps), id="crash-hint")
            yield Checkbox("crash at that point", d.crash_enabled, id="crash_enabled", compact=True)
            yield Static("", id="form-error")
            with Horizontal(id="buttons"):
                yield Button("Enqueue (enter)", id="yes", variant="primary", compact=True)
                yield Button("Close (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        # query, not query_one: a dialog dismissed in the same instant has no widgets left.
        for field in self.query("#children"):
            field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id not in ("children", "steps"):
            return
        try:
            children, steps = (
                int(self.query_one(f"#{f}", Input).value) for f in ("children", "steps")
            )
        except ValueError:
            return
        if out_of_bounds("children", children) is None and out_of_bounds("steps", steps) is None:
            self.query_one("#crash-hint", Static).update(Text(crash_hint(children, steps)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "yes":
            self._submit()
        else:
            self.dismiss(None)

    def _number(self, field: str) -> int:
        """The field's whole number, within the experiment's bounds (settings.py)."""
        raw = self.query_one(f"#{field}", Input).value.strip()
        try:
            value = int(raw)
        except ValueError:
            raise BadField(field, f"{field.replace('_', ' ')}: a whole number, please") from None
        problem = out_of_bounds(field, value)
        if problem is not None:
            raise BadField(field, problem)
        return value

    def _submit(self) -> None:
        try:
            children = self._number("children")
            steps = self._number("steps")
            crash_child = self._number("crash_child")
            crash_step = self._number("crash_step")
            crash = crash_point_problem(crash_child, crash_step, children, steps)
            if crash is not None:
                raise BadField(crash.field, str(crash))
            form = ExperimentForm(
                children=children,
                steps=steps,
                crash_enabled=self.query_one("#crash_enabled", Checkbox).value,
                crash_child=crash_child,
                crash_step=crash_step,
                dedup_id=self.query_one("#dedup_id", Input).value.strip(),
            )
        except BadField as exc:
            self.query_one("#form-error", Static).update(Text(str(exc)))
            bad = self.query_one(f"#{exc.field}", Input)
            bad.focus()
            self.query_one("#form-error").scroll_visible(animate=False)
            return
        self.dismiss(form)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def crash_hint(children: int, steps: int) -> str:
    """The numbers a crash point may take: the children's id suffixes, the steps'
    function ids (what the tree and the steps table show)."""
    return f"child ids {child_ids_text(children)}; steps 1-{steps} (function ids)"
