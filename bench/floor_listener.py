"""The floor: a bare asyncpg client LISTENing on limbo-tui's trigger channel, in a process
of its own beside limbo-tui. It does nothing but stamp each notification, so its latency is
what PostgreSQL's commit -> NOTIFY -> socket path costs on this machine right now; limbo-tui's
figures are stated as ratios to it, measured in the same run.

    python -m bench.floor_listener --url URL --ready PATH --stop PATH --out PATH [--nice N]

--nice: the CPU priority limbo-tui's readers run at (a monitor lowers its own, `[feed]
nice`), so that the floor stands in limbo-tui's place on a busy machine as well.

Writes {"events": [[workflow id, status, t_ns], ...]} for the single-row workflow_status
payloads ('w|<op>|<status>|<id>', see limbo_tui/pg/triggers.sql).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from pathlib import Path

import asyncpg

from limbo_tui.pg.triggers import channel_name
from limbo_tui.urls import asyncpg_dsn


async def listen(url: str, ready: Path, stop: Path, out: Path) -> None:
    events: list[tuple[str, str, int]] = []

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        t = time.monotonic_ns()
        parts = payload.split("|", 3)
        if len(parts) == 4 and parts[0] == "w":
            events.append((parts[3], parts[2], t))

    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.add_listener(channel_name("dbos"), on_notify)
    ready.write_text("ready")
    while not stop.exists():
        await asyncio.sleep(0.05)
    await conn.close()
    out.write_text(json.dumps({"events": events}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--ready", type=Path, required=True)
    p.add_argument("--stop", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--nice", type=int, default=0)
    a = p.parse_args()
    if a.nice > 0:
        with contextlib.suppress(OSError):
            os.nice(a.nice)
    asyncio.run(listen(a.url, a.ready, a.stop, a.out))


if __name__ == "__main__":
    main()
