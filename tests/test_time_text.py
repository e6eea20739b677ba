"""Durations and timestamps: each format made in one place (time_text), as the user reads
it in the tree, the details, the diagnoses, the timelines and the JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import limbo_tui
from limbo_tui.time_text import (
    age_text,
    duration_text,
    iso,
    span_changes_after,
    span_text,
    stamp_text,
    time_of_day_text,
    until_text,
)

S, M, H, D = 1000, 60_000, 3_600_000, 86_400_000
# 2026-02-05 21:22:25.905 UTC
T = 1_770_326_545_905


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, ""),
        (-5, ""),  # a clock ahead of the server's: no age rather than a negative one
        (0, "0s"),
        (59_999, "59s"),
        (60_000, "1m00s"),
        (4 * M + 5 * S, "4m05s"),
        (10 * M, "10m"),
        (3 * H + 5 * M, "3h05m"),
        (2 * D + 4 * H, "2d"),
    ],
)
def test_age_is_compact_for_a_column(ms: int | None, text: str) -> None:
    assert age_text(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, ""), (80, "80ms"), (2_500, "2.5s"), (59_949, "59.9s"), (12 * M, "12m")],
)
def test_a_step_duration_keeps_its_small_units(ms: int | None, text: str) -> None:
    assert duration_text(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (-1, "0s"),
        (45 * S, "45s"),
        (12 * M + 30 * S, "12m"),
        (3 * H, "3h"),
        (3 * H + 5 * M, "3h 5m"),
        (2 * D, "2d"),
        (2 * D + 4 * H, "2d 4h"),
    ],
)
def test_a_span_reads_well_in_a_sentence(ms: int, text: str) -> None:
    assert span_text(ms) == text


def test_moments_are_utc_and_say_so() -> None:
    assert stamp_text(T) == "2026-02-05 21:22:25Z"
    assert time_of_day_text(T) == "21:22:25.905Z"
    assert iso(T) == "2026-02-05T21:22:25.905Z"
    assert iso(None) is None


def test_a_deadline_is_its_time_within_a_day_else_its_date() -> None:
    assert until_text(T, T - H) == "→21:22:25Z"
    assert until_text(T, T - 2 * D) == "→2026-02-05"
    assert until_text(T, None) == "→2026-02-05"
    assert until_text(None, T) == "no deadline"


def test_a_time_no_calendar_holds_is_shown_as_its_number() -> None:
    # The database is someone else's input: a created_at of 10^18 ms must not raise.
    huge = 10**18
    assert stamp_text(huge) == f"epoch ms {huge}"
    assert time_of_day_text(-huge) == f"epoch ms {-huge}"
    assert until_text(huge, 0) == f"→epoch ms {huge}"
    assert iso(huge) == str(huge)


def test_no_other_module_formats_times_itself() -> None:
    root = Path(limbo_tui.__file__).parent
    making = re.compile(r"strftime|fromtimestamp|gmtime|isoformat\(timespec")
    elsewhere = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "time_text.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if making.search(line)
    ]
    assert elsewhere == []


@pytest.mark.parametrize("ms", [0, 999, 1_000, 59_999, 60_000, 3_599_999, 86_399_999, 90_061_000])
def test_span_changes_after_is_the_next_span_that_reads_otherwise(ms: int) -> None:
    # A live monitor re-diagnoses a "stalled for 12m" only then: never later, never
    # while the sentence would read the same.
    nxt = span_changes_after(ms)
    assert nxt > ms
    assert span_text(nxt - 1) == span_text(ms)
    assert span_text(nxt) != span_text(ms)
