"""5. Load while idle: what limbo-tui sends to Postgres when nothing changes.

Two limbo-tui processes (LimboApp headless + LiveFeed) watch two copies of the same
database side by side: one LIVE (triggers installed: LISTEN/NOTIFY), one POLLING
(read-only, no triggers: delta polling, a monitor's default). The server logs every
statement of those two databases (log_min_duration_statement = 0, per database), so the
counts and the server time come from Postgres itself; pg_stat_database.xact_commit is the
cross-check.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
from psycopg import sql

from bench.common import BenchServer, log, set_triggers
from bench.live import Monitor
from bench.synthetic import populate

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
