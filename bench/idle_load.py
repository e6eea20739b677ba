"""5. Load while idle: what limbo-tui sends to Postgres, and what the TUI itself costs.

The TUI (`tui_idle`): the real `limbo-tui` on a 200x50 pty over 20,000 unfinished
workflows (live families: PENDING parents and children, ENQUEUED children, none of which
changes), its CPU over an idle stretch as a share of one core, and the share of both cores
the rest of the machine used meanwhile. With LIMBO_BENCH_BASELINE=/path/to/another/tree
(a checkout of an older commit) the same figure is taken for that tree's limbo-tui in
alternating rounds of the same run, so that before/after is a ratio under the same load.
In-process, on the same snapshot: one tick as scheduled (LiveDiagnoses.after_tick) against
the tick that re-diagnosed every PENDING and ENQUEUED workflow each second.

Two limbo-tui processes (LimboApp headless + LiveFeed) watch two copies of the same
database side by side: one LIVE (triggers installed: LISTEN/NOTIFY), one POLLING
(read-only, no triggers: delta polling, a monitor's default). The server logs every
statement of those two databases (log_min_duration_statement = 0, per database), so the
counts and the server time come from Postgres itself; pg_stat_database.xact_commit is the
cross-check.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
from psycopg import sql

from bench.common import REPO, BenchServer, dist, log, set_triggers
from bench.live import Monitor
from bench.real_terminal import TREE_LINE
from bench.synthetic import LIVE_FAMILY_NODES, populate
from bench.terminal import LoadSampler, PtyTerminal, Screen, cpu_seconds, rss_mb, tree_command
from limbo_tui.diagnose import diagnose_ids, ticking_ids
from limbo_tui.live_diagnoses import LiveDiagnoses
from limbo_tui.model import WorkflowGraph
from limbo_tui.pg import queries
from limbo_tui.settings import LimboSettings
from limbo_tui.urls import asyncpg_dsn

# Unfinished workflows of the TUI figure: a live family is a PENDING parent with one
# finished, one PENDING and two ENQUEUED children.
UNFINISHED = 20_000
# --quick (the smoke test): the same path over fewer rows.
UNFINISHED_QUICK = 6_000
BASELINE_ENV = "LIMBO_BENCH_BASELINE"
# One finished workflow the `/` filter must find among them.
NEEDLE = "needle"

_LINE = re.compile(
    r" db=(\S+) app=\S* .*?duration: ([0-9.]+) ms\s+(statement|execute|parse|bind)"
    r"(?: [^:]*)?: ?(.*)"
)
# The LIVE feed's heartbeat (every heartbeat_s, pg/feed.py `_heartbeat`): the NOTIFY
# source's proof (the queue's usage, then a self-addressed NOTIFY that must come back), a
# check that the triggers are still installed, and now and then the server's clock.
HEARTBEAT = (
    "SELECT pg_notification_queue_usage()",
    "SELECT pg_notify(",
    "SELECT c.relname AS table_name",
    "SELECT (extract(epoch FROM clock_timestamp())",
)


def run(bs: BenchServer, quick: bool, source_db: str | None = None) -> dict[str, Any]:
    out = _queries(bs, quick, source_db)
    out["tui"] = tui_idle(bs, quick)
    return out


def _queries(bs: BenchServer, quick: bool, source_db: str | None) -> dict[str, Any]:
    if source_db is None:
        source_db = bs.fresh_database("idle_src")
        populate(
            bs.url(source_db), 2_000 if quick else 100_000, live_nodes=500 if quick else 10_000
        )
    rows = None
    with psycopg.connect(bs.url(source_db)) as conn:
        got = conn.execute("SELECT count(*) FROM dbos.workflow_status").fetchone()
        rows = int(got[0]) if got else None
    seconds = 4.5 if quick else 32.0
    dbs = {mode: bs.fresh_database(f"idle_{mode}", template=source_db) for mode in ("live", "poll")}
    with psycopg.connect(bs.url("postgres"), autocommit=True) as conn:
        for db in dbs.values():
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = 0").format(
                    sql.Identifier(db)
                )
            )
    # Copies inherit the source's triggers: LIVE gets them (again), POLLING must have none.
    set_triggers(bs.url(dbs["live"]), True)
    set_triggers(bs.url(dbs["poll"]), False)
    monitors = {
        "live": Monitor(bs.url(dbs["live"]), base=2**62),
        "poll": Monitor(bs.url(dbs["poll"]), base=2**62, read_only=True),
    }
    for m in monitors.values():
        m.start()
    try:
        time.sleep(1.0)  # past the start-up queries (snapshot, trigger install)
        offset = bs.log_path.stat().st_size
        time.sleep(seconds)
        with open(bs.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    finally:
        states = {mode: m.stop().get("states", []) for mode, m in monitors.items()}
    out: dict[str, Any] = {"seconds": seconds, "workflow_rows": rows, "modes": {}}
    for mode, db in dbs.items():
        stmts = 0
        server_ms = 0.0
        texts: dict[str, int] = {}
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = _LINE.search(line)
            if m is None or m.group(1) != db:
                continue
            server_ms += float(m.group(2))
            if m.group(3) in ("statement", "execute"):
                stmts += 1
                # A multi-line statement starts on the next (unprefixed) log line.
                first = m.group(4).strip() or (lines[i + 1].strip() if i + 1 < len(lines) else "")
                stmt = " ".join(first.split())[:60]
                texts[stmt] = texts.get(stmt, 0) + 1
        out["modes"][mode] = {
            "feed_state": states[mode][-1] if states[mode] else None,
            "statements": stmts,
            "queries_per_s": round(stmts / seconds, 3),
            "server_ms_per_s": round(server_ms / seconds, 3),
            "statement_kinds": texts,
            "only_heartbeat": all(t.startswith(HEARTBEAT) for t in texts),
        }
    live, poll = out["modes"]["live"], out["modes"]["poll"]
    out["poll_over_live_queries"] = (
        round(poll["queries_per_s"] / live["queries_per_s"], 1) if live["queries_per_s"] else None
    )
    log(
        f"idle: live {live['queries_per_s']} q/s ({live['feed_state']}), poll "
        f"{poll['queries_per_s']} q/s ({poll['feed_state']}), server ms/s "
        f"{live['server_ms_per_s']} vs {poll['server_ms_per_s']}"
    )
    for db in dbs.values():
        bs.drop_database(db)
    return out


def _tree_lines(s: Screen) -> list[str]:
    # The tree's column only: not its frame, nor the details pane on the right.
    left = [ln.split("▏", 1)[0] for ln in s.lines[2:-3]]
    return [t.strip() for t in left if TREE_LINE.search(t)]


def _filtered(s: Screen) -> bool:
    lines = _tree_lines(s)
    return bool(lines) and all(NEEDLE in ln for ln in lines)


def _idle_cpu(url: str, tree: Path, seconds: float) -> dict[str, Any]:
    """The idle CPU of the TUI of `tree`, then `/` + the needle typed at once: the time
    from the keys to the tree showing only the match."""
    args = ["--db-url", url, "--worker", "none"]
    with PtyTerminal(args, 200, 50, command=tree_command(tree)) as term:
        if term.wait_for(lambda s: "LIVE" in s.line(0), 120) is None:
            raise RuntimeError(f"the TUI of {tree} never went LIVE")
        time.sleep(3.0)  # past the first paint and the first full diagnosis
        with LoadSampler() as load:
            c0, t0 = cpu_seconds(term.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(term.pid), time.monotonic()
        if _filtered(term.snapshot()):
            raise RuntimeError("the screen looks filtered before the filter was typed")
        c2 = cpu_seconds(term.pid)
        sent = term.send(b"/" + NEEDLE.encode())
        done = term.wait_for(_filtered, 60)
        c3 = cpu_seconds(term.pid)
        return {
            "cpu_pct_of_a_core": round(100 * (c1 - c0) / (t1 - t0), 2),
            "rss_mb": rss_mb(term.pid),
            "filter_ms": round((done - sent) / 1e6, 1) if done else None,
            # The TUI's CPU from the keys to the filtered tree (and the idle tick's, ~1%,
            # over that time): a figure the machine's load moves less than the wall's.
            "filter_cpu_ms": round((c3 - c2) * 1000, 1) if done else None,
            "load": load.summary(),
        }


async def _graph(url: str) -> WorkflowGraph:
    conn = await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0)
    try:
        rows = await queries.snapshot(conn, "dbos", 200)
    finally:
        await conn.close()
    g = WorkflowGraph()
    g.replace_all(rows)
    return g


def tick_cost(url: str, ticks: int) -> dict[str, Any]:
    """One tick as scheduled against the old tick (every PENDING and ENQUEUED workflow
    re-diagnosed), alternated on the same graph, a second of clock apart."""
    g = asyncio.run(_graph(url))
    limbo = LimboSettings()
    none = frozenset[str]()
    now = int(time.time() * 1000)
    live = LiveDiagnoses()
    live.redo_all(g, now, limbo, none)
    scheduled: list[float] = []
    every: list[float] = []
    redone: list[int] = []
    for _ in range(ticks):
        now += 1_000
        t0 = time.perf_counter()
        redone.append(len(live.after_tick(g, now, limbo, none)))
        t1 = time.perf_counter()
        diagnose_ids(g, ticking_ids(g), now, limbo, none, live.fleet_index.fleet(g, now, limbo))
        t2 = time.perf_counter()
        scheduled.append((t1 - t0) * 1000)
        every.append((t2 - t1) * 1000)
    sched, old = dist(scheduled, 3), dist(every, 3)
    return {
        "workflows": len(g.workflows),
        "ticking": len(ticking_ids(g)),
        "ticks": ticks,
        "scheduled_ms": sched,
        "every_unfinished_ms": old,
        "changed_per_tick": dist([float(n) for n in redone], 1),
        "old_over_scheduled_median": round(old["median"] / sched["median"], 1)
        if sched["median"]
        else None,
    }


def tui_idle(bs: BenchServer, quick: bool) -> dict[str, Any]:
    db = bs.fresh_database("idle_tui")
    url = bs.url(db)
    families = (UNFINISHED_QUICK if quick else UNFINISHED) // (LIVE_FAMILY_NODES - 1)
    populate(url, families * LIVE_FAMILY_NODES, live_nodes=families * LIVE_FAMILY_NODES)
    with psycopg.connect(url, autocommit=True) as conn:
        now = int(time.time() * 1000)
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('needle-0001', 'SUCCESS', 'needle_workflow', %s, %s)",
            (now - 60_000, now - 60_000),
        )
    set_triggers(url, True)  # LIVE: nothing but the heartbeat reaches the TUI
    with psycopg.connect(url) as conn:
        got = conn.execute(
            "SELECT count(*) FROM dbos.workflow_status WHERE status IN ('PENDING', 'ENQUEUED')"
        ).fetchone()
    trees = {"this": REPO}
    baseline = os.environ.get(BASELINE_ENV)
    if baseline:
        trees["baseline"] = Path(baseline).resolve()
    seconds = 5.0 if quick else 20.0
    rounds = 1 if quick else 2
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            runs[name].append(_idle_cpu(url, tree, seconds))
    out: dict[str, Any] = {
        "unfinished": int(got[0]) if got else None,
        "seconds": seconds,
        "rounds": runs,
        "tick": tick_cost(url, 10 if quick else 30),
    }
    for name, got_runs in runs.items():
        out[f"{name}_cpu_pct"] = dist([r["cpu_pct_of_a_core"] for r in got_runs], 2)
        out[f"{name}_filter_ms"] = dist([r["filter_ms"] for r in got_runs if r["filter_ms"]], 1)
        cpu = [r["filter_cpu_ms"] for r in got_runs if r["filter_cpu_ms"] is not None]
        out[f"{name}_filter_cpu_ms"] = dist(cpu, 1)
    if "baseline" in runs:
        this, base = out["this_cpu_pct"]["median"], out["baseline_cpu_pct"]["median"]
        out["baseline_over_this"] = round(base / this, 1) if this else None
        this, base = out["this_filter_ms"]["median"], out["baseline_filter_ms"]["median"]
        out["baseline_over_this_filter"] = round(base / this, 1) if this and base else None
    log(f"idle TUI, {out['unfinished']} unfinished: {out}")
    bs.drop_database(db)
    return out
