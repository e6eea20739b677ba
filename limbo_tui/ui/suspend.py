"""ctrl+z: stop limbo-tui's job as the terminal itself would, and come back on `fg`.

Textual turns the terminal's signals off, so ctrl+z arrives as a key. Stopping only this
process (Textual's own action) is not enough: started by `uv run`, the shell waits for uv,
which keeps running, and the terminal is left to a stopped program. The terminal's ctrl+z
stops the whole foreground process group, so this does the same, after giving the screen
back (Textual's App.suspend), and repaints everything on `fg`. The embedded server and the
worker process run in sessions of their own and are not stopped.

Without a job-control shell (limbo-tui started straight by tmux, ssh or `sh -c`) nothing
could ever continue the job: it is refused, with the reason, instead of freezing.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from textual.app import App, SuspendNotSupported


def suspend_to_shell(app: App[Any]) -> str | None:
    """Stop this job until `fg`; None once resumed, else why it cannot be suspended."""
    group = os.getpgrp()
    if group == os.getsid(0):
        return "ctrl+z: no shell to return to (started without job control); q quits"
    try:
        with app.suspend():
            # Returns once the job is continued: Textual's SIGTSTP handler stops this
            # process, the default action stops the others of the group (uv).
            os.killpg(group, signal.SIGTSTP)
    except SuspendNotSupported:
        return "ctrl+z: this terminal cannot suspend limbo-tui; q quits"
    app.refresh(layout=True)
    return None
