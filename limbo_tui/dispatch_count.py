"""A workflow's recovery counter in the words DBOS's own rule gives it: dispatches.

DBOS counts every dispatch of a workflow in recovery_attempts (the first run is 1, each
recovery adds one) and dead-letters it (MAX_RECOVERY_ATTEMPTS_EXCEEDED) when a dispatch
finds the count above max_recovery_attempts + 1. So a workflow gets at most
max_recovery_attempts + 1 dispatches, and limbo-tui shows "dispatch a of n" with
n = max + 1: the first run and max recoveries. A count above n is never shown bare: the
dispatch that made it was refused (dead-lettered), or the maximum is not the one it ran
with. n is "?" while the workflow's maximum is unknown.

One numbering everywhere: the tree, the details, `snapshot` and the help use this."""

from __future__ import annotations

from limbo_tui import model


def allowed_dispatches(maximum: int | None) -> int | None:
    return None if maximum is None else maximum + 1


def dispatch_text(attempts: object, maximum: int | None, status: str, *, short: bool) -> str:
    """'disp 2/3' (short, the tree) or 'dispatch 2 of 3' (the details), with the reason
    when the count is above what DBOS allows."""
    count = attempts if isinstance(attempts, int) else 0
    allowed = allowed_dispatches(maximum)
    of = "?" if allowed is None else str(allowed)
    text = f"disp {count}/{of}" if short else f"dispatch {count} of {of}"
    if allowed is None or count <= allowed:
        return text
    if status == model.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        return text + (" refused" if short else ": refused, DBOS dead-lettered it")
    return text + (" over max" if short else ": above the maximum known now")
