"""A workflow's recovery counter in the words DBOS's own rule gives it: dispatches.

DBOS counts every dispatch of a workflow in recovery_attempts (the first run is 1, each
recovery adds one) and dead-letters it (MAX_RECOVERY_ATTEMPTS_EXCEEDED) when a dispatch
finds the count above max_recovery_attempts + 1. So a workflow gets at most
max_recovery_attempts + 1 dispatches, and limbo-tui shows "dispatch a of n" with
n = max + 1: the first run and max recoveries. A count above n is never shown bare: the
dispatch that made it was refused (dead-lettered), or the maximum is not the one it ran
with. n is "?" while the workflow's maximum is unknown.

The maximum is the workflow's own (WorkflowGraph.known_max): what the worker that
dispatched it registered, else the user's [limits] for its name; never the current
[experiment] config. The tree, the details, the diagnoses, `snapshot` and the help use
these words.
"""

from __future__ import annotations

from limbo_tui import model


def allowed_dispatches(maximum: int | None) -> int | None:
    return None if maximum is None else maximum + 1


def max_origin(maximum: int | None, source: str | None) -> str:
    """`max_recovery_attempts 2, as its worker registered it`: the maximum and where
    limbo-tui knows it from (DBOS stores none)."""
    if maximum is None:
        return "max_recovery_attempts unknown: DBOS does not store it; [limits] can name it"
    origins: dict[str, str] = {
        model.MAX_FROM_WORKER: ", as the worker that ran it registered it",
        model.MAX_FROM_CONFIG: ", from [limits] in the config",
    }
    origin = origins.get(source or "", "")
    return f"max_recovery_attempts {maximum}{origin}"


def over_max_reason(attempts: int, maximum: int | None, status: str) -> str | None:
    """Why the count is above what the maximum allows; None when it is not."""
    allowed = allowed_dispatches(maximum)
    if allowed is None or attempts <= allowed:
        return None
    if attempts == allowed + 1:
        # The dispatch DBOS refuses counts too: it is one past the allowed, whatever the
        # status after it (dead-lettered, for a moment still PENDING, cancelled later).
        if status == model.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
            return f"dispatch {attempts} was refused: DBOS dead-lettered it"
        return f"dispatch {attempts} is one past the maximum: DBOS refuses it (dead-letters it)"
    return "above what that maximum allows: it ran with another maximum"


def _refused(attempts: int, maximum: int | None) -> bool:
    allowed = allowed_dispatches(maximum)
    return allowed is not None and attempts == allowed + 1


def dispatch_text(
    attempts: object, maximum: int | None, status: str, *, short: bool, source: str | None = None
) -> str:
    """'disp 2/3' (short, the tree) or 'dispatch 2 of 3 (max_recovery_attempts 2, ...)'
    (the details), with the reason when the count is above what DBOS allows."""
    count = attempts if isinstance(attempts, int) else 0
    allowed = allowed_dispatches(maximum)
    of = "?" if allowed is None else str(allowed)
    if short:
        text = f"disp {count}/{of}"
        if over_max_reason(count, maximum, status) is None:
            return text
        return text + (" refused" if _refused(count, maximum) else " over max")
    text = f"dispatch {count} of {of} ({max_origin(maximum, source)})"
    reason = over_max_reason(count, maximum, status)
    return text if reason is None else f"{text}: {reason}"
