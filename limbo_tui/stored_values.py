"""Read-only decoding of what DBOS stored (inputs, outputs, errors) for display.

DBOS 3.x writes values with a `serialization` column: 'py_pickle' (base64 of a pickle,
the default), 'portable_json' (plain JSON), or the name of a user's custom serializer;
older rows hold base64 pickles with serialization NULL. Unpickling with the stock loader
runs code chosen by whoever wrote the row, so pickles are read here by a restricted
unpickler: a short allow-list of harmless types is built, every other class is replaced
by an inert placeholder that only records its name and arguments (nothing is imported,
nothing of the pickle's choosing is called). A pickle that still cannot be read is
summarised from its opcodes by pickletools, which executes nothing. What comes out has
passed the terminal sanitiser (terminal_text.safe_text).
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import decimal
import io
import json
import pickle
import pickletools
import uuid
from collections.abc import Callable
from typing import Any

from limbo_tui.terminal_text import safe_text

PY_PICKLE = "py_pickle"
PORTABLE_JSON = "portable_json"
JSON_FORMATS: frozenset[str] = frozenset({PORTABLE_JSON, "json"})

# Larger stored values are not decoded at all: describing them must stay instant.
MAX_DECODE_BYTES = 2_000_000
# Line width the pretty printer aims for (the details pane is about this wide).
WIDTH = 76
_MAX_DEPTH = 24
_ELLIPSIS = "…"
NONE_TEXT = "(none)"


def describe(raw: str | bytes | None, serialization: str | None, limit: int = 4000) -> str:
    """A readable, bounded and terminal-safe view of one stored value.

    JSON is pretty-printed; pickles are decoded by the restricted unpickler only; other
    formats are "opaque <N> bytes". Never raises, never runs code from the value, and the
    result is at most `limit` characters.
    """
    if raw is None:
        return NONE_TEXT
    limit = max(limit, 1)
    try:
        text = _describe(raw, (serialization or "").strip().lower(), limit)
    except Exception as exc:  # a display helper must never take the screen down
        text = f"opaque {_size(raw)} bytes (not decoded: {type(exc).__name__})"
    return _bound(safe_text(text, multiline=True), limit)


def _describe(raw: str | bytes, fmt: str, limit: int) -> str:
    size = _size(raw)
    if size > MAX_DECODE_BYTES:
        return f"opaque {size} bytes (too large to decode)"
    if fmt in JSON_FORMATS:
        shown = _describe_json(raw, limit)
        return shown if shown is not None else f"opaque {size} bytes (not valid JSON)"
    if fmt in (PY_PICKLE, ""):
        data = raw if isinstance(raw, bytes) else _base64(raw)
        if data is not None and _looks_like_pickle(data, sure=fmt == PY_PICKLE):
            return _describe_pickle(data, limit)
    # Serialization NULL may still be a JSON text; a custom serializer may write JSON.
    shown = _describe_json(raw, limit)
    if shown is not None:
        return shown
    note = f"serialization {fmt!r}, not decoded" if fmt else "unknown format"
    return f"opaque {size} bytes ({note})"


def _size(raw: str | bytes) -> int:
    return len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + _ELLIPSIS


def _base64(raw: str) -> bytes | None:
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _looks_like_pickle(data: bytes, *, sure: bool) -> bool:
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= pickle.HIGHEST_PROTOCOL:
        return True
    # Protocols 0 and 1 have no header: believe it only when the row says py_pickle.
    return sure and data.endswith(b".")


def _describe_json(raw: str | bytes, limit: int) -> str | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError, TypeError):
        return None
    try:
        compact = json.dumps(value, ensure_ascii=False)
        if len(compact) <= WIDTH:
            return compact
        return json.dumps(value, ensure_ascii=False, indent=2)[: limit + 1]
    except (ValueError, RecursionError):
        return None


def decode_number(raw: str | bytes | None, serialization: str | None) -> float | None:
    """A stored number (DBOS.sleep's wake-up time), or None when the value is not one.

    JSON is parsed; a pickle only by the restricted unpickler, so nothing runs."""
    if raw is None or _size(raw) > 1_000:
        return None
    fmt = (serialization or "").strip().lower()
    value: Any = None
    try:
        if fmt in (PY_PICKLE, "") and (data := _pickled(raw, fmt)) is not None:
            unpickler = _RestrictedUnpickler(data)
            value = unpickler.load()
            if unpickler.refused:
                return None
        else:
            value = json.loads(raw)
    except Exception:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _pickled(raw: str | bytes, fmt: str) -> bytes | None:
    data = raw if isinstance(raw, bytes) else _base64(raw)
    if data is not None and _looks_like_pickle(data, sure=fmt == PY_PICKLE):
        return data
    return None


# -- the restricted unpickler ----------------------------------------------------------


def _no_int_arg(make: Callable[..., Any]) -> Callable[..., Any]:
    # bytes(10**12) / bytearray(10**12) would allocate whatever the pickle asks for.
    def build(*args: Any) -> Any:
        if args and isinstance(args[0], int):
            raise pickle.UnpicklingError("refused: sized allocation")
        return make(*args)

    return build


def _latin1_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Pickle protocol 2 stores bytes (and dates) as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refused: only latin1 text encoding")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "str"): str,
    ("builtins", "bytes"): _no_int_arg(bytes),
    ("builtins", "bytearray"): _no_int_arg(bytearray),
    ("builtins", "int"): int,
    ("builtins", "float"): float,
    ("builtins", "complex"): complex,
    ("builtins", "bool"): bool,
    ("builtins", "NoneType"): type(None),
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
}
# Protocol 2 pickles name the builtins module the Python 2 way.
_ALLOWED |= {("__builtin__", n): obj for (m, n), obj in list(_ALLOWED.items()) if m == "builtins"}


class _Opaque:
    """Stands in for a class the pickle names but the allow-list refuses.

    Constructed, called or given state, it only records what it got, so the structure
    around it (an exception's message, a dataclass's fields) can still be shown.
    """

    __slots__ = ("_args", "_state", "_target")
    _args: tuple[Any, ...]
    _state: Any
    _target: _Opaque | None
    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> _Opaque:
        obj = object.__new__(cls)
        obj._args = args + tuple(kwargs.items())
        obj._state = None
        obj._target = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args + tuple(kwargs.items())

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Opaque:
        # The result of calling a refused thing, e.g. getattr(os, "system")("...").
        call = type(self)(*args, **kwargs)
        call._target = self
        return call


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.refused: list[str] = []
        self._placeholders: dict[str, type[_Opaque]] = {}
        # UUID is a Python class: a pickle may BUILD attributes onto the class it names.
        # Give each load its own throwaway subclass so that nothing outlives the load.
        self._uuid = type("UUID", (uuid.UUID,), {"__slots__": ()})

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if (module, name) == ("uuid", "UUID"):
            return self._uuid
        qualname = f"{module}.{name}"
        if qualname not in self._placeholders:
            self.refused.append(qualname)
            self._placeholders[qualname] = type(
                "Opaque", (_Opaque,), {"__slots__": (), "qualname": qualname}
            )
        return self._placeholders[qualname]

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused: persistent id")


def _describe_pickle(data: bytes, limit: int) -> str:
    unpickler = _RestrictedUnpickler(data)
    try:
        value = unpickler.load()
    except Exception:
        return _pickle_summary(data)
    shown = _Renderer(limit).render(value)
    if isinstance(value, _Opaque):
        return f"pickled {shown} (not decoded: class not allow-listed)"
    if unpickler.refused:
        names = ", ".join(unpickler.refused[:5])
        return f"{shown}\n(not decoded, classes not allow-listed: {names})"
    return shown


def _pickle_summary(data: bytes) -> str:
    """What a pickle names and says, read from its opcodes without running them."""
    protocol: int | None = None
    names: list[str] = []
    texts: list[str] = []
    pushed: list[Any] = []  # string pushes, to resolve STACK_GLOBAL's module and name
    memo: dict[int, Any] = {}
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(data)):
            if count > 100_000:
                break
            if op.name == "PROTO":
                protocol = arg
            elif op.name in ("GLOBAL", "INST"):
                names.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(pushed) >= 2:
                names.append(f"{pushed[-2]}.{pushed[-1]}")
            elif isinstance(arg, str) and "UNICODE" in op.name:
                pushed.append(arg)
                if len(texts) < 3 and len(arg) > 1:
                    texts.append(arg)
            elif op.name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(str(arg))] = pushed[-1] if pushed else None
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                pushed.append(memo.get(int(str(arg))))
    except Exception:
        pass  # truncated or malformed: report what was read before the damage
    if not names and not texts:
        return f"opaque {len(data)} bytes (unreadable pickle)"
    head = f"pickle of {len(data)} bytes"
    if protocol is not None:
        head += f" (protocol {protocol})"
    parts = [head]
    unique = list(dict.fromkeys(n for n in names if n))
    if unique:
        parts.append("naming " + ", ".join(unique[:4]))
    if texts:
        parts.append("text " + ", ".join(repr(t[:120]) for t in texts))
    return "; ".join(parts) + " (not decoded)"


# -- rendering decoded values ----------------------------------------------------------


class _TooLong(Exception):
    pass


class _Full(Exception):
    pass


class _Renderer:
    """Python-literal view of a decoded value, bounded in size and depth.

    Only allow-listed types and placeholders can appear, and nothing here calls a method
    the pickle could have chosen. Shared references are shown as often as they occur;
    the output budget bounds the work (a few bytes of pickle can nest references
    exponentially).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.size = 0

    def render(self, value: Any) -> str:
        try:
            self._pretty(value, 0, "", "", frozenset())
        except (_Full, RecursionError):
            self.lines.append(_ELLIPSIS)
        return "\n".join(self.lines)

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        if self.size > self.limit:
            raise _Full

    def _pretty(self, v: Any, indent: int, prefix: str, suffix: str, path: frozenset[int]) -> None:
        """One value, on one line when it fits, else its items one per line indented."""
        pad = " " * indent
        try:
            self._emit(pad + prefix + self._compact(v, WIDTH - indent, path) + suffix)
            return
        except _TooLong:
            pass
        opened = self._open(v, path, indent // 2)
        if opened is None:  # a scalar that is simply long
            self._emit(pad + prefix + self._scalar(v, self.limit) + suffix)
            return
        head, items, tail = opened
        self._emit(pad + prefix + head)
        inner = path | {id(v)}
        for key, item in items:
            if key is None:
                key_text = ""
            elif isinstance(v, _Opaque):
                key_text = f"{key}="
            else:
                key_text = self._compact(key, WIDTH, inner) + ": "
            self._pretty(item, indent + 2, key_text, ",", inner)
        self._emit(pad + tail + suffix)

    def _open(
        self, v: Any, path: frozenset[int], depth: int
    ) -> tuple[str, list[tuple[Any, Any]], str] | None:
        """A container's opening, (key, item) pairs and closing; None for the rest."""
        if id(v) in path or depth > _MAX_DEPTH:
            return None
        if isinstance(v, collections.OrderedDict):
            return "OrderedDict({", list(v.items()), "})"
        if isinstance(v, dict):
            return "{", list(v.items()), "}"
        if isinstance(v, list):
            return "[", [(None, x) for x in v], "]"
        if isinstance(v, tuple):
            return "(", [(None, x) for x in v], ",)" if len(v) == 1 else ")"
        if isinstance(v, set):
            return "{", [(None, x) for x in self._ordered(v)], "}"
        if isinstance(v, frozenset):
            return "frozenset({", [(None, x) for x in self._ordered(v)], "})"
        if isinstance(v, _Opaque):
            items: list[tuple[Any, Any]] = [(None, x) for x in v._args]
            if v._state is not None:
                items.append(("state", v._state))
            return self._opaque_head(v) + "(", items, ")"
        return None

    def _compact(self, v: Any, budget: int, path: frozenset[int]) -> str:
        """v on one line; raises _TooLong as soon as it exceeds budget characters."""
        out: list[str] = []
        room = [budget]

        def put(s: str) -> None:
            out.append(s)
            room[0] -= len(s)
            if room[0] < 0:
                raise _TooLong

        def walk(x: Any, depth: int, trail: frozenset[int]) -> None:
            opened = self._open(x, trail, depth)
            if opened is None:
                if id(x) in trail or depth > _MAX_DEPTH:
                    put("...")
                else:
                    put(self._scalar(x, room[0] + 1))
                return
            head, items, tail = opened
            put(head)
            inner = trail | {id(x)}
            for i, (key, item) in enumerate(items):
                if i:
                    put(", ")
                if key is not None and isinstance(x, _Opaque):
                    put(f"{key}=")
                elif key is not None:
                    walk(key, depth + 1, inner)
                    put(": ")
                walk(item, depth + 1, inner)
            put(tail)

        walk(v, 0, path)
        return "".join(out)

    def _opaque_head(self, v: _Opaque) -> str:
        target = v._target
        if target is None:
            return v.qualname
        try:
            return self._compact(target, WIDTH, frozenset({id(v)}))
        except _TooLong:
            return f"{target.qualname}(...)"

    @staticmethod
    def _ordered(items: set[Any] | frozenset[Any]) -> list[Any]:
        # Set order follows string hashing, which changes per process: sort by a bounded
        # text form so that the screen does not reshuffle between runs.
        return sorted(items, key=lambda x: (type(x).__name__, _Renderer._scalar(x, 64)))

    @staticmethod
    def _scalar(v: Any, room: int) -> str:
        room = max(room, 8)
        try:
            if v is None or isinstance(v, bool | float | complex):
                return repr(v)
            if isinstance(v, int):
                if v.bit_length() > 1000:
                    return f"<int of {v.bit_length()} bits>"
                return repr(v)
            if isinstance(v, str):
                return repr(v[:room]) + (_ELLIPSIS if len(v) > room else "")
            if isinstance(v, bytes | bytearray):
                shown = repr(bytes(v[:room]))
                more = f"{_ELLIPSIS} ({len(v)} bytes)" if len(v) > room else ""
                return (shown if isinstance(v, bytes) else f"bytearray({shown})") + more
            if isinstance(v, datetime.datetime | datetime.date | datetime.time):
                return f"{type(v).__name__}({v.isoformat()!r})"
            if isinstance(v, datetime.timedelta):
                return f"timedelta({str(v)!r})"
            if isinstance(v, datetime.timezone):
                return f"timezone({datetime.timezone.tzname(v, None)!r})"
            if isinstance(v, decimal.Decimal):
                return f"Decimal({decimal.Decimal.__str__(v)!r})"
            if isinstance(v, uuid.UUID):
                return f"UUID({uuid.UUID.__str__(v)!r})"
            if isinstance(v, type):
                return f"<class {getattr(v, '__name__', '?')}>"
            if isinstance(v, _Opaque):
                return f"{v.qualname}(...)"
            if isinstance(v, list):
                return "[...]"
            if isinstance(v, dict | tuple | set | frozenset):
                return "{...}" if not isinstance(v, tuple) else "(...)"
        except Exception:
            pass
        return f"<{type(v).__name__}>"
