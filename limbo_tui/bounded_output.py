"""Lines to a pipe that never block the event loop, with a bounded buffer.

`watch --json | slow-reader` must not stall limbo-tui: a blocked write would stop the
loop, the LISTEN connection would go unread, and its backend would hold the tail of the
server-wide NOTIFY queue until every COMMIT on the server failed. So stdout is written
without blocking; what the reader has not taken yet waits here, up to LIMIT_BYTES. Past
that the buffer is dropped (`overflowed`), the owner lets go of the database (on_overflow)
and, once the reader has caught up, starts afresh (on_drained) with a resync line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Callable

LIMIT_BYTES = 1 << 20


def is_pipe_or_file(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


class BoundedOutput:
    def __init__(
        self,
        fd: int,
        loop: asyncio.AbstractEventLoop,
        *,
        on_overflow: Callable[[], None],
        on_drained: Callable[[], None],
        limit: int = LIMIT_BYTES,
    ) -> None:
        self._fd = fd
        self._loop = loop
        self._on_overflow = on_overflow
        self._on_drained = on_drained
        self._limit = limit
        self._buf = bytearray()
        self._waiting = False
        self.overflowed = False
        self.dropped = 0
        os.set_blocking(fd, False)

    def write_line(self, line: str) -> None:
        if self.overflowed:
            self.dropped += 1
            return
        self._buf += line.encode()
        if not self._waiting:
            self._flush()
        if len(self._buf) > self._limit:
            self.dropped += 1
            self._buf.clear()
            self.overflowed = True
            self._on_overflow()
            self._wait_writable()

    def close(self) -> None:
        if self._waiting:
            self._loop.remove_writer(self._fd)
            self._waiting = False
        # One last try without blocking: an unread pipe must not keep limbo-tui alive.
        if self._buf and not self.overflowed:
            with contextlib.suppress(OSError):
                os.write(self._fd, bytes(self._buf))
        self._buf.clear()
        os.set_blocking(self._fd, True)

    def _flush(self) -> None:
        while self._buf:
            try:
                n = os.write(self._fd, self._buf)
            except BlockingIOError:
                self._wait_writable()
                return
            del self._buf[:n]
        if self._waiting:
            self._loop.remove_writer(self._fd)
            self._waiting = False

    def _wait_writable(self) -> None:
        if not self._waiting:
            self._waiting = True
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        if self.overflowed and not self._buf:
            # The reader took everything: stop watching the pipe and start afresh.
            self._loop.remove_writer(self._fd)
            self._waiting = False
            self.overflowed = False
            self._on_drained()
            return
        self._flush()
