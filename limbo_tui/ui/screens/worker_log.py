"""`L`: the embedded worker's DBOS log, live, with the path it is written to.

Crash, recovery and dead-letter lines are marked by a word at the start of the line (so
they read without colour too) and styled in the .tcss-free way RichLog needs: a style per
kind. Every line passes the one sanitiser: the log holds workflow names and ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static

from limbo_tui.terminal_text import safe_text
from limbo_tui.worker_log import LineKind, LogTail, line_kind

POLL_S = 0.25
MAX_LINES = 5000

_MARK: dict[LineKind, tuple[str, str]] = {
    "crash": ("CRASH ", "bold red"),
    "recovery": ("RECOVER ", "bold yellow"),
    "dead-letter": ("DEAD ", "bold magenta"),
    "shutdown-wait": ("WAITS ", "bold cyan"),
    "error": ("ERROR ", "red"),
    "plain": ("", ""),
}


def log_line(raw: str) -> Text:
    kind = line_kind(raw)
    mark, style = _MARK[kind]
    text = Text()
    if mark:
        text.append(mark, style=style)
    text.append(safe_text(raw), style=style if kind != "plain" else "")
    return text


class WorkerLogScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,L", "close", "Close", id="log-close"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._tail = LogTail(path)
        self._path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="log-dialog"):
            yield Static(
                # The key first: a long path is cut at the right, never the way out.
                Text(f"worker log (escape closes): {safe_text(str(self._path))}"),
                id="log-title",
            )
            yield RichLog(id="log-lines", max_lines=MAX_LINES, wrap=False, markup=False)

    def on_mount(self) -> None:
        self._read()
        self.query_one(RichLog).focus()
        self.set_interval(POLL_S, self._read)

    def _read(self) -> None:
        lines = self._tail.read_new()
        log = self.query_one(RichLog)
        if not lines and not log.lines and not self._path.exists():
            log.write(Text(f"(no log yet: {safe_text(str(self._path))} does not exist)"))
            return
        for raw in lines:
            log.write(log_line(raw))

    def on_unmount(self) -> None:
        self._tail.close()

    def action_close(self) -> None:
        self.dismiss(None)
