"""Paired on / off comparisons on a noisy machine: the median of per-pair ratios and a
bootstrap confidence interval for it.

One pair is a phase without limbo-tui and one with it, back to back (A B, then B A in the
next pair, so that a drift of the machine's speed tilts neighbouring pairs opposite ways).
The median of the pairs' ratios is robust to the few pairs a burst of load hits; the
interval says what the run can tell apart: a target is shown met only when the whole
interval lies above it, missed only when it lies wholly below.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

RESAMPLES = 10_000
CONFIDENCE = 0.95
# Below this many pairs the bootstrap interval of a median is too coarse to be a verdict.
MIN_PAIRS = 10


def median_ci(
    values: Sequence[float], confidence: float = CONFIDENCE, seed: int = 11
) -> tuple[float, float, float]:
    """(median, low, high): the percentile bootstrap interval of the median of `values`
    (resampled with replacement, RESAMPLES times, seeded so a report is reproducible)."""
    if not values:
        nan = float("nan")
        return nan, nan, nan
    vals = list(values)
    med = statistics.median(vals)
    if len(vals) == 1:
        return med, med, med
    rng = random.Random(seed)
    n = len(vals)
    meds = sorted(statistics.median(rng.choices(vals, k=n)) for _ in range(RESAMPLES))
    tail = (1 - confidence) / 2
    low = meds[int(tail * RESAMPLES)]
    high = meds[min(RESAMPLES - 1, int((1 - tail) * RESAMPLES))]
    return med, low, high


def verdict(low: float, high: float, target: float) -> bool | None:
    """True when the interval lies at or above target, False when wholly below it, None
    when the run cannot tell."""
    if low >= target:
        return True
    if high < target:
        return False
    return None


def summary(ratios: Sequence[float], target: float | None = None) -> dict[str, Any]:
    """The figures of one set of pair ratios: n, median, its interval, min / max and,
    given a target, whether the interval shows it met (None below MIN_PAIRS pairs)."""
    med, low, high = median_ci(ratios)
    out: dict[str, Any] = {"n": len(ratios)}
    if ratios:
        out.update(
            median=round(med, 3),
            ci=[round(low, 3), round(high, 3)],
            min=round(min(ratios), 3),
            max=round(max(ratios), 3),
        )
        if target is not None:
            out["met"] = verdict(low, high, target) if len(ratios) >= MIN_PAIRS else None
    return out
