"""Lab or monitor: what limbo-tui may do depends on which database it watches.

A lab is the embedded database, or one the user names a lab (`--lab`, `lab = true`):
limbo-tui runs its worker there (demo queue included) and installs its NOTIFY triggers.
Anywhere else it is a monitor: no worker unless asked for (`--worker`), and no write of
any kind until the user confirms one (live push, an action key). `--read-only` forbids
even those.
"""

from __future__ import annotations

import dataclasses

from limbo_tui.settings import Settings


def for_database(settings: Settings, embedded: bool) -> Settings:
    """The settings to run with on this database: lab or monitor decided once, here."""
    lab = settings.lab or embedded
    worker = settings.worker
    if not lab and worker.mode_source == "default":
        worker = dataclasses.replace(worker, mode="none")
    return dataclasses.replace(settings, lab=lab, worker=worker)


def mode_label(settings: Settings) -> str:
    """The header's first word: lab, monitor, with READ-ONLY when nothing may be written."""
    label = "lab" if settings.lab else "monitor"
    return f"{label} READ-ONLY" if settings.read_only else label
