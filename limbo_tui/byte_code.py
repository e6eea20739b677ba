"""limbo-tui's own modules byte-compiled for the next start, even under PYTHONDONTWRITEBYTECODE.

uv's compile-bytecode (pyproject [tool.uv]) compiles the installed packages, but not the
project itself when it is installed editable (`uv sync`, `uv run limbo-tui` in a checkout):
with PYTHONDONTWRITEBYTECODE set, as on many servers and containers, every start compiled
all of limbo_tui again (about 0.3 s of CPU before the first frame). After the first frame,
on a daemon thread, the modules whose byte code is missing or stale are compiled to where
Python itself would cache them. Nothing happens when Python writes byte code itself, and
a package that cannot be written (a system install) is left as it is.
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import threading
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def stale_modules(package: Path = PACKAGE) -> list[Path]:
    """The package's sources whose cached byte code is missing or does not match them
    (Python's own check: magic number, source mtime and size)."""
    stale = []
    for source in sorted(package.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        try:
            stat = source.stat()
            with cached.open("rb") as fh:
                header = fh.read(16)
        except OSError:
            stale.append(source)
            continue
        expected = (
            importlib.util.MAGIC_NUMBER
            + bytes(4)  # flags 0: a timestamp-checked .pyc
            + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        )
        if header != expected:
            stale.append(source)
    return stale


def compile_stale(package: Path = PACKAGE) -> int:
    """Compile the stale modules; how many were written."""
    written = 0
    for source in stale_modules(package):
        try:
            py_compile.compile(
                str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True
            )
        except (OSError, py_compile.PyCompileError):
            continue  # not writable here, or not ours to fix: the import compiles it
        written += 1
    return written


def compile_in_background() -> None:
    """After the first frame: the next start finds limbo_tui compiled."""
    if not sys.dont_write_bytecode:
        return  # Python caches each module it imports by itself
    threading.Thread(target=compile_stale, name="limbo-tui-byte-code", daemon=True).start()
