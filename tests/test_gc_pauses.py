"""After the first snapshot, a full collection no longer walks what it built. Each check
runs in a fresh interpreter: freezing is once per process, whatever other tests did."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_watch_takes_its_first_snapshot_out_of_full_collections() -> None:
    out = _run(
        """
        import gc, io, time, weakref
        from limbo_tui.model import Workflow
        from limbo_tui.pg.feed import FeedBatch
        from limbo_tui.scripting import Watcher
        from limbo_tui.settings import Settings

        def walked(obj):
            return any(o is obj for o in gc.get_objects())

        now = int(time.time() * 1000)
        row = lambda wid: Workflow(wid, "SUCCESS", "job", created_at_ms=now, updated_at_ms=now)
        watcher = Watcher(Settings(), io.StringIO())
        rows = [row(f"w{i}") for i in range(50)]
        probe = rows[7]
        print("before", walked(probe))
        watcher.on_batch(FeedBatch(rows, full=True))
        print("after", walked(probe))
        later = row("later")
        watcher.on_batch(FeedBatch([later], full=False))
        print("later", walked(later))
        # A frozen row that is replaced is still freed (reference counting).
        gone = weakref.ref(probe)
        del rows, probe
        watcher.on_batch(FeedBatch([row("w7")], full=False))
        print("freed", gone() is None)
        """
    )
    assert out.split("\n") == ["before True", "after False", "later True", "freed True"]


def test_freezing_happens_once_per_process() -> None:
    out = _run(
        """
        import gc
        from limbo_tui.gc_pauses import freeze_long_lived
        a = [object() for _ in range(3)]
        print(freeze_long_lived(), freeze_long_lived(), gc.get_freeze_count() > 0)
        """
    )
    assert out == "True False True"


def test_after_the_first_snapshot_a_frame_s_garbage_waits_for_a_larger_collection() -> None:
    # Textual's dead lines are reference cycles: at 700 new objects a collection ran
    # dozens of times a second under a stream of changes, and each pushed the live part
    # of a frame towards the full collection's walk.
    out = _run(
        """
        import gc, io, time
        from limbo_tui.model import Workflow
        from limbo_tui.pg.feed import FeedBatch
        from limbo_tui.scripting import Watcher
        from limbo_tui.settings import Settings

        runs = []
        gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info))

        def frame_garbage():
            for _ in range(20_000):
                line = []
                line.append(line)  # a dead cycle, as a rendered Strip in its own cache

        frame_garbage()
        print("before", len(runs) > 0)
        now = int(time.time() * 1000)
        row = Workflow("w", "SUCCESS", "job", created_at_ms=now, updated_at_ms=now)
        Watcher(Settings(), io.StringIO()).on_batch(FeedBatch([row], full=True))
        runs.clear()
        frame_garbage()
        print("after", len(runs))
        """
    )
    assert out.split("\n") == ["before True", "after 0"]
