"""Helpers shared by the fault tests (no tests here): the real `limbo-tui` command (and
PtyRun, which runs it on a pseudo-terminal), what is on a Textual screen, waiting for
conditions, comparing the graph with the database, and postgres processes of a data dir."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from limbo_tui.model import WorkflowGraph
from limbo_tui.pg import queries
from limbo_tui.pg.connect import connect

ROOT = Path(__file__).resolve().parent.parent
# The installed console script: no `uv run` start-up cost per launch.
COMMAND = Path(sys.executable).parent / "limbo-tui"


def limbo_cmd(*args: str) -> list[str]:
    if COMMAND.exists():
        return [str(COMMAND), *args]
    uv = shutil.which("uv")
    assert uv is not None
    return [uv, "run", "--quiet", "--project", str(ROOT), "limbo-tui", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who configured nothing (no URL, no config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIMBO_TUI", "DBOS_", "PG"))}
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def control_chars(text: str) -> list[str]:
    """Characters that a terminal would act on instead of printing: C0 (but newline),
    DEL, C1 (CSI, OSC, ... as single code points) and bidi overrides / isolates."""
    bad = []
    for ch in text:
        if ch == "\n":
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc" or ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
            bad.append(repr(ch))
    return bad


def screen_lines(app: Any) -> list[str]:
    """The text of every cell line of the app's current screen, as a terminal gets it
    (every segment's text; the escape sequences Textual adds for colours are not text)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return ["".join(seg.text for strip in line for seg in strip) for line in update.strips]


async def until(
    predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


async def until_async(
    predicate: Callable[[], Awaitable[Any]], timeout: float, what: str, every: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


def wait(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


async def database_graph(url: str, schema: str = "dbos", families: int = 200) -> WorkflowGraph:
    """What a fresh snapshot of the database gives: the reference for 'graph == DB'."""
    conn = await connect(url)
    try:
        rows = await queries.snapshot(conn, schema, families)
    finally:
        await conn.close()
    graph = WorkflowGraph()
    graph.replace_all(rows)
    return graph


def comparable(graph: WorkflowGraph) -> tuple[Any, ...]:
    """The graph's content, without the limits the UI merges in from the worker."""
    wfs = {k: replace(v, max_recovery_attempts=None) for k, v in graph.workflows.items()}
    steps = {k: v for k, v in graph.steps.items() if v}
    children = {w: graph.children(w) for w in graph.workflows}
    return wfs, steps, children


async def converges(graph: Callable[[], WorkflowGraph], url: str, timeout: float) -> None:
    """Wait until the live graph equals a fresh snapshot of the database."""
    last: list[Any] = []

    async def same() -> bool:
        db = comparable(await database_graph(url))
        last[:] = [db]
        return comparable(graph()) == db

    try:
        await until_async(same, timeout, "the graph to equal the database")
    except AssertionError:
        mine, db = comparable(graph()), last[0]
        only_mine = set(mine[0]) - set(db[0])
        only_db = set(db[0]) - set(mine[0])
        differ = [k for k in set(mine[0]) & set(db[0]) if mine[0][k] != db[0][k]]
        raise AssertionError(
            f"graph != database: only in graph {sorted(only_mine)[:5]}, only in database "
            f"{sorted(only_db)[:5]}, different {sorted(differ)[:5]}"
        ) from None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an ended child not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def postgres_pids(data_dir: Path) -> list[int]:
    """Live (non-zombie) postgres processes whose command line names data_dir.

    Tests poll it every 50 ms while a server goes: it reads a process's state only when
    its command line matches (reading both of every process took ~19 ms of CPU a call,
    a third of a core while polling)."""
    needle = os.fsencode(data_dir)
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
            if b"postgres" not in cmdline or needle not in cmdline:
                continue
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z":
            pids.append(int(name))
    return pids


def live_app(url: str, settings: Any, worker_mode: str = "none", **worker_kw: Any) -> Any:
    """A LimboApp wired as launch.run_tui wires it: the real LiveFeed, a real worker."""
    from limbo_tui.pg.feed import LiveFeed
    from limbo_tui.ui.app import LimboApp
    from limbo_tui.urls import mask
    from limbo_tui.worker import create_worker

    worker = create_worker(worker_mode, url, settings, **worker_kw)  # type: ignore[arg-type]
    return LimboApp(
        settings,
        mask(url),
        feed_factory=lambda on_batch, on_state: LiveFeed(url, settings, on_batch, on_state),
        worker=worker,
        actions=worker.actions,  # type: ignore[attr-defined]
    )


class PtyRun:
    """`limbo-tui` on a pseudo-terminal of 100x30; its output is read and dropped."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data[-4096:]

    def keys(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, text.encode())

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status; past the timeout, the whole session (the command and any
        child it started) is killed first, so that a failed test leaks no process."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            with contextlib.suppress(OSError):
                os.close(self.master)

    def kill(self) -> None:
        # start_new_session: the group id is the command's pid, its children share it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
