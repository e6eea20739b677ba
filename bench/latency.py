"""1. Change latency: commit of a workflow_status change -> graph updated -> screen painted.

A writer process commits status changes at 1, 100 and 1,000 changes/s; limbo-tui
(LimboApp, headless 120x40, real LiveFeed) runs in another process on a database of
10,000 workflows. The changed workflows are the VISIBLE_ROWS newest roots, i.e. the top
lines of the tree: a change to a line off screen paints nothing, so "screen" would only
measure the next unrelated frame. Repeated `reps` times, each with a fresh limbo-tui.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import BenchServer, dist, log, spread
from bench.live import Monitor, match, write
from bench.synthetic import populate_hot

RATES = (1, 100, 1000)
HOT_ROWS = 1000
# Lines of the tree on a 120x40 screen that show hot rows (the newest roots).
VISIBLE_ROWS = 25


def run(bs: BenchServer, quick: bool) -> dict[str, Any]:
    db = bs.fresh_database("latency")
    url = bs.url(db)
    data = populate_hot(url, quick, HOT_ROWS)
    reps = 1 if quick else 3
    seconds = {1: 2.5, 100: 1.5, 1000: 1.5} if quick else {1: 12, 100: 6, 1000: 6}
    base = int(time.time() * 1000)
    seq = 0
    per_rate: dict[int, list[Any]] = {r: [] for r in RATES}
    for rep in range(reps):
        mon = Monitor(url, base)
        mon.start()
        runs = []
        try:
            for rate in RATES:
                w = write(
                    url, rate, seconds[rate], VISIBLE_ROWS, base, seq, HOT_ROWS - VISIBLE_ROWS
                )
                seq += w.count
                runs.append((rate, w))
                time.sleep(0.6)  # let the last changes land before the next rate
        finally:
            result = mon.stop()
        for rate, w in runs:
            m = match(w, result["graph"], result["screen"], VISIBLE_ROWS)
            per_rate[rate].append((w, m))
            log(
                f"latency rep {rep + 1}/{reps} {rate}/s: graph p50 "
                f"{dist(m.graph_ms)['median']} p99 {dist(m.graph_ms)['p99']} ms, screen p50 "
                f"{dist(m.screen_ms)['median']} p99 {dist(m.screen_ms)['p99']} ms"
            )
    out: dict[str, Any] = {"database": data, "reps": reps, "hot_rows": VISIBLE_ROWS, "rates": {}}
    for rate, items in per_rate.items():
        graph = [x for _, m in items for x in m.graph_ms]
        screen = [x for _, m in items for x in m.screen_ms]
        out["rates"][str(rate)] = {
            "changes": sum(w.count for w, _ in items),
            "achieved_per_s": round(sum(w.achieved_per_s for w, _ in items) / len(items), 1),
            "graph_ms": dist(graph),
            "screen_ms": dist(screen),
            "graph_p99_spread": spread([dist(m.graph_ms)["p99"] for _, m in items]),
            "graph_median_spread": spread([dist(m.graph_ms)["median"] for _, m in items]),
            "screen_p99_spread": spread([dist(m.screen_ms)["p99"] for _, m in items]),
            "screen_median_spread": spread([dist(m.screen_ms)["median"] for _, m in items]),
            "superseded": sum(m.superseded for _, m in items),
            "missing": sum(m.missing for _, m in items),
        }
    bs.drop_database(db)
    return out
