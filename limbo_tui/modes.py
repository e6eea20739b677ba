"""Lab or monitor: what limbo-tui may do depends on which database it watches.

A lab is the embedded database, or one the user names a lab (`--lab`, `lab = true`):
limbo-tui runs its worker there (demo queue included) and installs its NOTIFY triggers.
Anywhere else it is a monitor: no worker unless asked for (`--worker`), and no write of
any kind until the user confirms one (live push, an action key). `--read-only` forbids
even those.
"""

from __future__ import annotations

import dataclasses
import re

from limbo_tui.settings import Settings


def for_database(settings: Settings, embedded: bool) -> Settings:
    """The settings to run with on this database: lab or monitor decided once, here."""
    lab = settings.lab or embedded
    worker = settings.worker
    if not lab and worker.mode_source == "default":
        worker = dataclasses.replace(worker, mode="none")
    return dataclasses.replace(settings, lab=lab, worker=worker)


# "c: cancel it ..., or u: resume it": a key letter at the start of each proposal.
_KEY_PREFIX = re.compile(r"(^|, or |; |\. )[A-Za-z]: ")


def offered_action(action: str, read_only: bool) -> str:
    """A diagnosis's proposal as the screen may offer it: read-only offers no write key,
    only what would fix it (for someone who may write)."""
    if not read_only or not action:
        return action
    return "read-only, so no key here; what would fix it: " + _KEY_PREFIX.sub(r"\1", action)


def mode_label(settings: Settings) -> str:
    """The header's first word: lab, monitor, with READ-ONLY when nothing may be written."""
    label = "lab" if settings.lab else "monitor"
    return f"{label} READ-ONLY" if settings.read_only else label
