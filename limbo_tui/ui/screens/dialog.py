"""The base of every dialog that leads to a change: it only hears keys typed once it is
on screen.

A key typed ahead (`c y` in one burst, `f` then a reflexive Enter, a laggy SSH link that
delivers several keys at once) was meant for whatever the user saw when typing it, not for
a question that was not displayed yet; it must not confirm a cancel or pick a step to fork
from. So a dialog notes when it has been painted and the app drops key events that are
older than that (LimboApp.on_event asks typed_ahead()). Each time a dialog comes back to
the top (another modal closed over it), it is armed again after its next paint.
"""

from __future__ import annotations

import time
from typing import TypeVar

from textual import events
from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    def __init__(self) -> None:
        super().__init__()
        # monotonic() of the paint that showed this dialog; None until then. Textual
        # stamps every event with the same clock when the terminal's bytes are read.
        self._shown_at: float | None = None

    def on_screen_resume(self) -> None:
        self._shown_at = None
        self.call_after_refresh(self._painted)

    def on_screen_suspend(self) -> None:
        self._shown_at = None

    def _painted(self) -> None:
        self._shown_at = time.monotonic()

    def typed_ahead(self, event: events.Key) -> bool:
        """True for a key typed before this dialog was on screen: to be ignored."""
        return self._shown_at is None or event.time < self._shown_at
