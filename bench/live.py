"""Run limbo-tui (bench.monitor) and paced writers (bench.writer) side by side, then
match every change's commit time with the time it reached the graph and the screen."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import REPO, child_cmd, child_env, run_child


@dataclass
class WriterRun:
    seq0: int
    count: int
    commits: list[int]
    achieved_per_s: float
    target_per_s: float
    elapsed_s: float


@dataclass
class Monitor:
    """A monitor child process; `start()` returns once its first frame is painted."""

    url: str
    base: int
    mode: str = "app"
    size: str = "120x40"
    read_only: bool = False
    profile: Path | None = None
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="limbo-bench-mon-")))
    proc: subprocess.Popen[str] | None = None
    result: dict[str, Any] | None = None

    @property
    def stop_file(self) -> Path:
        return self.work / "stop"

    @property
    def ready_file(self) -> Path:
        return self.work / "ready"

    @property
    def out_file(self) -> Path:
        return self.work / "out.json"

    def start(self, timeout: float = 90) -> None:
        args = [
            "monitor", "--url", self.url, "--base", str(self.base),
            "--stop-file", str(self.stop_file), "--ready-file", str(self.ready_file),
            "--out", str(self.out_file), "--mode", self.mode, "--size", self.size,
        ]  # fmt: skip
        if self.read_only:
            args.append("--read-only")
        if self.profile is not None:
            args += ["--profile", str(self.profile)]
        self.proc = subprocess.Popen(
            child_cmd(*args),
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=open(self.work / "stderr.txt", "w"),  # noqa: SIM115 (lives with proc)
            text=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while not self.ready_file.exists():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"monitor died: {self.stderr_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"monitor not ready in {timeout} s: {self.stderr_tail()}")
                time.sleep(0.02)
        except BaseException:
            self.kill()
            shutil.rmtree(self.work, ignore_errors=True)
            raise

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 60) -> dict[str, Any]:
        assert self.proc is not None
        try:
            self.stop_file.write_text("stop")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise RuntimeError(f"monitor did not stop: {self.stderr_tail()}") from None
            if self.proc.returncode != 0:
                raise RuntimeError(f"monitor failed: {self.stderr_tail()}")
            data = json.loads(self.out_file.read_text())
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        data["graph"] = {int(k): v for k, v in data["graph"].items()}
        data["screen"] = {int(k): v for k, v in data["screen"].items()}
        self.result = data
        return data

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stderr_tail(self) -> str:
        try:
            lines = (self.work / "stderr.txt").read_text().strip().splitlines()
        except OSError:
            return "(no stderr)"
        return "\n".join(lines[-20:])


def write(
    url: str, rate: float, seconds: float, rows: int, base: int, seq0: int, first: int = 0
) -> WriterRun:
    out = Path(tempfile.mkstemp(prefix="limbo-bench-writer-", suffix=".json")[1])
    try:
        run_child(
            [
                "writer",
                "--url",
                url,
                "--rate",
                str(rate),
                "--seconds",
                str(seconds),
                "--rows",
                str(rows),
                "--base",
                str(base),
                "--seq0",
                str(seq0),
                "--out",
                str(out),
                "--first",
                str(first),
            ],
            timeout=seconds + 60,
        )
        data = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    return WriterRun(
        seq0=data["seq0"],
        count=data["count"],
        commits=data["commits"],
        achieved_per_s=data["achieved_per_s"],
        target_per_s=data["target_per_s"],
        elapsed_s=data["elapsed_s"],
    )


@dataclass
class Matched:
    """Latencies (ms) of one writer run as seen by one monitor run."""

    graph_ms: list[float]
    screen_ms: list[float]
    # Changes never seen themselves because a later change of the same row superseded
    # them before the feed fetched the row (the feed coalesces by workflow id).
    superseded: int
    # Changes neither seen nor superseded: lost (must be 0).
    missing: int
    # For backlog: (commit time ns, graph latency ms) in commit order.
    timeline: list[tuple[int, float]]


def match(run: WriterRun, graph: dict[int, int], screen: dict[int, int], rows: int) -> Matched:
    graph_ms: list[float] = []
    screen_ms: list[float] = []
    timeline: list[tuple[int, float]] = []
    superseded = missing = 0
    last_seq = run.seq0 + run.count - 1
    for i, t_commit in enumerate(run.commits):
        seq = run.seq0 + i
        tg = graph.get(seq)
        if tg is None:
            # Was the same row's later value seen? Then this change was superseded.
            later = seq + rows
            seen_later = False
            while later <= last_seq:
                if later in graph:
                    seen_later = True
                    break
                later += rows
            if seen_later:
                superseded += 1
            else:
                missing += 1
            continue
        lat = (tg - t_commit) / 1e6
        graph_ms.append(lat)
        timeline.append((t_commit, lat))
        ts = screen.get(seq)
        if ts is not None:
            screen_ms.append((ts - t_commit) / 1e6)
    return Matched(graph_ms, screen_ms, superseded, missing, timeline)


def cpu_percent(samples: list[tuple[int, float]], t0: int, t1: int) -> float | None:
    """CPU of the monitor process between monotonic t0 and t1 (ns), in % of one core."""
    inside = [(t, c) for t, c in samples if t0 <= t <= t1]
    if len(inside) < 2:
        return None
    (ta, ca), (tb, cb) = inside[0], inside[-1]
    if tb <= ta:
        return None
    return round(100 * (cb - ca) / ((tb - ta) / 1e9), 1)
