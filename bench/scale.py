"""3. Scale: snapshot and first paint with 10k, 100k and 1M workflow rows, and memory.

Each database is synthetic (bench.synthetic, COPY) with 10,000 live workflows in live
families (5,000 at 10k rows: half the table) and the rest finished. For each size:
- snapshot: queries.snapshot() alone, on its own connection (server + decode time);
- first paint: a fresh limbo-tui process (LimboApp headless + LiveFeed) from app start to
  the first frame drawn after the snapshot was applied; `process` adds interpreter start
  and imports (spawn to that frame);
- memory: the resident set of that process right after the first paint;
- `/` filter, in the pure core: the snapshot's graph indexed once (SearchIndex.rebuild),
  then each keystroke of "needle" typed in turn (SearchIndex.matches and the ids the tree
  keeps, workflow_lines.visible_ids); the first keystroke searches every loaded
  workflow, the next ones only what the previous one found.
An empty database gives the baseline memory of limbo-tui itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bench.common import BenchServer, dist, log, spread
from bench.live import Monitor
from bench.synthetic import populate
from limbo_tui import status_style
from limbo_tui.model import WorkflowGraph
from limbo_tui.pg import queries
from limbo_tui.search import SearchIndex
from limbo_tui.tree_facts import visible_ids
from limbo_tui.urls import asyncpg_dsn

FILTER_TEXT = "needle"

SIZES = (10_000, 100_000, 1_000_000)
# One size when quick (the smoke test): the figures are the largest size's.
QUICK_SIZES = (10_000,)


async def _snapshot_times(url: str, runs: int) -> tuple[list[float], int]:
    conn = await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0)
    try:
        times = []
        rows = 0
        for _ in range(runs):
            t0 = time.perf_counter()
            got = await queries.snapshot(conn, "dbos", 200)
            times.append((time.perf_counter() - t0) * 1000)
            rows = len(got)
        return times, rows
    finally:
        await conn.close()


async def _filter_times(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0)
    try:
        rows = await queries.snapshot(conn, "dbos", 200)
    finally:
        await conn.close()
    graph = WorkflowGraph()
    graph.replace_all(rows)
    index = SearchIndex(status_style.word)
    t0 = time.perf_counter()
    index.rebuild(graph)
    rebuild_ms = (time.perf_counter() - t0) * 1000
    keys: list[float] = []
    for n in range(1, len(FILTER_TEXT) + 1):
        t0 = time.perf_counter()
        visible_ids(graph, index.matches(FILTER_TEXT[:n]))
        keys.append((time.perf_counter() - t0) * 1000)
    return {
        "workflows": len(graph.workflows),
        "index_ms": round(rebuild_ms, 1),
        "first_key_ms": round(keys[0], 2),
        "next_keys_ms": dist(keys[1:], 2),
    }


def first_paint(url: str) -> dict[str, Any]:
    mon = Monitor(url, base=2**62)
    t0 = time.perf_counter()
    mon.start()
    process_s = time.perf_counter() - t0
    res = mon.stop()
    res["process_first_paint_s"] = process_s
    return res


def run(bs: BenchServer, quick: bool, keep: set[int] | None = None) -> dict[str, Any]:
    """`keep`: sizes whose database stays for later benchmarks (returned in `databases`)."""
    runs = 1 if quick else 3
    out: dict[str, Any] = {"sizes": {}, "databases": {}}
    empty = bs.fresh_database("scale_empty")
    base_runs = [first_paint(bs.url(empty)) for _ in range(runs)]
    out["empty"] = {
        "first_paint_s": spread([r["first_paint_s"] for r in base_runs], 3),
        "rss_mb": spread([r["ready_rss_mb"] for r in base_runs], 1),
    }
    bs.drop_database(empty)
    for n in QUICK_SIZES if quick else SIZES:
        db = bs.fresh_database(f"scale_{n}")
        url = bs.url(db)
        log(f"scale: writing {n:,} workflows")
        data = populate(url, n, live_nodes=min(10_000, n // 2), progress=log)
        snap_ms, snap_rows = asyncio.run(_snapshot_times(url, runs + 1))
        paints = [first_paint(url) for _ in range(runs)]
        entry = {
            "database": data,
            "snapshot_rows": snap_rows,
            "snapshot_ms": dist(snap_ms[1:] or snap_ms, 1),  # the first run warms the cache
            "snapshot_cold_ms": round(snap_ms[0], 1),
            "first_paint_s": spread([p["first_paint_s"] for p in paints], 3),
            "process_first_paint_s": spread([p["process_first_paint_s"] for p in paints], 3),
            "snapshot_applied_s": spread([p["snapshot_applied_s"] for p in paints], 3),
            "rss_mb": spread([p["ready_rss_mb"] for p in paints], 1),
            "tree_nodes": paints[-1]["tree_nodes"],
            "graph_workflows": paints[-1]["graph_workflows"],
            "filter": asyncio.run(_filter_times(url)),
        }
        out["sizes"][str(n)] = entry
        log(
            f"scale {n:,}: snapshot {entry['snapshot_ms']['median']} ms, first paint "
            f"{entry['first_paint_s']['median']} s, rss {entry['rss_mb']['median']} MB, "
            f"{entry['tree_nodes']} nodes, filter first key {entry['filter']['first_key_ms']} ms"
        )
        if keep and n in keep:
            out["databases"][str(n)] = db
        else:
            bs.drop_database(db)
    return out
