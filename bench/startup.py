"""6. Start-up: `limbo-tui` on the embedded default, cold and warm, to first paint.

The real command (`python -m limbo_tui --config X`, default worker) runs in a
pseudo-terminal of 120x40, as a person would start it; the clock runs from spawn until
the screen shows the feed LIVE (the first paint with data: header drawn after the
snapshot), and `first_frame` until the first screen bytes at all. Then `q` quits it.
- cold: a new data dir (initdb, server start, DBOS migrations, app);
- warm: the same data dir again (server start, app).
The embedded server's own cold / warm start (bench/embedded_start.py) is measured too,
to tell Postgres's share from limbo-tui's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, log, shared_tmp, spread

_ANSI = re.compile(
    r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b."
)
LIVE_MARK = "LIVE"
TIMEOUT_S = 90.0


def _spawn(config: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LIMBO_TUI_DB_URL", "DBOS_SYSTEM_DATABASE_URL", "LIMBO_TUI_CONFIG", "NO_COLOR")
    }
    env["TERM"] = "xterm-256color"
    env["COLUMNS"], env["LINES"] = "120", "40"
    proc = subprocess.Popen(
        [sys.executable, "-m", "limbo_tui", "--config", str(config)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    return proc, master


def launch_once(config: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc, fd = _spawn(config)
    buf = ""
    first_frame = live = None
    try:
        while time.perf_counter() - t0 < TIMEOUT_S:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                now = time.perf_counter() - t0
                text = chunk.decode(errors="replace")
                if first_frame is None and "\x1b[" in text:
                    first_frame = now
                buf = (buf + _ANSI.sub("", text))[-20000:]
                if LIVE_MARK in buf:
                    live = now
                    break
            elif proc.poll() is not None:
                break
        tail = buf[-400:]
    finally:
        _quit(proc, fd)
    return {"first_frame_s": first_frame, "live_s": live, "tail": None if live else tail}


def _quit(proc: subprocess.Popen[bytes], fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, b"q")
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Drain what is left so that the pty closes cleanly.
    with contextlib.suppress(OSError):
        while select.select([fd], [], [], 0)[0] and os.read(fd, 65536):
            pass
    os.close(fd)


def run(quick: bool) -> dict[str, Any]:
    runs = 1 if quick else 3
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    for _ in range(runs):
        base = shared_tmp("limbo-tui-bench-start-")
        try:
            config = base / "config.toml"
            config.write_text(f'[embedded]\ndata_dir = "{base / "pg"}"\n')
            cold.append(launch_once(config))
            warm.append(launch_once(config))
        finally:
            shutil.rmtree(base, ignore_errors=True)
    from bench import embedded_start

    server = embedded_start.measure(runs)
    out = {
        "runs": runs,
        "cold_s": spread([r["live_s"] for r in cold], 3),
        "warm_s": spread([r["live_s"] for r in warm], 3),
        "cold_first_frame_s": spread([r["first_frame_s"] for r in cold], 3),
        "warm_first_frame_s": spread([r["first_frame_s"] for r in warm], 3),
        "server_cold_s": spread(server["cold"], 3),
        "server_warm_s": spread(server["warm"], 3),
        "failures": [r["tail"] for r in cold + warm if r["tail"]],
    }
    log(
        f"startup: cold {out['cold_s']['median']} s, warm {out['warm_s']['median']} s "
        f"(server alone {out['server_cold_s']['median']} / {out['server_warm_s']['median']} s)"
    )
    return out
