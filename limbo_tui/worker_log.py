"""Reading the embedded worker's DBOS log: what a line means, and the new lines of a file.

The seed's user learnt what DBOS did from this log ("Recovering 2 workflows", "exceeded its
maximum of 2 ... attempts", "Attempting to shut down DBOS. 1 workflows remain active"); the
log view marks those lines so that they stand out. Pure, so that it is tested with text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Literal

LineKind = Literal["crash", "recovery", "dead-letter", "shutdown-wait", "error", "plain"]

# DBOS.destroy(workflow_completion_timeout_sec=N) checks once a second, for up to N s,
# whether workflows still run in this process, and logs this line while some do (the
# same words in 2.8 and 3.x). Its ids are the only record of what the shutdown waits for.
_SHUTDOWN_WAIT = re.compile(
    r"Attempting to shut down DBOS\. (\d+) workflows remain active\. IDs: \[([^\]]*)\]"
)

# Ordered: the first match names the line.
_KINDS: tuple[tuple[LineKind, re.Pattern[str]], ...] = (
    (
        "dead-letter",
        re.compile(
            r"exceeded its maximum of \d+|MaxRecoveryAttemptsExceeded|MAX_RECOVERY_ATTEMPTS"
        ),
    ),
    ("shutdown-wait", _SHUTDOWN_WAIT),
    (
        "crash",
        re.compile(
            r"crash(?:ed)? (?:point|the worker)|killed|SIGKILL|SIGSEGV|Segmentation fault",
            re.IGNORECASE,
        ),
    ),
    (
        "recovery",
        re.compile(
            r"Recovering \d+ workflows?|No workflows to recover|recover(?:ed|ing) workflow",
            re.IGNORECASE,
        ),
    ),
    ("error", re.compile(r"\[\s*(?:ERROR|CRITICAL)\]|Traceback \(most recent call last\)")),
)


def line_kind(line: str) -> LineKind:
    for kind, pattern in _KINDS:
        if pattern.search(line):
            return kind
    return "plain"


def shutdown_wait_ids(line: str) -> tuple[str, ...] | None:
    """The workflow ids a DBOS shutdown still waits for, if `line` is its waiting line."""
    found = _SHUTDOWN_WAIT.search(line)
    if found is None:
        return None
    return tuple(re.findall(r"'([^']*)'", found[2]))


# A line longer than this is shown cut; the log of a looping step must not fill memory.
MAX_LINE_BYTES = 4096
# What a first look reads from the end of a long log.
TAIL_BYTES = 256 * 1024


class LogTail:
    """The lines appended to a file since the last read; follows truncation and rotation.

    The file stays open between reads: while it is open its inode cannot be reused, so a
    rotated log (a new file under the same name) is always told apart from the old one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._partial = b""
        self._skip_first = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _reopen_if_replaced(self) -> BinaryIO | None:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return self._file
        f = self._file
        if f is not None:
            held = os.fstat(f.fileno())
            if (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino):
                if f.tell() > on_disk.st_size:  # truncated in place
                    f.seek(0)
                    self._partial = b""
                return f
            f.close()
            first = False
        else:
            first = True
        f = open(self.path, "rb")  # noqa: SIM115 - held open across reads on purpose
        self._partial = b""
        self._skip_first = False
        if first and on_disk.st_size > TAIL_BYTES:
            # A first look starts near the end of a long log, at a whole line.
            f.seek(on_disk.st_size - TAIL_BYTES)
            self._skip_first = True
        self._file = f
        return f

    def read_new(self) -> list[str]:
        f = self._reopen_if_replaced()
        if f is None:
            return []
        data = f.read()
        if not data:
            return []
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()[:MAX_LINE_BYTES]
        if self._skip_first and chunks:
            self._skip_first = False
            chunks.pop(0)
        return [c[:MAX_LINE_BYTES].decode("utf-8", "replace") for c in chunks]
