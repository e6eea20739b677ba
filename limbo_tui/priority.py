"""A monitor yields the CPU: limbo-tui watching a user's database lowers its own CPU
priority (`[feed] nice`, default 10), so that on a host it shares with the application
(or the database server) it only takes CPU the others leave idle. The lab keeps its
priority: there limbo-tui runs the workers itself.

Measured on two cores with eight durable writers (BENCHMARKS.md, change sources): the
monitor's own process was the larger half of what it cost the application.

Linux's nice value is per thread and inherited by threads created later, so this runs
before the feed, Textual or any worker thread starts.
"""

from __future__ import annotations

import contextlib
import os

from limbo_tui.settings import Settings


def yield_cpu(settings: Settings) -> int:
    """Lower this process's priority by `[feed] nice` in monitor mode; returns the
    increment applied (0: none). Never fails: a refused nice leaves it as it was."""
    step = settings.feed.nice
    if settings.lab or step <= 0:
        return 0
    with contextlib.suppress(OSError):
        os.nice(step)
        return step
    return 0
