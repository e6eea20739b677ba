"""A session's feed on disk, for a post-mortem: `--record FILE` writes it,
`limbo-tui replay FILE` plays it back (the TUI, or every workflow's timeline as text).

One JSON object per line: a header, then `{"t": <ms since start>, "full": bool, "rows":
[...]}` per feed batch and `{"t": ..., "worker": "<text>"}` per worker event. Rows are the
model's dataclasses with a `type` tag; stored values stay the raw text the database held
(never unpickled, here or on replay). The file is created 0600 and never overwritten: it
holds workflow inputs and outputs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from limbo_tui.errors import EXIT_USAGE, LimboError
from limbo_tui.model import Row

FORMAT = "limbo-tui recording"
VERSION = 1

# Every kind of row the feed can carry, by name: the model's Row union, whatever it holds.
_ROW_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in typing.get_args(Row)}


def encode_row(row: Row) -> dict[str, Any]:
    out = dataclasses.asdict(row)
    out["type"] = type(row).__name__
    return out


def _build(hint: Any, value: Any) -> Any:
    """A JSON value back into the type a dataclass field declares (nested rows, tuples)."""
    if value is None:
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        # Fields a newer limbo-tui wrote are dropped; missing ones take their defaults.
        return hint(**{k: _build(hints[k], v) for k, v in value.items() if k in names})
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple and isinstance(value, list | tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value, strict=False))
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None) and dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return _build(arg, value)
    return value


def decode_row(obj: dict[str, Any]) -> Row:
    kind = obj.get("type")
    cls = _ROW_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown row type {kind!r}")
    row: Row = _build(cls, {k: v for k, v in obj.items() if k != "type"})
    return row


@dataclass(frozen=True)
class RecordedBatch:
    t_ms: int
    rows: list[Row]
    full: bool


@dataclass(frozen=True)
class RecordedWorkerEvent:
    t_ms: int
    text: str


Recorded = RecordedBatch | RecordedWorkerEvent


class Recorder:
    """Appends a session's batches to FILE; flushed per batch, so a crash loses nothing."""

    def __init__(self, path: str | Path, database: str) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise LimboError(
                f"--record: {self.path} exists: name a new file (a recording is never overwritten)",
                EXIT_USAGE,
            ) from None
        except OSError as exc:
            raise LimboError(f"--record: cannot create {self.path}: {exc.strerror}") from None
        self._file: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self._start = time.monotonic()
        self._worker_state: str | None = None
        # The feed calls in on the app's loop, the worker from its own thread.
        self._lock = threading.Lock()
        self._write(
            {
                "format": FORMAT,
                "version": VERSION,
                "database": database,
                "started_at_ms": int(time.time() * 1000),
            }
        )

    def _t(self) -> int:
        return int((time.monotonic() - self._start) * 1000)

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()

    def batch(self, rows: list[Row], full: bool) -> None:
        self._write({"t": self._t(), "full": full, "rows": [encode_row(r) for r in rows]})

    def worker(self, text: str) -> None:
        self._write({"t": self._t(), "worker": text})

    def tee(self, on_batch: Callable[[Any], None]) -> Callable[[Any], None]:
        """on_batch, recording each FeedBatch first."""

        def recording(batch: Any) -> None:
            self.batch(list(batch.rows), bool(batch.full))
            on_batch(batch)

        return recording

    def worker_state(self, state: str, detail: str) -> None:
        """The worker's on_state listener: its transitions are the crash instants."""
        if state != self._worker_state:
            self._worker_state = state
            self.worker(f"worker {state}: {detail}" if detail else f"worker {state}")

    def close(self) -> None:
        self._write({"t": self._t(), "end": True})
        with self._lock:
            self._file.close()


@dataclass(frozen=True)
class Recording:
    path: Path
    database: str
    started_at_ms: int
    entries: list[Recorded]
    # The session was killed while writing its last line, which is left out.
    truncated: bool = False
    # How long the session ran (to its end line, else its last entry).
    length_ms: int = 0


def read_recording(path: str | Path) -> Recording:
    """The whole file, checked; a bad line is one error naming the file and line."""
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8")
    except OSError as exc:
        raise LimboError(f"replay: cannot read {p}: {exc.strerror}", EXIT_USAGE) from None
    with handle:
        lines: Iterator[tuple[int, str]] = enumerate(handle, start=1)
        try:
            header = json.loads(next(lines)[1])
        except (StopIteration, ValueError):
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise LimboError(
                f"replay: {p} is not a limbo-tui recording (make one with --record FILE)",
                EXIT_USAGE,
            )
        if header.get("version") != VERSION:
            raise LimboError(
                f"replay: {p} is a version {header.get('version')} recording; this "
                f"limbo-tui reads version {VERSION}",
                EXIT_USAGE,
            )
        entries: list[Recorded] = []
        length_ms: int | None = None
        rest = [(n, line) for n, line in lines if line.strip()]
        truncated = False
        for i, (number, line) in enumerate(rest):
            try:
                obj = json.loads(line)
                t = int(obj["t"])
                if obj.get("end") is True:
                    length_ms = t
                elif "worker" in obj:
                    entries.append(RecordedWorkerEvent(t, str(obj["worker"])))
                else:
                    rows = [decode_row(r) for r in obj["rows"]]
                    entries.append(RecordedBatch(t, rows, bool(obj.get("full"))))
            except (ValueError, KeyError, TypeError) as exc:
                if i == len(rest) - 1 and not line.endswith("\n"):
                    # The last line of a session that was killed mid-write.
                    truncated = True
                    break
                raise LimboError(
                    f"replay: {p} line {number} is damaged ({exc}): the recording stops "
                    "being readable there",
                    EXIT_USAGE,
                ) from None
    return Recording(
        p,
        str(header.get("database", "?")),
        int(header.get("started_at_ms", 0)),
        entries,
        truncated,
        length_ms if length_ms is not None else max((e.t_ms for e in entries), default=0),
    )
