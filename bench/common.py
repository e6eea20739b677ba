"""Shared pieces: the private Postgres server, fresh databases, statistics, machine facts."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from limbo_tui.pg.databases import create_database, drop_database
from limbo_tui.pg.embedded import EmbeddedServer

REPO = Path(__file__).resolve().parent.parent
DBOS_TEMPLATE = "bench_dbos_template"
SCHEMA = "dbos"


def shared_tmp(prefix: str) -> Path:
    """A temp dir the server's own user can enter (as root it runs unprivileged)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def log(msg: str) -> None:
    """Progress on stderr, so that stdout stays for the figures."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class BenchServer:
    """The private server every benchmark uses, with a DBOS template database."""

    base: Path
    server: EmbeddedServer = field(init=False)
    _counter: int = 0

    def __post_init__(self) -> None:
        self.server = EmbeddedServer(self.base / "pg")

    def start(self) -> None:
        self.server.ensure_running()
        with psycopg.connect(self.server.url("postgres"), autocommit=True) as conn:
            # Statement logging is switched on per database by idle_load; its lines must
            # name the database they belong to.
            conn.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d app=%a '")
            conn.execute("SELECT pg_reload_conf()")
        self._create_dbos_template()

    def stop(self) -> None:
        self.server.stop()

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def url(self, database: str) -> str:
        return self.server.url(database)

    def _create_dbos_template(self) -> None:
        """DBOS's own migrations, once (limbo-tui's own builder); every benchmark
        database is a copy."""
        from limbo_tui.database import prepare_dbos_schema

        prepare_dbos_schema(self.server.ensure_database(DBOS_TEMPLATE), SCHEMA)

    def fresh_database(self, prefix: str, template: str = DBOS_TEMPLATE) -> str:
        """A new database copied from `template`; returns its name."""
        self._counter += 1
        name = f"{prefix}_{self._counter}"
        create_database(self.url("postgres"), name, template=template, replace=True)
        return name

    def drop_database(self, name: str) -> None:
        drop_database(self.url("postgres"), name)


@contextlib.contextmanager
def bench_server() -> Iterator[BenchServer]:
    base = shared_tmp("limbo-tui-bench-")
    bs = BenchServer(base)
    try:
        bs.start()
        yield bs
    finally:
        bs.stop()
        shutil.rmtree(base, ignore_errors=True)


def set_triggers(url: str, on: bool) -> None:
    """Install or remove limbo-tui's NOTIFY triggers (limbo_tui.pg.triggers) on `url`."""
    import asyncio

    import asyncpg

    from limbo_tui.pg import triggers
    from limbo_tui.urls import asyncpg_dsn

    async def go() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0)
        try:
            if on:
                await triggers.install(conn, SCHEMA)
            else:
                await triggers.uninstall(conn, SCHEMA)
        finally:
            await conn.close()

    asyncio.run(go())


# -- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def dist(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """median / p99 / min / max of one sample set."""
    if not values:
        return {"n": 0, "median": None, "p99": None, "min": None, "max": None}
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p99": round(percentile(values, 99), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def spread(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """How one figure moved over repeated runs: median of the runs, min and max."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"runs": 0, "median": None, "min": None, "max": None}
    return {
        "runs": len(vals),
        "median": round(statistics.median(vals), digits),
        "min": round(min(vals), digits),
        "max": round(max(vals), digits),
    }


# -- child processes ----------------------------------------------------------------------


def child_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.child", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # A child's own figures must not be skewed by a debugger or coverage hook.
    env.pop("COVERAGE_PROCESS_START", None)
    return env


def run_child(args: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run `python -m bench.child ARGS`, return the JSON it prints last on stdout."""
    proc = subprocess.run(
        child_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=child_env(),
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"bench child {args[0]} failed ({proc.returncode}):\n{tail}")
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"bench child {args[0]} printed no result:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within timeout; always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    import dbos  # noqa: F401  (version below)
    import textual

    from limbo_tui.pg.binaries import find_binaries

    def version(pkg: str) -> str:
        from importlib.metadata import version as v

        try:
            return v(pkg)
        except Exception:
            return "?"

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "postgres": find_binaries().version,
        "dbos": version("dbos"),
        "textual": textual.__version__ if hasattr(textual, "__version__") else version("textual"),
        "asyncpg": version("asyncpg"),
        "git": _git_rev(),
    }


def _git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO, timeout=5
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def rss_mb() -> float:
    """Resident set size of this process now (MB), from /proc."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
