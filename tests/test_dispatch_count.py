"""The recovery counter in DBOS's words: dispatch a of max + 1, a refusal said."""

from __future__ import annotations

from limbo_tui.dispatch_count import dispatch_text


def test_first_run_is_dispatch_1_of_max_plus_one() -> None:
    assert dispatch_text(1, 2, "PENDING", short=True) == "disp 1/3"
    assert dispatch_text(3, 2, "PENDING", short=False) == "dispatch 3 of 3"


def test_a_count_above_the_allowed_dispatches_says_why() -> None:
    dead = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    assert dispatch_text(4, 2, dead, short=True) == "disp 4/3 refused"
    assert (
        dispatch_text(4, 2, dead, short=False) == "dispatch 4 of 3: refused, DBOS dead-lettered it"
    )
    assert dispatch_text(5, 2, "PENDING", short=True) == "disp 5/3 over max"


def test_an_unknown_maximum_is_a_question_mark() -> None:
    assert dispatch_text(2, None, "PENDING", short=True) == "disp 2/?"
    assert dispatch_text(None, None, "ENQUEUED", short=False) == "dispatch 0 of ?"
