"""The header's words while DBOS's shutdown waits: the ids it names, and why they do not end."""

from __future__ import annotations

from limbo_tui.diagnose import diagnose
from limbo_tui.model import WorkflowGraph
from limbo_tui.settings import LimboSettings
from limbo_tui.shutdown_wait import stopping_line, waiting_for
from limbo_tui.worker.protocol import ShutdownWait
from tests import seed

PARENT = seed.PARENT
NOW_MS = seed.MINUTE_LATER_MS


def _seed_limbo() -> WorkflowGraph:
    """The seed's state on dbos 2.8: the parent PENDING holding 6/5, its child dead."""
    graph = WorkflowGraph()
    graph.replace_all(seed.rows())
    return graph


def test_the_stuck_parent_is_named_with_its_status_and_why() -> None:
    graph = _seed_limbo()
    found = diagnose(graph, NOW_MS, LimboSettings())
    wait = ShutdownWait(10, 100.0, (PARENT,), 15.0)
    assert waiting_for(wait, graph, found) == (
        "DBOS waits for fe5f923f (PENDING, awaiting a dead child)"
    )
    assert stopping_line(wait, graph, found, 103.4) == (
        "stopping: DBOS waits for fe5f923f (PENDING, awaiting a dead child) 3 s of 10 s "
        "(killed at 15 s; q: kill it now)"
    )


def test_before_dbos_names_anything_and_for_an_unloaded_id() -> None:
    graph = _seed_limbo()
    assert waiting_for(ShutdownWait(10, 0.0), graph, []) == (
        "DBOS's shutdown waits up to 10 s for its active workflows"
    )
    other = ShutdownWait(10, 0.0, ("0123456789abcdef",))
    assert waiting_for(other, graph, []) == "DBOS waits for 01234567 (not loaded)"


def test_a_parent_and_its_running_child_are_told_apart() -> None:
    # DBOS names both while the parent waits for a child still running its steps.
    wait = ShutdownWait(10, 0.0, (PARENT, f"{PARENT}-1"))
    assert waiting_for(wait, WorkflowGraph(), []) == (
        "DBOS waits for fe5f923f (not loaded), fe5f923f-1 (not loaded)"
    )
