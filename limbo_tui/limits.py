"""max_recovery_attempts that limbo-tui knows without asking DBOS (which does not store it).

The demo's workflow names live here, not in worker/demo.py, so that the scripting commands
and a `--worker none` session can name them without importing DBOS.
"""

from __future__ import annotations

from limbo_tui.settings import Settings

DEMO_PARENT = "limbo_demo.parent"
DEMO_CHILD = "limbo_demo.child"
DEMO_STEP = "limbo_demo.step"


def known_limits(settings: Settings) -> dict[str, int]:
    """The user's [limits] table: max_recovery_attempts by workflow name.

    Not the demo's [experiment] maxima: those are what the next worker registers, not
    what an older workflow ran with. A workflow's own maximum is what the worker that
    dispatched it registered (WorkflowGraph.worker_registered), and "?" when unknown."""
    return dict(settings.limits)
