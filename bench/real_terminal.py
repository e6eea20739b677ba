"""7. limbo-tui as a user meets it: the real command on a real terminal, against writers that
commit like DBOS, beside a floor listener (issue #16).

Latency: writer processes (bench.commit_writer) commit ONE ROW PER TRANSACTION, stamped
before sending: single-row status updates at each rate, and DBOS-shaped workflows (status
insert, a row per step, status update). Three readers watch the same database at once, each
in its own process:
  - floor:  a bare asyncpg LISTEN client on limbo-tui's triggers (bench.floor_listener), at
            limbo-tui's CPU priority (a monitor lowers its own by `[feed] nice`);
  - watch:  `limbo-tui watch --json`, each line stamped when its reader thread gets it;
  - screen: `limbo-tui --worker none` on a pseudo-terminal of 200x50, its output replayed
    into a terminal emulator (pyte); a change is on screen when its `rec N/?` (the
    change's sequence number) or its SUCCESS can be read on its line.
Every latency is stated with the floor's of the same run and the ratio to it, and with
the machine's load while it was taken (other work shares these cores).

Focused runs, e.g. only the latency plans, beside a checkout of main as the baseline, with
the TUI and `watch` processes profiled by py-spy (a tool of a scratch venv, not a dependency):

    uv run python -m bench.real_terminal --only latency [--base ../main-checkout]
        [--plans update:100:2,update:1000:8] [--seconds 8] [--profile DIR --py-spy PATH]

With --base every reader but the floor runs twice, once per checkout, in the same session
against the same writers; the baseline's figures are under "base" beside this one's
(`--base . --base-nice 0`: this tree twice, the second at another CPU priority).
`--data-dir DIR` runs only the backlog figures on a server kept in DIR (backlog_main);
`--only startup [--runs N] [--baseline TREE]` the start to the first frame (startup_main).

Also on the real terminal: warm start to the first frame and to LIVE (`--worker none`),
the idle TUI's CPU, and a large backlog (finished history + an ENQUEUED backlog): first
paint from exec with the true totals on screen, memory, idle CPU, and `/` filter: time from
the keys to the filtered tree, with the typed text checked whole (no key lost).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from bench.commit_writer import HOT_NAME, dbos_id, hot_id
from bench.common import (
    REPO,
    BenchServer,
    bench_server,
    child_env,
    dist,
    log,
    set_triggers,
    stop_process,
)
from bench.synthetic import populate
from bench.terminal import LoadSampler, PtyTerminal, Screen, cpu_seconds, rss_mb, tree_command
from limbo_tui.model import short_id
from limbo_tui.settings import FeedSettings

COLUMNS, ROWS = 200, 50
# Hot rows on screen; a multiple of every writer count so that one row is always written
# by the same process (its changes then commit in sequence order).
HOT_ROWS = 32
# The line's dispatch counter (recovery_attempts): `disp N/?` (once `rec N/?`).
REC = re.compile(r"\b(h\d{7})\b.*?\b(?:disp|rec) (\d+)/")
DONE = re.compile(r"\bSUCCESS\b.*?\b(d\d{7})\b")
ENQUEUED_TOTAL = re.compile(r"([\d,]+) ENQUEUED")
TREE_LINE = re.compile(r"\b(?:disp|rec) \d+/|\bon queue\b")


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _limbo(*args: str) -> list[str]:
    return _python("limbo_tui", *args)


@dataclass(frozen=True)
class Checkout:
    """Where a reader's limbo-tui comes from: this tree, or a baseline's (its own venv)."""

    label: str
    repo: Path
    # Its readers' CPU priority when not the run's (e.g. the same tree at nice 0 beside
    # the default's 10: what the priority alone does to the latency).
    nice: int | None = None

    @property
    def python(self) -> str:
        if self.repo == REPO:
            return sys.executable
        return str(self.repo / ".venv" / "bin" / "python")

    def env(self) -> dict[str, str]:
        env = child_env()
        if self.repo != REPO:
            rest = env.get("PYTHONPATH", "").split(os.pathsep)
            env["PYTHONPATH"] = os.pathsep.join([str(self.repo), *rest[1:]])
        return env

    def limbo(self, *args: str) -> list[str]:
        return [self.python, "-m", "limbo_tui", *args]


THIS = Checkout("this", REPO)


# -- the database ---------------------------------------------------------------------------


def prepare_latency_db(bs: BenchServer, background: int) -> str:
    url = bs.url(bs.fresh_database("realterm"))
    populate(url, background)
    now = int(time.time() * 1000)
    with psycopg.connect(url, autocommit=True) as conn:
        # Newest roots, so that they are the top lines of the tree.
        for i in range(HOT_ROWS):
            created = now + 3_600_000 + i
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
                "created_at, updated_at, recovery_attempts) "
                "VALUES (%s, 'ENQUEUED', %s, 'hot', %s, %s, 0)",
                (hot_id(i), HOT_NAME, created, created),
            )
    set_triggers(url, True)
    return url


# -- readers --------------------------------------------------------------------------------


class Floor:
    def __init__(self, url: str, nice: int) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="limbo-bench-floor-"))
        args = ["--url", url, "--ready", str(self.work / "ready"), "--stop"]
        args += [str(self.work / "stop"), "--out", str(self.work / "out.json")]
        args += ["--nice", str(nice)]
        self.proc = subprocess.Popen(
            _python("bench.floor_listener", *args),
            cwd=REPO,
            env=child_env(),
        )
        deadline = time.monotonic() + 30
        while not (self.work / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop_process(self.proc)
                shutil.rmtree(self.work, ignore_errors=True)
                raise RuntimeError("the floor listener did not start")
            time.sleep(0.02)

    def stop(self) -> list[tuple[str, str, int]]:
        try:
            (self.work / "stop").write_text("stop")
            self.proc.wait(30)
            events = json.loads((self.work / "out.json").read_text())["events"]
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        return [tuple(e) for e in events]


class Watch:
    """`limbo-tui watch --json`: first time each change's line was read. The reader thread
    only stamps and keeps each line (parsed after the run: no JSON decoding in the
    measuring process while it measures)."""

    def __init__(self, url: str, checkout: Checkout = THIS, config: Path | None = None) -> None:
        self.seen: dict[int, int] = {}
        self.done: dict[str, int] = {}
        self.live = threading.Event()
        self._lines: list[tuple[int, bytes]] = []
        args = ["watch", "--json", "--db-url", url, "--worker", "none"]
        args += ["--config", str(config)] if config is not None else []
        self.proc = subprocess.Popen(
            checkout.limbo(*args),
            cwd=checkout.repo,
            env=checkout.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self.live.wait(60):
            raise RuntimeError("watch --json never said LIVE")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            t = time.monotonic_ns()
            if not self.live.is_set():
                with contextlib.suppress(ValueError):
                    obj = json.loads(raw)
                    if obj.get("type") == "feed" and obj.get("state") == "LIVE":
                        self.live.set()
            self._lines.append((t, raw))

    def stop(self) -> None:
        stop_process(self.proc)
        self._thread.join(10)
        for t, raw in self._lines:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            wf = obj.get("workflow") if obj.get("type") == "workflow" else None
            if not wf:
                continue
            wid = wf.get("id") or ""
            if wid.startswith("h"):
                self.seen.setdefault(int(wf.get("recovery_attempts") or 0), t)
            elif wid.startswith("d") and wf.get("status") == "SUCCESS":
                self.done.setdefault(wid, t)


@dataclass
class ScreenLog:
    """First time (monotonic ns of the pty read) each change could be read on screen."""

    seen: dict[int, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)

    def on_frame(self, t: int, screen: Screen) -> None:
        for line in screen.lines:
            m = REC.search(line)
            if m:
                self.seen.setdefault(int(m.group(2)), t)
                continue
            d = DONE.search(line)
            if d:
                self.done.setdefault(d.group(1), t)


def _tui(url: str, checkout: Checkout = THIS, config: Path | None = None) -> PtyTerminal:
    extra = ["--config", str(config)] if config is not None else []
    return PtyTerminal(
        ["--db-url", url, "--worker", "none", *extra],
        COLUMNS,
        ROWS,
        env={"PYTHONPATH": checkout.env()["PYTHONPATH"]},
        command=[checkout.python, "-m", "limbo_tui"],
        cwd=checkout.repo,
    )


def _all_hot_visible(screen: Screen) -> bool:
    return sum(1 for line in screen.lines if REC.search(line)) >= HOT_ROWS and "LIVE" in (
        screen.line(0)
    )


# -- writers --------------------------------------------------------------------------------


def write(
    url: str, mode: str, rate: float, seconds: float, workers: int, seq0: int
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="limbo-bench-writers-"))
    procs = []
    sends: dict[int, int] = {}
    achieved = 0.0
    try:
        for k in range(workers):
            args = ["--url", url, "--mode", mode, "--rate", str(rate)]
            args += ["--seconds", str(seconds), "--rows", str(HOT_ROWS), "--seq0", str(seq0)]
            args += ["--worker", str(k), "--workers", str(workers)]
            args += ["--out", str(work / f"w{k}.json")]
            procs.append(
                subprocess.Popen(_python("bench.commit_writer", *args), cwd=REPO, env=child_env())
            )
        for p in procs:
            p.wait(seconds + 120)
        for k in range(workers):
            data = json.loads((work / f"w{k}.json").read_text())
            sends.update({int(s): int(t) for s, t in data["sends"]})
            achieved += data["achieved_per_s"]
    finally:
        for p in procs:
            stop_process(p)
        shutil.rmtree(work, ignore_errors=True)
    return {"sends": sends, "achieved_per_s": round(achieved, 1)}


# -- matching -------------------------------------------------------------------------------


def floor_times(
    mode: str, sends: dict[int, int], events: list[tuple[str, str, int]]
) -> dict[int, int]:
    """seq -> when the floor got its notification. Single-row updates: the n-th
    notification of a row is that row's n-th change (one writer per row, in order)."""
    out: dict[int, int] = {}
    if mode == "dbos":
        by_id = {dbos_id(s): s for s in sends}
        for wid, status, t in events:
            if status == "SUCCESS" and wid in by_id:
                out.setdefault(by_id[wid], t)
        return out
    per_row: dict[str, list[int]] = {}
    for s in sorted(sends):
        per_row.setdefault(hot_id(s % HOT_ROWS), []).append(s)
    cursor: dict[str, int] = {}
    for wid, _status, t in events:
        seqs = per_row.get(wid)
        if not seqs:
            continue
        i = cursor.get(wid, 0)
        if i < len(seqs):
            out[seqs[i]] = t
            cursor[wid] = i + 1
    return out


def latencies(sends: dict[int, int], seen: dict[int, int]) -> list[float]:
    return [(seen[s] - t) / 1e6 for s, t in sends.items() if s in seen]


def _ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 1) if a is not None and b else None


# -- figures --------------------------------------------------------------------------------


@dataclass
class Profiler:
    """py-spy sampling a reader's process for one phase (--nonblocking: the process is
    never stopped to be read), written as collapsed stacks DIR/<label>-<what>-<phase>.txt."""

    py_spy: str
    out: Path
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, pid: int, name: str, seconds: float) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        args = [self.py_spy, "record", "--pid", str(pid), "--nonblocking", "--format", "raw"]
        args += ["--duration", str(max(1, round(seconds))), "-o", str(self.out / f"{name}.txt")]
        self._procs.append(
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def wait(self) -> None:
        for proc in self._procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                stop_process(proc)
        self._procs.clear()


def _phase_name(mode: str, rate: float) -> str:
    return f"{mode}{rate:g}"


def _figures(
    mode: str,
    sends: dict[int, int],
    events: list[tuple[str, str, int]],
    floor_update: dict[int, int],
    watch: Watch,
    screen: ScreenLog,
) -> dict[str, Any]:
    if mode == "dbos":
        by_id = {dbos_id(s): s for s in sends}
        # The screen shows each id's short form.
        by_short = {short_id(k): s for k, s in by_id.items()}
        watch_seen = {by_id[k]: t for k, t in watch.done.items() if k in by_id}
        screen_seen = {by_short[k]: t for k, t in screen.done.items() if k in by_short}
        floor_seen = floor_times("dbos", sends, events)
    else:
        watch_seen, screen_seen, floor_seen = watch.seen, screen.seen, floor_update
    f, wa, sc = (
        dist(latencies(sends, floor_seen)),
        dist(latencies(sends, watch_seen)),
        dist(latencies(sends, screen_seen)),
    )
    return {
        "floor_ms": f,
        "watch_ms": wa,
        "screen_ms": sc,
        "watch_p99_over_floor": _ratio(wa["p99"], f["p99"]),
        "screen_p99_over_floor": _ratio(sc["p99"], f["p99"]),
        # Changes a later change of the same row replaced before the screen showed
        # it (a frame shows the newest state): not lost, never visible.
        "screen_not_seen": len(sends) - sc["n"],
        "watch_not_seen": len(sends) - wa["n"],
    }


@dataclass
class _CpuSpent:
    """CPU seconds of each checkout's TUI and `watch` processes (user + system): what a
    reader costs does not depend on the machine's load as its latency does."""

    tui: list[float]
    watch: list[float]

    def __sub__(self, other: _CpuSpent) -> _CpuSpent:
        return _CpuSpent(
            [a - b for a, b in zip(self.tui, other.tui, strict=True)],
            [a - b for a, b in zip(self.watch, other.watch, strict=True)],
        )

    def figures(self, k: int, changes: int, span: tuple[int, int]) -> dict[str, Any]:
        secs = (span[1] - span[0]) / 1e9
        out: dict[str, Any] = {}
        for what, spent in (("tui", self.tui[k]), ("watch", self.watch[k])):
            out[f"{what}_cpu_pct_of_a_core"] = round(100 * spent / secs, 1)
            out[f"{what}_cpu_ms_per_change"] = round(1000 * spent / changes, 2) if changes else None
        return out


def _reader_cpu(terms: list[PtyTerminal], watches: list[Watch]) -> _CpuSpent:
    return _CpuSpent(
        [cpu_seconds(t.pid) for t in terms], [cpu_seconds(w.proc.pid) for w in watches]
    )


def _pty_output(reads: list[tuple[int, int]], span: tuple[int, int]) -> dict[str, Any]:
    """What the TUI wrote to its terminal during a phase: reads of the pty a second and
    bytes a second (a frame is one or a few reads)."""
    t0, t1 = span
    sizes = [n for t, n in reads if t0 <= t < t1]
    secs = (t1 - t0) / 1e9
    return {
        "pty_reads_per_s": round(len(sizes) / secs, 1),
        "pty_kb_per_s": round(sum(sizes) / secs / 1024, 1),
    }


def latency_runs(
    url: str,
    plans: list[tuple[str, float, int]],
    seconds: float,
    checkouts: tuple[Checkout, ...] = (THIS,),
    profiler: Profiler | None = None,
    nice: int | None = None,
) -> list[dict[str, Any]]:
    """One session of the readers (the floor, and a `watch` and a TUI per checkout), the
    plans' writers one after the other. The first checkout's figures are the run's; the
    others' are beside them under their label.

    nice: the CPU priority limbo-tui runs at (None: its default `[feed] nice`, which a
    monitor applies to itself); the floor always runs at the same one."""
    configs = Path(tempfile.mkdtemp(prefix="limbo-bench-nice-"))

    def config(c: Checkout) -> Path | None:
        n = nice if c.nice is None else c.nice
        if n is None:
            return None
        path = configs / f"nice{n}.toml"
        path.write_text(f"[feed]\nnice = {n}\n")
        return path

    floor = Floor(url, FeedSettings().nice if nice is None else nice)
    watches = [Watch(url, c, config(c)) for c in checkouts]
    screens = [ScreenLog() for _ in checkouts]
    phases: list[tuple[str, float, int, dict[str, Any], dict[str, Any]]] = []
    spans: list[tuple[int, int]] = []
    cpu: list[_CpuSpent] = []
    seq0 = 1
    try:
        with contextlib.ExitStack() as stack:
            terms = [stack.enter_context(_tui(url, c, config(c))) for c in checkouts]
            for term in terms:
                if term.wait_for(_all_hot_visible, 90) is None:
                    raise RuntimeError(
                        f"the TUI never showed the hot rows:\n{term.snapshot().text}"
                    )
            time.sleep(2.0)  # the readers' start-up work is done before the first phase
            for term in terms:
                term.record()
            for mode, rate, workers in plans:
                if profiler is not None:
                    for c, term, reader in zip(checkouts, terms, watches, strict=True):
                        name = _phase_name(mode, rate)
                        profiler.start(term.pid, f"{c.label}-tui-{name}", seconds)
                        profiler.start(reader.proc.pid, f"{c.label}-watch-{name}", seconds)
                with LoadSampler() as load:
                    t0 = time.monotonic_ns()
                    cpu0 = _reader_cpu(terms, watches)
                    w = write(url, mode, rate, seconds, workers, seq0)
                    time.sleep(1.5)  # the last changes land
                    cpu.append(_reader_cpu(terms, watches) - cpu0)
                    spans.append((t0, time.monotonic_ns()))
                if profiler is not None:
                    profiler.wait()
                phases.append((mode, rate, workers, w, load.summary()))
                seq0 += int(rate * seconds) + 1000
            for term, screen in zip(terms, screens, strict=True):
                term.replay(screen.on_frame)
    finally:
        for watch in watches:
            watch.stop()
        events = floor.stop()
        shutil.rmtree(configs, ignore_errors=True)
    all_updates = {
        s: t for m, _r, _k, w, _l in phases if m == "update" for s, t in w["sends"].items()
    }
    floor_update = floor_times("update", all_updates, events)
    out = []
    for (mode, rate, workers, w, load_seen), span, spent in zip(phases, spans, cpu, strict=True):
        sends = w["sends"]
        figures = [
            {
                **_figures(mode, sends, events, floor_update, watch, screen),
                **_pty_output(term.replayed, span),
                **spent.figures(k, len(sends), span),
            }
            for k, (watch, screen, term) in enumerate(zip(watches, screens, terms, strict=True))
        ]
        run = {
            "mode": mode,
            "target_per_s": rate,
            "writers": workers,
            "seconds": seconds,
            "achieved_per_s": w["achieved_per_s"],
            "changes": len(sends),
            **figures[0],
            "load": load_seen,
        }
        for c, fig in zip(checkouts[1:], figures[1:], strict=True):
            run[c.label] = fig
        for c, fig in zip(checkouts, figures, strict=True):
            f, wa, sc = fig["floor_ms"], fig["watch_ms"], fig["screen_ms"]
            log(
                f"real terminal [{c.label}] {mode} {rate:g}/s ({w['achieved_per_s']}/s by "
                f"{workers}): CPU per change tui {fig['tui_cpu_ms_per_change']} ms, watch "
                f"{fig['watch_cpu_ms_per_change']} ms; floor p99 {f['p99']} ms, watch p50 "
                f"{wa['median']} p99 {wa['p99']} ms, screen p50 {sc['median']} p99 "
                f"{sc['p99']} ms; load {load_seen}"
            )
        out.append(run)
    return out


def idle_cpu(url: str, seconds: float) -> dict[str, Any]:
    with _tui(url) as term:
        if term.wait_for(lambda s: "LIVE" in s.line(0), 90) is None:
            raise RuntimeError("the TUI never went LIVE")
        time.sleep(2.0)
        with LoadSampler() as load:
            c0, t0 = cpu_seconds(term.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(term.pid), time.monotonic()
        return {
            "seconds": seconds,
            "cpu_pct_of_a_core": round(100 * (c1 - c0) / (t1 - t0), 2),
            "rss_mb": rss_mb(term.pid),
            "load": load.summary(),
        }


def startup(url: str, runs: int) -> dict[str, Any]:
    first: list[float] = []
    live: list[float] = []
    with LoadSampler() as load:
        for i in range(runs + 1):
            ff, _, lv = _start_once(url, REPO)
            if i == 0:
                continue  # the warm-up: the server's caches, the OS's page cache
            if ff is not None:
                first.append(ff)
            if lv is not None:
                live.append(lv)
    return {
        "runs": runs,
        "first_frame_s": dist(first, 3),
        "live_s": dist(live, 3),
        "load": load.summary(),
    }


def _start_once(
    url: str, tree: Path, command: list[str] | None = None
) -> tuple[float | None, float | None, float | None]:
    """Seconds from exec to the header's first line naming the worker (the first frame),
    the process's CPU seconds by then (read as the frame is seen: a figure the machine's
    load changes less), and seconds to the feed LIVE, of `tree`'s `limbo-tui --worker
    none` (or of `command`)."""
    with PtyTerminal(
        ["--db-url", url, "--worker", "none"],
        COLUMNS,
        ROWS,
        command=command or tree_command(tree),
    ) as term:
        ff = term.wait_for(lambda s: " worker " in f" {s.line(0)} ", 60)
        cpu = cpu_seconds(term.pid) if ff is not None else None
        lv = term.wait_for(lambda s: "LIVE" in s.line(0), 60)
        since = term.spawned_ns
        return (
            None if ff is None else (ff - since) / 1e9,
            cpu,
            None if lv is None else (lv - since) / 1e9,
        )


def _drop_byte_code(tree: Path) -> None:
    """The tree's own modules as a fresh checkout or an upgrade leaves them: not compiled."""
    for cache in (tree / "limbo_tui").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def startup_side_by_side(url: str, trees: dict[str, Path], runs: int) -> dict[str, Any]:
    """Cold (the tree's modules not byte-compiled: the first start after a checkout or an
    upgrade) then warm (the same command again), each tree in turn within a round, so
    that every tree meets the same load; one warm-up start first."""
    _start_once(url, REPO)
    kinds = ("cold", "warm")
    samples: dict[str, dict[str, list[float]]] = {
        name: {f"{kind}{what}": [] for kind in kinds for what in ("", "_cpu", "_live")}
        for name in trees
    }
    with LoadSampler() as load:
        for _ in range(runs):
            for name, tree in trees.items():
                _drop_byte_code(tree)
                for kind in kinds:
                    for what, value in zip(
                        ("", "_cpu", "_live"), _start_once(url, tree), strict=True
                    ):
                        if value is not None:
                            samples[name][f"{kind}{what}"].append(value)
    out: dict[str, Any] = {"runs": runs, "load": load.summary()}
    for name, got in samples.items():
        out[name] = {kind: dist(values, 3) for kind, values in got.items()}
    log(f"startup side by side: {json.dumps(out)}")
    return out


def launchers(url: str, runs: int) -> dict[str, Any]:
    """The warm start to the first frame as a user types it: the installed command, `uv
    run limbo-tui` (which syncs the environment first, and with compile-bytecode checks
    every installed module), and `uv run --no-sync limbo-tui`, in turn within a round;
    beside them the floor, a Textual app that shows only such a header line."""
    bin_dir = Path(sys.executable).parent
    commands = {
        "textual floor": [sys.executable, "-m", "bench.textual_floor"],
        "installed": [str(bin_dir / "limbo-tui")],
        "uv run": ["uv", "run", "--project", str(REPO), "limbo-tui"],
        "uv run --no-sync": ["uv", "run", "--no-sync", "--project", str(REPO), "limbo-tui"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    _start_once(url, REPO, commands["installed"])
    with LoadSampler() as load:
        for _ in range(runs):
            for name, command in commands.items():
                first, _, _ = _start_once(url, REPO, command)
                if first is not None:
                    samples[name].append(first)
    out: dict[str, Any] = {"runs": runs, "load": load.summary()}
    out |= {name: dist(values, 3) for name, values in samples.items()}
    log(f"launchers: {json.dumps(out)}")
    return out


def prepare_backlog_db(bs: BenchServer, finished: int, enqueued: int) -> tuple[str, dict]:
    url = bs.url(bs.fresh_database("backlog"))
    data = populate(url, finished, live_nodes=min(10_000, finished // 10), progress=log)
    now = int(time.time() * 1000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
            "created_at, updated_at, executor_id, application_version) "
            "SELECT 'bl' || lpad(i::text, 7, '0') || '-backlog', 'ENQUEUED', 'bulk_job', "
            "'bulk', %s - i, %s - i, NULL, 'synthetic-v1' FROM generate_series(1, %s) AS i",
            (now, now, enqueued),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, "
            "updated_at) VALUES ('needle-0001', 'SUCCESS', 'needle_workflow', %s, %s)",
            # Recent, so that the snapshot loads it: the filter searches what is loaded.
            (now - 60_000, now - 60_000),
        )
        conn.execute("VACUUM ANALYZE dbos.workflow_status")
    set_triggers(url, True)
    data["enqueued_backlog"] = enqueued
    return url, data


def cached_backlog_db(bs: BenchServer, finished: int, enqueued: int) -> tuple[str, dict]:
    """prepare_backlog_db's database, built once per server and kept (its name says its
    size): the focused runner below reuses it between runs, since building 1.5M rows takes
    minutes and the figures are taken on the same rows each time."""
    name = f"backlog_cache_{finished}_{enqueued}"
    with psycopg.connect(bs.url("postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if found is not None:
        return bs.url(name), {"cached": name}
    url, data = prepare_backlog_db(bs, finished, enqueued)
    built = unquote(urlsplit(url).path.lstrip("/"))
    with psycopg.connect(bs.url("postgres"), autocommit=True) as conn:
        # Renamed only once complete: an interrupted build is never taken for the cache.
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(built), sql.Identifier(name)
            )
        )
    return bs.url(name), data


def backlog_figures(
    url: str, enqueued: int, idle_s: float, command: list[str] | None = None
) -> dict[str, Any]:
    """First paint with the true totals, idle CPU, memory and the `/` filter of one TUI
    (`command`: another tree's, for a baseline; by default this one's)."""
    out: dict[str, Any] = {"enqueued": enqueued}

    def totals_shown(s: Screen) -> bool:
        m = ENQUEUED_TOTAL.search(s.line(0))
        return (
            "LIVE" in s.line(0) and m is not None and int(m.group(1).replace(",", "")) >= (enqueued)
        )

    args = ["--db-url", url, "--worker", "none"]
    with LoadSampler() as load, PtyTerminal(args, COLUMNS, ROWS, command=command) as term:
        painted = term.wait_for(totals_shown, 120)
        out["first_paint_s"] = round((painted - term.spawned_ns) / 1e9, 2) if painted else None
        out["totals_on_screen"] = painted is not None
        out["header"] = term.snapshot().line(0).strip()
        time.sleep(2.0)
        c0, t0 = cpu_seconds(term.pid), time.monotonic()
        time.sleep(idle_s)
        c1, t1 = cpu_seconds(term.pid), time.monotonic()
        out["idle_cpu_pct_of_a_core"] = round(100 * (c1 - c0) / (t1 - t0), 2)
        out["rss_mb"] = rss_mb(term.pid)
        # `/` then the text at once, as a fast typist would: every key must arrive.
        needle = "needle"

        def tree_lines(s: Screen) -> list[str]:
            # The tree's lines (a workflow's `rec N/`, a backlog's `on queue`), in the tree's
            # column only: not its frame, nor the details pane on the right.
            left = [ln.split("▏", 1)[0] for ln in s.lines[2:-3]]
            return [t.strip() for t in left if TREE_LINE.search(t)]

        def filtered(s: Screen) -> bool:
            # Only the match is left (a summarized backlog line would not name it).
            lines = tree_lines(s)
            return (
                bool(lines)
                and all(needle in ln for ln in lines)
                and any("needle_workflow" in ln for ln in lines)
            )

        if filtered(term.snapshot()):
            raise RuntimeError("the screen looks filtered before the filter was typed")
        sent = term.send(b"/" + needle.encode())
        done = term.wait_for(filtered, 60)
        out["filter_ms"] = round((done - sent) / 1e6, 1) if done else None
        if done is None:
            out["filter_tree_after_60_s"] = tree_lines(term.snapshot())[:8]
        # Every typed key reached the filter line (none was taken as a command).
        whole = term.wait_for(lambda s: any(needle in ln for ln in s.lines[-5:]), 10)
        out["filter_text_whole"] = whole is not None
    out["load"] = load.summary()
    log(f"backlog {enqueued:,}: {out}")
    return out


def run(bs: BenchServer, quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    url = prepare_latency_db(bs, 500 if quick else 2_000)
    seconds = 1.5 if quick else 8.0
    # Writer processes per rate: a durable single-row commit takes one process several ms
    # on a busy machine, so higher rates are shared (the achieved rate is reported).
    plans = [("update", 100.0, 2), ("update", 1000.0, 8), ("dbos", 50.0, 2)]
    if not quick:
        plans.insert(0, ("update", 5.0, 1))
    results["latency"] = latency_runs(url, plans, seconds)
    results["idle"] = idle_cpu(url, 3.0 if quick else 15.0)
    results["startup_warm"] = startup(url, 1 if quick else 5)
    # Quick: just past one snapshot's MAX_LIVE, so that the backlog is partly loaded.
    finished, enqueued = (2_000, 21_000) if quick else (1_000_000, 500_000)
    with contextlib.suppress(Exception):
        bs.drop_database(url.rsplit("/", 1)[-1].split("?")[0])
    big, data = prepare_backlog_db(bs, finished, enqueued)
    results["backlog_database"] = data
    results["backlog"] = backlog_figures(big, enqueued, 3.0 if quick else 15.0)
    return results


def backlog_main(argv: list[str] | None = None) -> int:
    """`python -m bench.real_terminal --data-dir DIR`: only the backlog figures, on a
    server kept in DIR whose backlog database is built at the first run and reused."""
    import os
    import statistics

    from bench.idle_load import BASELINE_ENV

    p = argparse.ArgumentParser(prog="python -m bench.real_terminal", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="the kept server's directory")
    p.add_argument("--finished", type=int, default=1_000_000)
    p.add_argument("--enqueued", type=int, default=500_000)
    p.add_argument("--idle", type=float, default=15.0, help="seconds of idle CPU measured")
    p.add_argument("--rounds", type=int, default=1, help="rounds (alternating with a baseline)")
    p.add_argument(
        "--baseline",
        type=Path,
        default=os.environ.get(BASELINE_ENV),
        help=f"another tree measured in the same run (default ${BASELINE_ENV})",
    )
    p.add_argument("--prepare-only", action="store_true", help="build, print the URL, stop")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    bs = BenchServer(args.data_dir.resolve())
    bs.start()
    try:
        url, data = cached_backlog_db(bs, args.finished, args.enqueued)
        log(f"backlog database: {url} {data}")
        if args.prepare_only:
            print(url)
            return 0
        trees: dict[str, list[str] | None] = {"this": None}
        if args.baseline:
            trees["baseline"] = tree_command(args.baseline.resolve())
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, command in trees.items():
                runs[name].append(backlog_figures(url, args.enqueued, args.idle, command))
        out: dict[str, Any] = {"database": data, "runs": runs}
        for name, got in runs.items():
            for key in ("first_paint_s", "idle_cpu_pct_of_a_core", "rss_mb", "filter_ms"):
                vals = [r[key] for r in got if r.get(key) is not None]
                out[f"{name}_{key}"] = statistics.median(vals) if vals else None
        print(json.dumps(out, indent=1))
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
    finally:
        bs.stop()
    return 0


def startup_main(argv: list[str] | None = None) -> int:
    """`python -m bench.real_terminal --only startup [--runs N] [--baseline TREE]
    [--launchers]`: the
    warm start to the first frame alone, on a private server; prints the figures (JSON)
    and writes nothing else. TREE: a checkout of another commit measured in the same run."""
    p = argparse.ArgumentParser(
        prog="python -m bench.real_terminal", description=startup_main.__doc__
    )
    p.add_argument("--only", choices=("startup",), required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--baseline", type=Path, default=None)
    p.add_argument(
        "--launchers",
        action="store_true",
        help="also: the installed command against `uv run` and `uv run --no-sync`",
    )
    args = p.parse_args(argv)
    trees = {"this": REPO}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    with bench_server() as bs:
        url = prepare_latency_db(bs, 2_000)
        out = startup_side_by_side(url, trees, args.runs)
        if args.launchers:
            out["launchers"] = launchers(url, args.runs)
    print(json.dumps(out, indent=1))
    return 0


# -- a focused run --------------------------------------------------------------------------

PARTS = ("latency", "idle", "backlog")


def _plans(text: str) -> list[tuple[str, float, int]]:
    """`update:100:2,dbos:50:2` -> [(mode, rate, writer processes), ...]."""
    out = []
    for item in text.split(","):
        mode, rate, workers = item.split(":")
        if mode not in ("update", "dbos"):
            raise argparse.ArgumentTypeError(f"{item}: the mode is update or dbos")
        out.append((mode, float(rate), int(workers)))
    return out


def focused_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.real_terminal", description=__doc__)
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--plans", type=_plans, default=None, help="mode:rate:writers,...")
    p.add_argument("--seconds", type=float, default=None, help="seconds of writing per plan")
    p.add_argument("--base", type=Path, default=None, help="a baseline checkout (its .venv)")
    p.add_argument("--base-nice", type=int, default=None, help="the baseline readers' nice")
    p.add_argument("--nice", type=int, default=None, help="limbo-tui's and the floor's nice")
    p.add_argument("--profile", type=Path, default=None, help="py-spy's stacks go here")
    p.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy to run")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    a = p.parse_args(argv)
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    if only - set(PARTS):
        p.error(f"unknown part(s): {', '.join(sorted(only - set(PARTS)))}")
    if a.base is not None and not (a.base / ".venv" / "bin" / "python").exists():
        p.error(f"--base {a.base}: no .venv/bin/python there (run `uv sync` in it)")
    if a.profile is not None and not a.py_spy:
        p.error("--profile needs py-spy: --py-spy PATH (e.g. from a scratch venv)")
    base = None if a.base is None else Checkout("base", a.base.resolve(), a.base_nice)
    checkouts = (THIS,) if base is None else (THIS, base)
    profiler = Profiler(a.py_spy, a.profile) if a.profile is not None else None
    results: dict[str, Any] = {}
    with bench_server() as bs:
        if only & {"latency", "idle"}:
            url = prepare_latency_db(bs, 500 if a.quick else 2_000)
            if "latency" in only:
                plans = a.plans or [("update", 100.0, 2), ("update", 1000.0, 8)]
                seconds = a.seconds or (1.5 if a.quick else 8.0)
                results["latency"] = latency_runs(url, plans, seconds, checkouts, profiler, a.nice)
            if "idle" in only:
                results["idle"] = idle_cpu(url, 3.0 if a.quick else 15.0)
        if "backlog" in only:
            finished, enqueued = (2_000, 21_000) if a.quick else (1_000_000, 500_000)
            big, data = prepare_backlog_db(bs, finished, enqueued)
            results["backlog_database"] = data
            results["backlog"] = backlog_figures(big, enqueued, 3.0 if a.quick else 15.0)
    text = json.dumps(results, indent=1)
    if a.json is not None:
        a.json.write_text(text)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`--data-dir DIR ...`: the backlog figures on a kept server; `--only startup ...`:
    the start to the first frame side by side; any other `--only` parts: a focused run."""
    args = sys.argv[1:] if argv is None else argv
    if any(x == "--data-dir" or x.startswith("--data-dir=") for x in args):
        return backlog_main(args)
    only = args[args.index("--only") + 1] if "--only" in args[:-1] else ""
    if only == "startup" or "--only=startup" in args:
        return startup_main(args)
    return focused_main(args)


if __name__ == "__main__":
    sys.exit(main())
