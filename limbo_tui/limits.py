"""max_recovery_attempts that limbo-tui knows without asking DBOS (which does not store it).

The demo's workflow names live here, not in worker/demo.py, so that the scripting commands
and a `--worker none` session can show `disp 2/3` without importing DBOS.
"""

from __future__ import annotations

from limbo_tui.settings import Settings

DEMO_PARENT = "limbo_demo.parent"
DEMO_CHILD = "limbo_demo.child"
DEMO_STEP = "limbo_demo.step"


def known_limits(settings: Settings) -> dict[str, int]:
    """The demo's limits from config, overridden by the user's [limits] table."""
    return {
        DEMO_PARENT: settings.experiment.max_recovery_attempts,
        DEMO_CHILD: settings.experiment.child_max_recovery_attempts,
        **settings.limits,
    }
