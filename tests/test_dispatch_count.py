"""The recovery counter in DBOS's words: dispatch a of max + 1, a refusal said, and where
the maximum is known from."""

from __future__ import annotations

from limbo_tui.dispatch_count import dispatch_text

DEAD = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"


def test_first_run_is_dispatch_1_of_max_plus_one() -> None:
    assert dispatch_text(1, 2, "PENDING", short=True) == "disp 1/3"
    assert dispatch_text(3, 2, "PENDING", short=False, source="worker") == (
        "dispatch 3 of 3 (max_recovery_attempts 2, as the worker that ran it registered it)"
    )


def test_a_count_above_the_allowed_dispatches_says_why() -> None:
    assert dispatch_text(4, 2, DEAD, short=True) == "disp 4/3 refused"
    assert dispatch_text(4, 2, DEAD, short=False, source="worker") == (
        "dispatch 4 of 3 (max_recovery_attempts 2, as the worker that ran it registered it): "
        "dispatch 4 was refused: DBOS dead-lettered it"
    )
    # The refused dispatch is one past the allowed whatever the status says of it: for a
    # moment still PENDING (DBOS counts, then dead-letters), or cancelled afterwards.
    assert dispatch_text(4, 2, "PENDING", short=True) == "disp 4/3 refused"
    assert dispatch_text(4, 2, "CANCELLED", short=False).endswith(
        ": dispatch 4 is one past the maximum: DBOS refuses it (dead-letters it)"
    )
    assert dispatch_text(5, 2, "PENDING", short=True) == "disp 5/3 over max"
    assert dispatch_text(5, 2, "PENDING", short=False, source="config").endswith(
        "(max_recovery_attempts 2, from [limits] in the config): "
        "above what that maximum allows: it ran with another maximum"
    )


def test_an_unknown_maximum_is_a_question_mark() -> None:
    assert dispatch_text(2, None, "PENDING", short=True) == "disp 2/?"
    assert dispatch_text(None, None, "ENQUEUED", short=False) == (
        "dispatch 0 of ? (max_recovery_attempts unknown: DBOS does not store it; "
        "[limits] can name it)"
    )
