"""Linux inotify through libc (ctypes): wake when the database file or its journal / WAL
is written, instead of asking SQLite on a timer. Elsewhere `open_watch` returns None and
the change source asks `PRAGMA data_version` on a short interval instead."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


class FileWatch:
    """Calls `on_change` (on the loop) whenever one of `names` in `directory` changes."""

    def __init__(self, fd: int, names: frozenset[str], on_change: Callable[[], None]) -> None:
        self._fd = fd
        self._names = names
        self._on_change = on_change
        self.events = 0

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        offset = 0
        hit = False
        while offset + _EVENT.size <= len(data):
            _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if raw.rstrip(b"\0").decode(errors="replace") in self._names:
                hit = True
        if hit:
            self.events += 1
            self._on_change()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)


def open_watch(database: Path, on_change: Callable[[], None]) -> FileWatch | None:
    """Watch the database's directory for writes to it, its -journal and its -wal."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc
    fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        return None
    mask = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO
    if libc.inotify_add_watch(fd, str(database.parent).encode(), mask) < 0:
        os.close(fd)
        return None
    name = database.name
    watch = FileWatch(fd, frozenset({name, f"{name}-journal", f"{name}-wal"}), on_change)
    asyncio.get_running_loop().add_reader(fd, watch._readable)
    return watch
