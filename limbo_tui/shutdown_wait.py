"""What a graceful stop of the worker waits for, in words (pure).

DBOS's shutdown (`DBOS.destroy(workflow_completion_timeout_sec=N)`) names only ids; the
graph and the diagnoses say why those workflows do not end: the seed's parent is PENDING,
awaiting a dead child, and DBOS <= 2.11 waits the whole N s for it. The header shows
`stopping: DBOS waits for fe5f923f (PENDING, awaiting a dead child) 3 s of 10 s`, the
timeline keeps the same words without the clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from limbo_tui.diagnose import AWAITING_DEAD_CHILD, LIMBO, Diagnosis
from limbo_tui.model import WorkflowGraph, short_id
from limbo_tui.worker.protocol import ShutdownWait

# The diagnosis a waited-for workflow is named by, as part of a sentence.
_WORDS = {AWAITING_DEAD_CHILD: "awaiting a dead child"}


def short_waited_id(workflow_id: str, others: Collection[str]) -> str:
    """A waited-for id as short_id writes it, a child (DBOS's `<parent>-<n>`) after its
    parent's short id when the parent is among `others` (DBOS names both while a parent
    waits for a running child): `b1fb725b-1`, never the parent's `b1fb725b` twice."""
    parent = workflow_id.rpartition("-")[0]
    return short_id(workflow_id, parent if parent in others else None)


def _why(
    workflow_id: str,
    graph: WorkflowGraph,
    diagnoses: Iterable[Diagnosis],
    active: tuple[str, ...],
) -> str:
    wf = graph.workflows.get(workflow_id)
    said = [wf.status if wf is not None else "not loaded"]
    kinds = [d.kind for d in diagnoses if d.workflow_id == workflow_id and d.severity == LIMBO]
    if kinds:
        said.append(_WORDS.get(kinds[0], kinds[0].replace("-", " ")))
    known = set(active) | ({wf.parent_id} if wf is not None and wf.parent_id else set())
    if workflow_id.rpartition("-")[0] in graph.workflows:
        known.add(workflow_id.rpartition("-")[0])
    return f"{short_waited_id(workflow_id, known)} ({', '.join(said)})"


def waiting_for(wait: ShutdownWait, graph: WorkflowGraph, diagnoses: Iterable[Diagnosis]) -> str:
    """`DBOS waits for fe5f923f (PENDING, awaiting a dead child)`; before DBOS's first
    check (a second in) it has named nothing yet."""
    if not wait.active:
        return f"DBOS's shutdown waits up to {wait.wait_s} s for its active workflows"
    listed = list(diagnoses)
    named = ", ".join(_why(i, graph, listed, wait.active) for i in wait.active)
    return "DBOS waits for " + named


def stopping_line(
    wait: ShutdownWait,
    graph: WorkflowGraph,
    diagnoses: Iterable[Diagnosis],
    now_monotonic: float,
) -> str:
    """The header's words while the stop lasts, with its clock and limbo-tui's bound."""
    elapsed = max(0, int(now_monotonic - wait.started_at))
    line = f"stopping: {waiting_for(wait, graph, diagnoses)} {elapsed} s of {wait.wait_s} s"
    if wait.kill_after_s:
        line += f" (killed at {wait.kill_after_s:g} s; q: kill it now)"
    return line
