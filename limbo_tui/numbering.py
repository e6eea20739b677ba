"""One numbering on every surface: the numbers DBOS itself records.

- A step is its function id in its workflow: operation_outputs.function_id,
  DBOS.list_workflow_steps' function_id and DBOS.step_status.step_id, counted from 1.
  The steps table's #, the tree's live step, the worker log, the crash point and the
  fork picker all say `step 4` for the same step.
- A try is counted from 1 (DBOS.step_status.current_attempt + 1), as DBOS's own log
  counts them: "Step being automatically retried (attempt 1 of 3)" follows try 1/3.
- A child is named by its id. DBOS names a child `<parent id>-<function id>`, the function
  id of the call that started it in its parent; a parent that waits for each child before
  starting the next spends two function ids per child (the start, then the
  DBOS.getResult wait), so the seed's children are -1, -3, -5, ...

Only the standard library and model.short_id: the worker's demo code (run by any DBOS
release's interpreter) writes its log and crash point through these too.
"""

from __future__ import annotations

import re

from limbo_tui.model import short_id

# `<parent id>-<function id>`: DBOS's default id of a child workflow.
_CHILD_ID = re.compile(r"^(?P<parent>.+)-(?P<function_id>[0-9]+)$")


def step_text(function_id: int) -> str:
    return f"step {function_id}"


def try_text(attempt: int, max_attempts: int) -> str:
    """`try 1/3`: attempt is 1-based."""
    return f"try {attempt}/{max_attempts}"


def live_step_text(function_id: int, attempt: int, max_attempts: int) -> str:
    """`step 4 (try 1/3)`: the step a workflow runs now, and its try."""
    return f"{step_text(function_id)} ({try_text(attempt, max_attempts)})"


def child_function_id(child_id: str) -> int | None:
    """The function id in its parent that a DBOS default child id ends with, or None."""
    match = _CHILD_ID.match(child_id)
    return int(match["function_id"]) if match else None


def child_text(child_id: str) -> str:
    """`child 3f2a91bc-3`: the child's short id, its parent's short id and its -N."""
    match = _CHILD_ID.match(child_id)
    return f"child {short_id(child_id, match['parent'] if match else None)}"


def crash_point_text(child_id: str, function_id: int) -> str:
    """`child 3f2a91bc-3 step 2`: the header names the crash point this way."""
    return f"{child_text(child_id)} {step_text(function_id)}"
