"""The database server's clock, as read from here.

Diagnoses that read the clock ("stalled for 6 min", an executor "silent since") compare
timestamps the database holds with now. limbo-tui often runs on another host than the
database and the DBOS application; with its clock 6 minutes ahead, a workflow written a
second ago would read as 6 minutes old. So "now" is the server's: this host's clock plus an
offset measured against the server's clock_timestamp(), at each snapshot and again at a
heartbeat once REMEASURE_S has passed (one small query; the offset drifts slowly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

REMEASURE_S = 60.0
SERVER_NOW_MS = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class _Connection(Protocol):
    async def fetchval(self, query: str) -> object: ...


class ServerClock:
    """now_ms() is the server's now; offset_ms is 0 until a first measurement."""

    def __init__(self, local_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._local_ms = local_ms
        self.offset_ms = 0
        self._measured_at: float | None = None

    def now_ms(self) -> int:
        return self._local_ms() + self.offset_ms

    def due(self) -> bool:
        """True when the offset was never measured or is REMEASURE_S old."""
        return self._measured_at is None or time.monotonic() - self._measured_at > REMEASURE_S

    async def measure(self, conn: _Connection) -> None:
        """Measure the offset on an open asyncpg connection (one round trip); the
        server's reading is taken as the midpoint of the round trip."""
        before = self._local_ms()
        server = await conn.fetchval(SERVER_NOW_MS)
        after = self._local_ms()
        if isinstance(server, int):
            self.offset_ms = server - (before + after) // 2
            self._measured_at = time.monotonic()
