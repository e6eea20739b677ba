"""The change-source bench's verdict on >= 0.95: a median of per-pair ratios whose
bootstrap interval must lie wholly above (met) or below (missed) the target; the pairs
split by how busy the machine was; limbo-tui's CPU per 1,000 commits."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # bench/ is a top-level package beside limbo_tui/
    sys.path.insert(0, str(REPO))

from bench.paired import median_ci, summary  # noqa: E402
from bench.sources_report import paste_text, rows  # noqa: E402
from bench.sources_summary import summarise  # noqa: E402


def _noisy(centre: float, spread: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [centre * rng.uniform(1 - spread, 1 + spread) for _ in range(n)]


def test_a_noisy_run_says_it_cannot_tell_rather_than_met_or_missed() -> None:
    # Pairs spread over 0.2-2.0, as on the shared machine: neither shown nor refuted.
    wide = summary(_noisy(1.0, 0.8, 6, seed=1), target=0.95)
    assert wide["met"] is None
    assert wide["ci"][0] < 0.95 < wide["ci"][1]


def test_enough_pairs_settle_095_against_085() -> None:
    at_one = summary(_noisy(1.0, 0.1, 24, seed=2), target=0.95)
    at_085 = summary(_noisy(0.85, 0.1, 24, seed=3), target=0.95)
    assert at_one["met"] is True and at_one["ci"][0] >= 0.95
    assert at_085["met"] is False and at_085["ci"][1] < 0.95


def test_one_burst_of_load_does_not_move_the_median() -> None:
    ratios = [1.0] * 15 + [0.2, 0.25, 4.0]
    med, low, high = median_ci(ratios)
    assert med == 1.0 and low == 1.0 and high == 1.0


def _phase(pair: int, on: bool, per_s: float, background: float, limbo: float) -> dict[str, Any]:
    return {
        "pair": pair,
        "on": on,
        "workload": "8",
        "load": 1.0,
        "per_s": per_s,
        "commits": int(per_s * 2),
        "cpu": {
            "seconds": 2.0,
            "app_server": 1.0,
            "loader": 0.2,
            "limbo_backends": limbo,
            "limbo_process": limbo / 2,
            "background": background,
        },
    }


def test_busy_pairs_are_reported_apart_and_cost_is_per_commit() -> None:
    phases = []
    for k in range(10):
        busy = k % 2 == 1
        # Quiet pairs keep 0.99; pairs with 1.5 cores of other work swing to 0.5.
        on = 990.0 if not busy else 500.0
        phases += [
            _phase(k, False, 1000.0, 1.5 if busy else 0.1, 0.0),
            _phase(k, True, on, 1.5 if busy else 0.1, 0.01),
        ]
    info = summarise({"phases": phases}, ["8"], "poll")
    f = info["workloads"]["8"]
    assert f["quiet"]["n"] == 5 and f["quiet"]["median"] == 0.99
    # Five pairs are too few for a verdict, however tight their interval.
    assert f["quiet"]["ci"] == [0.99, 0.99] and f["quiet"]["met"] is None
    assert f["busy"]["n"] == 5 and f["busy"]["median"] == 0.5
    assert f["ratio"]["n"] == 10
    # 0.01 CPU s/s of backends over 2 s in each of the ten running phases, per commit.
    on_commits = 5 * 1980 + 5 * 1000
    assert f["cost"]["limbo_backends_ms_per_1k"] == round(10 * 0.02 / on_commits * 1e6, 2)
    assert f["cost"]["paused_limbo_s"] == 0.0
    # The application's own CPU per commit, paused and running, from the same phases.
    assert f["cost"]["app_ms_per_1k"] == round(10 * 2.4 / (10 * 2000) * 1e6, 1)
    assert f["cost"]["app_ms_per_1k_running"] == round(10 * 2.4 / on_commits * 1e6, 1)
    row = next(r for r in rows({"sources": {"sources": {"poll": info}}}) if "ratio8" in r["key"])
    assert row["met"] is None  # all ten pairs together cannot tell
    assert "quieter half 0.99" in row["extra"]


def test_a_focused_run_writes_what_to_paste_into_benchmarks() -> None:
    phases = [
        _phase(k, on, 1000.0 if not on else 990.0, 0.1, 0.01)
        for k in range(4)
        for on in (False, True)
    ]
    info = summarise({"phases": phases, "latency_ms": {"ms": [5.0, 7.0], "sent": 2}}, ["8"], "poll")
    text = paste_text(
        {
            "postgres": "18.6",
            "seconds": 2.0,
            "rounds": 4,
            "workloads": ["8"],
            "sources": {"poll": info},
        }
    )
    lines = text.splitlines()
    assert lines[0].startswith(
        "| app throughput with delta polling, 8 durable writers (median of pairs) | 0.99 |"
    )
    assert "## Change sources side by side (the figures)" in lines
    assert any(
        line.startswith("| delta polling | 8 writers | 1000.0 → 990.0 | 0.99 [") for line in lines
    )
