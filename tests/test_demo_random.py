"""The demo's steps draw their jitter and failures from a generator of their own: in a
thread worker they run in limbo-tui's process (and in the tests'), where a step drawing
from the global `random` moved a sequence the host had seeded, and Hypothesis, generating
data in the same process, warned that a strategy used the `random` module."""

from __future__ import annotations

import random
import time
from typing import NoReturn

import pytest

from limbo_tui.worker import demo


class _SleepOnlyHost:
    """A host of the test's own: a thread-worker test before this one in the same process
    leaves its host behind, whose crash guard may have tripped (its sleep then raises)."""

    def crash(self, reason: str) -> NoReturn:
        raise AssertionError(f"no crash point is set, yet: {reason}")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@pytest.fixture(autouse=True)
def _own_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "_host", _SleepOnlyHost())


def test_a_demo_step_leaves_the_global_random_sequence_alone() -> None:
    random.seed(12)
    expected = [random.random() for _ in range(3)]
    random.seed(12)
    failures = 0
    for _ in range(20):
        try:
            demo._demo_step(1, 2, {"step_delay_ms": 1, "step_fail_rate": 0.5})
        except demo.TransientStepError:
            failures += 1
    assert [random.random() for _ in range(3)] == expected
    # Its own draws still decide: at a rate of 0.5, twenty steps neither all fail nor
    # all pass (1 in 2**19).
    assert 0 < failures < 20


def test_the_demo_still_fails_every_step_at_rate_one() -> None:
    with pytest.raises(demo.TransientStepError):
        demo._demo_step(1, 2, {"step_fail_rate": 1.0})
