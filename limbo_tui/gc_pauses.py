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

Then the young generation is collected after 50,000 new objects, not 700 (THRESHOLDS).
Every line Textual renders is a reference cycle once dead (a Strip kept in its own cache):
at 1,000 changes/s the TUI ran ~40 young collections a second, each moving the frame's
live objects on towards the old generations, and full collections of 15-110 ms came
every 2-3 s (issue #16's real terminal, headless and on a pty). With fewer, larger young
collections most of a frame's objects are gone before one runs: in the same run the
collector's pauses went from ~0.4 s to ~0.06 s per 10 s, the longest from 112 to 37 ms,
and no full collection ran while changes flowed. The garbage waiting meanwhile is a few MB.
"""

from __future__ import annotations

import gc

# gc.set_threshold's: new objects (allocations less deallocations) that start a young
# collection, and how many young (then middle) collections start the next generation's.
# Those two stay CPython's: a cycle that died after it was promoted waits for a full
# collection, and one every ~100 young ones keeps that garbage bounded over hours.
THRESHOLDS = (50_000, 10, 10)

_frozen = False


def freeze_long_lived() -> bool:
    """Take every object alive now out of later collections' walk, and collect the young
    generation less often from now on; the first call of the process only (True when it
    froze)."""
    global _frozen
    if _frozen:
        return False
    _frozen = True
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return True
