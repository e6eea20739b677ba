"""The floor of a start to the first frame: a Textual app that shows one header line naming
the worker and nothing else, on the same interpreter and Textual as limbo-tui (bench
real_terminal `--only startup --launchers`). Its arguments are ignored; `q` quits."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.widgets import Static


class Floor(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static(" monitor │ worker NONE │ feed STARTING")


if __name__ == "__main__":
    Floor().run()
