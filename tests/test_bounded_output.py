"""BoundedOutput on a real pipe: never blocks, drops past its bound, tells when the
reader has caught up."""

from __future__ import annotations

import asyncio
import contextlib
import os

from limbo_tui.bounded_output import BoundedOutput


async def test_an_unread_pipe_overflows_then_drains() -> None:
    read_fd, write_fd = os.pipe()
    events: list[str] = []
    loop = asyncio.get_running_loop()
    out = BoundedOutput(
        write_fd,
        loop,
        on_overflow=lambda: events.append("overflow"),
        on_drained=lambda: events.append("drained"),
        limit=64 * 1024,
    )
    try:
        line = "x" * 999 + "\n"
        # Far more than the pipe and the bound hold; a blocking write would hang here.
        for _ in range(1000):
            out.write_line(line)
        assert events == ["overflow"] and out.overflowed and out.dropped > 0
        os.set_blocking(read_fd, False)
        while "drained" not in events:
            with contextlib.suppress(BlockingIOError):
                os.read(read_fd, 1 << 16)
            await asyncio.sleep(0.01)
        assert not out.overflowed
        out.write_line("after\n")
        await asyncio.sleep(0.05)
        assert os.read(read_fd, 1 << 16).endswith(b"after\n")
    finally:
        out.close()
        os.close(read_fd)
        os.close(write_fd)
