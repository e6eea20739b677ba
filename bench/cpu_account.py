"""Who used the machine's CPU during a phase: the private PostgreSQL server, limbo-tui's
backends and process, the load generator, and everything else (other people's work on a
shared machine). Read from /proc: counters in clock ticks, sampled at a phase's start
and end.

The server's CPU is its postmaster's own, what it reaped of its exited children
(cutime / cstime: pgbench's backends end with each phase) and its live children's,
less any backends named as someone else's (limbo-tui's).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after its end.
    return text.rsplit(")", 1)[1].split()


def pid_cpu_s(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds of a live process (every thread); with reaped, plus its waited-for
    children's. 0 for a process that is gone."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    # After the name: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
    ticks = int(f[11]) + int(f[12])
    if reaped:
        ticks += int(f[13]) + int(f[14])
    return ticks / TICKS


def pids_cpu_s(pids: Iterable[int]) -> float:
    return sum(pid_cpu_s(p) for p in pids)


def children(ppid: int) -> list[int]:
    out: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f is not None and int(f[1]) == ppid:
            out.append(int(entry.name))
    return out


def await_reaped(ppid: int, count: int, timeout: float = 1.0) -> None:
    """Wait until `ppid` has at most `count` children: the postmaster reaps a finished
    client's backends a moment after it ends, and only then is their CPU in its cutime."""
    deadline = time.monotonic() + timeout
    while len(children(ppid)) > count and time.monotonic() < deadline:
        time.sleep(0.01)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every core, every nice level)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def cpu_pressure_s() -> float | None:
    """Seconds some runnable task waited for a CPU (PSI 'some'), None without PSI."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some "):
                total = dict(kv.split("=") for kv in line.split()[1:])["total"]
                return int(total) / 1e6
    except (OSError, KeyError, ValueError):
        return None
    return None


def own_children_cpu_s() -> float:
    """CPU seconds of this process's waited-for children (a finished pgbench)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass(frozen=True)
class Sample:
    at: float
    machine: float
    server: float
    # limbo-tui's backends by pid: one that ended (a reconnect) counts only while alive.
    limbo_backends: dict[int, float]
    limbo_process: float
    loader: float
    pressure: float | None


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def sample(at: float, postmaster: int, limbo: list[int], limbo_pid: int | None) -> Sample:
    """One reading of every counter. `limbo`: limbo-tui's backend pids."""
    mine = set(limbo)
    server = pid_cpu_s(postmaster, reaped=True) + pids_cpu_s(
        p for p in children(postmaster) if p not in mine
    )
    return Sample(
        at=at,
        machine=machine_busy_s(),
        server=server,
        limbo_backends={p: pid_cpu_s(p) for p in limbo},
        limbo_process=pid_cpu_s(limbo_pid) if limbo_pid is not None else 0.0,
        loader=own_children_cpu_s(),
        pressure=cpu_pressure_s(),
    )


def between(a: Sample, b: Sample) -> dict[str, float | None]:
    """CPU seconds per second of each part over [a, b] (cores in use); 'background' is the
    machine's busy time that none of ours explains."""
    dt = max(b.at - a.at, 1e-9)
    server = (b.server - a.server) / dt
    backends = (
        sum(
            max(0.0, b.limbo_backends[p] - cpu)
            for p, cpu in a.limbo_backends.items()
            if p in b.limbo_backends
        )
        / dt
    )
    process = (b.limbo_process - a.limbo_process) / dt
    loader = (b.loader - a.loader) / dt
    machine = (b.machine - a.machine) / dt
    pressure = (
        (b.pressure - a.pressure) / dt
        if a.pressure is not None and b.pressure is not None
        else None
    )
    return {
        "seconds": dt,
        "machine": machine,
        "app_server": server,
        "loader": loader,
        "limbo_backends": backends,
        "limbo_process": process,
        "background": max(0.0, machine - server - loader - backends - process),
        "pressure": pressure,
    }
