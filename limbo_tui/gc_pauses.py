"""Short garbage-collector pauses for a monitor that runs for hours.

CPython's full collection walks every object the collector tracks. Once the first
snapshot is in, that is the graph, the tree's nodes, Textual's widgets and every module
loaded: a pause of ~0.2 s at 2,000 workflows (more with more), which comes back every
several seconds under a stream of changes, and a change that arrives meanwhile waits for
it (a p99 of issue #16's latency). What exists once the first snapshot is on screen lives
about as long as the process, so it is taken out of the collector's walk, once per
process (gc.freeze): later collections walk only what came after.

Frozen objects are still freed by reference counting (a replaced row, a dropped node);
only a reference cycle among them that dies later is kept, so this happens once, and is
bounded by what the first snapshot built.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_long_lived() -> bool:
    """Take every object alive now out of later collections' walk; the first call of the
    process only (True when it froze)."""
    global _frozen
    if _frozen:
        return False
    _frozen = True
    gc.freeze()
    return True
