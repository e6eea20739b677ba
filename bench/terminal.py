"""A real terminal for the bench: the real `limbo-tui` command on a pseudo-terminal, its
output replayed into a terminal emulator (pyte), so that "on screen" means what a person
would see, cell by cell, and not what a headless renderer was asked to draw.

    with PtyTerminal(["--db-url", url, "--worker", "none"], 200, 50) as term:
        term.wait_for(lambda s: "LIVE" in s.line(0), 30)
        term.on_frame = my_callback      # called on the reader thread after each read
        ...

The reader thread stamps every read with time.monotonic_ns() (one CLOCK_MONOTONIC for
every process of the machine, as the writers' stamps) and feeds pyte before calling
on_frame, so a callback sees the screen as it was right after those bytes arrived.

A latency run records instead (`record()` ... `replay(callback)`): the reader only stamps
and keeps each read, and pyte sees the bytes afterwards, with the same stamps. An emulator
in the measuring process would otherwise compete for the 2 cores (and for its own GIL,
against the other readers' stamps) with the process it measures.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import pyte

from bench.common import REPO

CLEAN_ENV = ("LIMBO_TUI_DB_URL", "DBOS_SYSTEM_DATABASE_URL", "LIMBO_TUI_CONFIG", "NO_COLOR")


def tree_command(tree: Path) -> list[str]:
    """`python -m limbo_tui` with `tree`'s package first on the path (before the cwd): a
    baseline checkout measured beside this one in the same run."""
    code = (
        f"import sys, runpy; sys.path.insert(0, {str(tree)!r}); "
        "runpy.run_module('limbo_tui', run_name='__main__')"
    )
    return [sys.executable, "-c", code]


class Screen:
    """What the emulator shows now (a copy taken under the terminal's lock)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def line(self, row: int) -> str:
        return self.lines[row] if 0 <= row < len(self.lines) else ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class PtyTerminal:
    def __init__(
        self,
        args: Sequence[str],
        columns: int = 200,
        rows: int = 50,
        *,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        self.columns, self.rows = columns, rows
        self._cwd = cwd
        self._command = [*(command or [sys.executable, "-m", "limbo_tui"]), *args]
        base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
        base.update(env or {})
        base.update(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows))
        self._env = base
        self._screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._fd = -1
        self.proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.spawned_ns = 0
        self.first_bytes_ns: int | None = None
        self.bytes_read = 0
        self.closed = False
        # Called on the reader thread after each read: (monotonic ns of the read, screen).
        self.on_frame: Callable[[int, Screen], None] | None = None
        # While recording: each read as (monotonic ns, bytes), not yet fed to pyte.
        self._recorded: list[tuple[int, bytes]] | None = None
        # What the last replay() fed: (monotonic ns, bytes) of each read.
        self.replayed: list[tuple[int, int]] = []

    # -- life ------------------------------------------------------------------------
    def __enter__(self) -> PtyTerminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.columns, 0, 0))
        self.spawned_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(
            self._command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=self._cwd,
            env=self._env,
            start_new_session=True,
        )
        os.close(slave)
        self._fd = master
        self._thread = threading.Thread(target=self._read_loop, name="pty-reader", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.quit()

    def quit(self, key: bytes = b"q", timeout: float = 15) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.write(self._fd, key)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
                    try:
                        proc.wait(10)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def send(self, keys: bytes) -> int:
        """Type `keys`; returns the monotonic ns just before they were written."""
        t = time.monotonic_ns()
        os.write(self._fd, keys)
        return t

    # -- recording ---------------------------------------------------------------------
    def record(self) -> None:
        """From now on keep each read with its stamp; pyte sees them at replay()."""
        with self._lock:
            self._recorded = []

    def replay(self, callback: Callable[[int, Screen], None]) -> int:
        """Feed what was recorded to pyte, read by read, calling callback(t, screen)
        after each; returns the bytes replayed. Reads after this go to pyte at once."""
        with self._lock:
            recorded, self._recorded = self._recorded or [], None
            self.replayed = [(t, len(chunk)) for t, chunk in recorded]
            for t, chunk in recorded:
                self._stream.feed(chunk)
                callback(t, Screen(list(self._screen.display)))
            self._changed.notify_all()
        return sum(len(c) for _, c in recorded)

    # -- screen ----------------------------------------------------------------------
    def snapshot(self) -> Screen:
        with self._lock:
            return Screen(list(self._screen.display))

    def wait_for(self, predicate: Callable[[Screen], bool], timeout: float) -> int | None:
        """Block until the screen satisfies `predicate`; the monotonic ns of the read
        that made it so, or None on timeout / exit."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                screen = Screen(list(self._screen.display))
                if predicate(screen):
                    return self._last_read_ns
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self._changed.wait(min(left, 0.1))

    _last_read_ns = 0

    def _read_loop(self) -> None:
        fd = self._fd
        while True:
            try:
                ready, _, _ = select.select([fd], [], [], 0.2)
            except (OSError, ValueError):
                break
            if not ready:
                if self.proc is None or self.proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            t = time.monotonic_ns()
            callback = self.on_frame
            with self._changed:
                self.bytes_read += len(chunk)
                if self._recorded is not None:
                    self._recorded.append((t, chunk))
                    continue
                if self.first_bytes_ns is None:
                    self.first_bytes_ns = t
                self._stream.feed(chunk)
                self._last_read_ns = t
                screen = Screen(list(self._screen.display)) if callback else None
                self._changed.notify_all()
            if callback is not None and screen is not None:
                callback(t, screen)
        with self._changed:
            self.closed = True
            self._changed.notify_all()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # utime, stime are fields 14 and 15 of stat (1-based); after the ")" split, 12 and 13.
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


class LoadSampler:
    """The machine's load while a figure is taken: the 1-minute load average and the
    share of both cores busy (from /proc/stat), sampled on a thread."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self._busy: list[float] = []
        self._loadavg: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="load-sampler", daemon=True)

    @staticmethod
    def _cpu_times() -> tuple[int, int]:
        parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
        return sum(parts), idle

    def _loop(self) -> None:
        total0, idle0 = self._cpu_times()
        while not self._stop.wait(self.every_s):
            total1, idle1 = self._cpu_times()
            if total1 > total0:
                self._busy.append(1 - (idle1 - idle0) / (total1 - total0))
            total0, idle0 = total1, idle1
            self._loadavg.append(load_average()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def summary(self) -> dict[str, float | int | None]:
        busy = self._busy
        return {
            "cores": os.cpu_count(),
            "busy_pct_of_all_cores": round(100 * sum(busy) / len(busy), 1) if busy else None,
            "loadavg_1m": round(max(self._loadavg), 2) if self._loadavg else None,
        }
