"""libpq's own connection-string parser and option table, without importing psycopg.

`psycopg.conninfo` calls these same libpq functions (PQconninfoParse, PQconndefaults);
importing psycopg costs a monitor-only session ~0.2-0.5 s of start-up, so limbo-tui loads
the libpq that psycopg's wheel bundles (or the system's) directly, through ctypes, and
falls back to psycopg when neither can be loaded. tests/test_urls.py checks that both
agree.
"""

from __future__ import annotations

import ctypes
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path


class ConninfoError(ValueError):
    """libpq refused the string; the message is libpq's (it may quote the input)."""


@dataclass(frozen=True)
class Option:
    keyword: str
    envvar: str | None
    compiled: str | None
    secret: bool  # dispchar "*": a password-like value


class _PQconninfoOption(ctypes.Structure):
    _fields_ = (
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    )


def _candidates() -> list[str]:
    found: list[str] = []
    spec = importlib.util.find_spec("psycopg_binary")
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        for folder in (package.parent / "psycopg_binary.libs", package / ".dylibs"):
            found += sorted(str(p) for p in folder.glob("libpq*")) if folder.is_dir() else []
    return [*found, "libpq.so.5", "libpq.5.dylib"]


@cache
def _library() -> ctypes.CDLL | None:
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        option = ctypes.POINTER(_PQconninfoOption)
        lib.PQconninfoParse.restype = option
        lib.PQconninfoParse.argtypes = (ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p))
        lib.PQconndefaults.restype = option
        lib.PQconndefaults.argtypes = ()
        lib.PQconninfoFree.argtypes = (option,)
        lib.PQfreemem.argtypes = (ctypes.c_void_p,)
        return lib
    return None


def _walk(options: ctypes._Pointer[_PQconninfoOption]) -> list[_PQconninfoOption]:
    out = []
    i = 0
    while options[i].keyword is not None:
        out.append(options[i])
        i += 1
    return out


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


@cache
def options() -> tuple[Option, ...]:
    """Every parameter libpq knows, in libpq's order."""
    lib = _library()
    if lib is None:
        from psycopg.pq import Conninfo

        return tuple(
            Option(o.keyword.decode(), _text(o.envvar), _text(o.compiled), o.dispchar == b"*")
            for o in Conninfo.get_defaults()
        )
    table = lib.PQconndefaults()
    try:
        return tuple(
            Option(o.keyword.decode(), _text(o.envvar), _text(o.compiled), o.dispchar == b"*")
            for o in _walk(table)
        )
    finally:
        lib.PQconninfoFree(table)


def parse(text: str) -> dict[str, str]:
    """The parameters a URL or keyword DSN sets, exactly as libpq reads them (no defaults)."""
    lib = _library()
    if lib is None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            return {k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None}
        except psycopg.ProgrammingError as exc:
            raise ConninfoError(str(exc).strip()) from None
    error = ctypes.c_void_p()
    parsed = lib.PQconninfoParse(text.encode(), ctypes.byref(error))
    if not parsed:
        if not error.value:
            raise ConninfoError("out of memory")
        message = ctypes.string_at(error.value).decode(errors="replace").strip()
        lib.PQfreemem(error)
        raise ConninfoError(message)
    try:
        return {
            o.keyword.decode(): o.val.decode(errors="surrogateescape")
            for o in _walk(parsed)
            if o.val is not None
        }
    finally:
        lib.PQconninfoFree(parsed)
