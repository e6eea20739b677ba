"""Where a workflow waits on purpose: DBOS.recv / DBOS.get_event, or a durable sleep.

Pure, read from a workflow's operation_outputs rows. DBOS writes the wait's own row only
when it returns; before waiting, recv and get_event (called with a timeout) record the
deadline as a `DBOS.sleep` row at the next function id, and a durable DBOS.sleep records
its wake-up time the same way. So while a workflow waits, its newest row is a DBOS.sleep:
with no row at the function id just before it, it is the timeout of a recv or get_event
still waiting (which of the two, and the topic, DBOS records only when the wait ends);
otherwise it is a durable sleep. The deadline is the sleep row's stored wake-up time
(epoch seconds, JSON in 3.x), else its completion time.
"""

from __future__ import annotations

from dataclasses import dataclass

from limbo_tui.model import GET_EVENT_STEP, RECV_STEP, SLEEP_STEP, WAIT_STEPS, Step, WorkflowGraph
from limbo_tui.stored_values import decode_number

__all__ = ["GET_EVENT_STEP", "RECV_STEP", "SLEEP_STEP", "WAIT_STEPS", "current_wait"]

MESSAGE = "message"
SLEEP = "sleep"


@dataclass(frozen=True)
class Wait:
    kind: str  # MESSAGE (recv or get_event) or SLEEP
    # The function id of the wait itself (recv's own row comes here when it returns).
    function_id: int
    # The DBOS.sleep row that holds the deadline.
    sleep_function_id: int
    deadline_ms: int | None

    def waiting_at(self, now_ms: int) -> bool:
        """Still inside the wait: no deadline known, or it has not passed."""
        return self.deadline_ms is None or now_ms < self.deadline_ms


def deadline_ms(step: Step) -> int | None:
    seconds = decode_number(step.output, step.serialization)
    if seconds is not None and 0 < seconds < 1e11:
        return int(seconds * 1000)
    return step.completed_at_ms


def current_wait(graph: WorkflowGraph, workflow_id: str) -> Wait | None:
    """The wait the workflow's newest row says it is in, if any (whatever its status)."""
    steps = graph.steps.get(workflow_id)
    if not steps:
        return None
    last = max(steps)
    step = steps[last]
    if step.name != SLEEP_STEP:
        return None
    deadline = deadline_ms(step)
    before = last - 1
    if before >= 1 and before not in steps:
        return Wait(MESSAGE, before, last, deadline)
    return Wait(SLEEP, last, last, deadline)
