"""2. Throughput: the highest sustained rate of status changes limbo-tui absorbs.

One limbo-tui process (LimboApp headless, or `feed` = LiveFeed + graph + diagnose without
Textual) watches 5,000 hot workflows; a writer ramps the change rate up, a few seconds
per step. A step is absorbed when the writer reached >= 90 % of its target, no change was
lost, and the backlog did not grow: the median commit-to-graph lag over the step's last
second stays under MAX_LAG_MS. CPU is the monitor process's, in % of one core.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import BenchServer, dist, log
from bench.live import Monitor, cpu_percent, match, write
from bench.synthetic import populate_hot

HOT_ROWS = 5000
MAX_LAG_MS = 500.0


def run(bs: BenchServer, quick: bool) -> dict[str, Any]:
    db = bs.fresh_database("throughput")
    url = bs.url(db)
    data = populate_hot(url, quick, HOT_ROWS)
    rates = (500, 2_000) if quick else (1_000, 2_000, 5_000, 10_000, 20_000)
    seconds = 1.2 if quick else 5.0
    out: dict[str, Any] = {"database": data, "hot_rows": HOT_ROWS, "modes": {}}
    base = int(time.time() * 1000)
    seq = 0
    for mode in ("app", "feed"):
        mon = Monitor(url, base, mode=mode)
        mon.start()
        runs = []
        try:
            for rate in rates:
                w = write(url, rate, seconds, HOT_ROWS, base, seq)
                seq += w.count
                runs.append(w)
                time.sleep(0.5 if quick else 1.5)  # drain: what is still queued shows as a long lag
                if w.achieved_per_s < 0.9 * rate:
                    break  # the writer (Postgres + triggers) itself is the limit
        finally:
            result = mon.stop()
        steps = []
        best = 0.0
        for w in runs:
            m = match(w, result["graph"], result["screen"], HOT_ROWS)
            t_end = w.commits[-1] if w.commits else 0
            tail = [lat for t, lat in m.timeline if t >= t_end - 1_000_000_000]
            tail_lag = statistics.median(tail) if tail else None
            cpu = (
                cpu_percent(result["cpu_samples"], w.commits[0], t_end + 10**9)
                if w.commits
                else None
            )
            ok = (
                w.achieved_per_s >= 0.9 * w.target_per_s
                and m.missing == 0
                and tail_lag is not None
                and tail_lag < MAX_LAG_MS
            )
            if ok:
                best = max(best, w.achieved_per_s)
            steps.append(
                {
                    "target_per_s": w.target_per_s,
                    "achieved_per_s": round(w.achieved_per_s, 1),
                    "graph_ms": dist(m.graph_ms),
                    "tail_lag_ms": None if tail_lag is None else round(tail_lag, 1),
                    "superseded": m.superseded,
                    "missing": m.missing,
                    "cpu_percent": cpu,
                    "absorbed": ok,
                }
            )
            log(
                f"throughput {mode} {w.target_per_s:.0f}/s: writer {w.achieved_per_s:.0f}/s, "
                f"tail lag {tail_lag} ms, cpu {cpu}%, absorbed {ok}"
            )
        out["modes"][mode] = {"steps": steps, "max_sustained_per_s": round(best, 1)}
    bs.drop_database(db)
    return out
