"""Send a message to a workflow waiting in DBOS.recv: the topic and the message, asked.

DBOS records a recv's topic only once the wait returns, so the user names it (empty: the
default topic). The message is sent as text. A workflow waiting in DBOS.get_event is
told apart only by its code: the dialog says that an event is set by its owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from limbo_tui.terminal_text import safe_text
from limbo_tui.ui.screens.dialog import Dialog


@dataclass(frozen=True)
class Message:
    topic: str | None
    text: str


class SendFormScreen(Dialog[Message | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="send-close")
    ]

    def __init__(self, workflow_label: str, wait_text: str) -> None:
        super().__init__()
        self._label = safe_text(workflow_label)
        self._wait = safe_text(wait_text, multiline=True)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(Text(f"Send a message to {self._label}?"), id="question")
            yield Static(Text(self._wait), classes="hint")
            with Grid(id="form"):
                yield Label("topic")
                yield Input(placeholder="empty: the default topic", id="send-topic", compact=True)
                yield Label("message")
                yield Input(placeholder="the text recv returns", id="send-message", compact=True)
            yield Static(
                Text("An awaited event (get_event) can only be set by its workflow."),
                classes="hint",
            )
            with Horizontal(id="buttons"):
                yield Button("Send", id="send", variant="warning", compact=True)
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        for field in self.query("#send-topic"):
            field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "send-topic":
            self.query_one("#send-message", Input).focus()
        else:
            self._send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self._send()
        else:
            self.dismiss(None)

    def _send(self) -> None:
        topic = self.query_one("#send-topic", Input).value.strip()
        text = self.query_one("#send-message", Input).value
        self.dismiss(Message(topic or None, text))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
