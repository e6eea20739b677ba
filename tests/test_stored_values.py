"""Stored values are shown readably, boundedly, and never run code or drive the terminal."""

from __future__ import annotations

import base64
import collections
import datetime
import decimal
import json
import os
import pickle
import sys
import time
import uuid
from pathlib import Path

import pytest
from dbos._error import MaxRecoveryAttemptsExceededError

import limbo_tui.stored_values as ser
from limbo_tui.stored_values import describe


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pickled(value: object, protocol: int = pickle.DEFAULT_PROTOCOL) -> str:
    return b64(pickle.dumps(value, protocol=protocol))


# -- describe: what the user reads -----------------------------------------------------------


def test_seed_inputs_pickled_by_dbos_read_as_python() -> None:
    assert describe(pickled({"args": (6, 5), "kwargs": {}}), "py_pickle") == (
        "{'args': (6, 5), 'kwargs': {}}"
    )


def test_old_rows_without_serialization_are_base64_pickles() -> None:
    assert describe(pickled([1, "two"], protocol=2), None) == "[1, 'two']"


def test_protocol_0_pickle_with_dates_and_bytes() -> None:
    value = {"d": datetime.date(2020, 1, 2), "b": b"\x00x"}
    assert describe(pickled(value, protocol=0), "py_pickle") == (
        "{'d': date('2020-01-02'), 'b': b'\\x00x'}"
    )


def test_allow_listed_types_are_decoded() -> None:
    value = [
        uuid.UUID(int=5),
        datetime.datetime(2026, 2, 5, 16, 22, tzinfo=datetime.UTC),
        datetime.timedelta(seconds=90),
        decimal.Decimal("1.50"),
        collections.OrderedDict(a=1),
        {3, 1, 2},
        frozenset({"x"}),
        bytearray(b"ab"),
        1 + 2j,
        None,
        True,
        (1,),
    ]
    shown = describe(pickled(value), "py_pickle")
    for part in (
        "UUID('00000000-0000-0000-0000-000000000005')",
        "datetime('2026-02-05T16:22:00+00:00')",
        "timedelta('0:01:30')",
        "Decimal('1.50')",
        "OrderedDict({'a': 1})",
        "{1, 2, 3}",
        "frozenset({'x'})",
        "bytearray(b'ab')",
        "(1+2j)",
        "None",
        "True",
        "(1,)",
    ):
        assert part in shown
    assert "not decoded" not in shown


def test_dbos_exception_is_shown_without_loading_its_class() -> None:
    raw = pickled(MaxRecoveryAttemptsExceededError("wf-1", 2))
    assert describe(raw, "py_pickle") == (
        "pickled dbos._error.MaxRecoveryAttemptsExceededError('wf-1', 2) "
        "(not decoded: class not allow-listed)"
    )


class Point:  # a user's class: not allow-listed
    def __init__(self) -> None:
        self.x = 1


def test_unknown_classes_inside_a_value_are_named_not_built() -> None:
    shown = describe(pickled({"p": Point()}), "py_pickle")
    assert shown.startswith("{'p': test_stored_values.Point(state={'x': 1})}")
    assert "classes not allow-listed: test_stored_values.Point" in shown


def test_portable_json_is_pretty_printed() -> None:
    short = json.dumps({"positionalArgs": [6, 5], "namedArgs": {}})
    assert describe(short, "portable_json") == '{"positionalArgs": [6, 5], "namedArgs": {}}'
    long_value = {"name": "DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded", "message": "x" * 80}
    assert describe(json.dumps(long_value), "portable_json").splitlines() == [
        "{",
        '  "name": "DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded",',
        f'  "message": "{"x" * 80}"',
        "}",
    ]


def test_escapes_hidden_in_json_strings_are_removed() -> None:
    raw = json.dumps({"message": "boom\x1b]52;c;aGk=\x07\x1b[2J"})
    shown = describe(raw, "portable_json")
    # JSON keeps them as visible \u escapes; nothing raw reaches the terminal.
    assert shown == '{"message": "boom\\u001b]52;c;aGk=\\u0007\\u001b[2J"}'
    assert "\x1b" not in shown and "\x07" not in shown


def test_escapes_hidden_in_pickled_strings_are_not_emitted_raw() -> None:
    shown = describe(pickled("\x1b[2Jhi"), "py_pickle")
    assert "\x1b" not in shown and "hi" in shown


def test_other_formats_are_opaque() -> None:
    assert describe(None, "py_pickle") == "(none)"
    assert describe("not json, not pickle", "my_serializer") == (
        "opaque 20 bytes (serialization 'my_serializer', not decoded)"
    )
    assert describe("%%%", "py_pickle").startswith("opaque 3 bytes")
    assert describe("{broken", "portable_json") == "opaque 7 bytes (not valid JSON)"
    # A custom serializer that happens to write JSON is still readable.
    assert describe('{"a": 1}', "my_serializer") == '{"a": 1}'


def test_truncated_pickle_gets_an_opcode_summary() -> None:
    data = pickle.dumps(MaxRecoveryAttemptsExceededError("wf-1", 2))
    shown = describe(b64(data[:-3]), "py_pickle")
    assert "dbos._error.MaxRecoveryAttemptsExceededError" in shown
    assert shown.endswith("(not decoded)")


@pytest.mark.parametrize("limit", [1, 10, 80, 500, 4000])
def test_output_is_bounded(limit: int) -> None:
    big = {f"key{i}": list(range(50)) for i in range(200)}
    for raw, fmt in ((pickled(big), "py_pickle"), (json.dumps(big), "portable_json")):
        shown = describe(raw, fmt, limit=limit)
        assert len(shown) <= limit
        assert shown.endswith("…")


def test_huge_values_are_not_decoded() -> None:
    raw = pickled("x" * (ser.MAX_DECODE_BYTES + 10))
    assert describe(raw, "py_pickle").endswith("bytes (too large to decode)")


# -- describe: hostile pickles ---------------------------------------------------------------


class RunsCommand:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.path}",))


class Evals:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (eval, (f"open({str(self.path)!r}, 'w').write('x')",))


class WritesFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (str(self.path), "w"))


def _hostile(path: Path) -> list[bytes]:
    target = str(path).encode()
    return [
        pickle.dumps(RunsCommand(path)),
        pickle.dumps(Evals(path)),
        pickle.dumps(WritesFile(path)),
        pickle.dumps({"inner": [RunsCommand(path)]}, protocol=2),
        # Hand-written protocol 0: os.system via GLOBAL, and getattr(__import__('os')).
        b"cos\nsystem\n(S'touch " + target + b"'\ntR.",
        b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'touch "
        + target
        + b"'\ntR.",
    ]


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("fmt", ["py_pickle", None])
def test_malicious_pickles_do_not_run(tmp_path: Path, case: int, fmt: str | None) -> None:
    target = tmp_path / "pwned"
    shown = describe(b64(_hostile(target)[case]), fmt)
    assert not target.exists()
    # Header-less protocol 0 is only believed to be a pickle when the row says so.
    assert "not decoded" in shown or (fmt is None and shown.startswith("opaque"))


def test_refused_call_is_shown_for_what_it_would_have_done() -> None:
    shown = describe(pickled(RunsCommand(Path("/nonexistent/x"))), "py_pickle")
    assert shown == (
        f"pickled {os.system.__module__}.system('touch /nonexistent/x') "
        "(not decoded: class not allow-listed)"
    )


def test_no_module_is_imported_on_a_pickles_behalf() -> None:
    assert "antigravity" not in sys.modules
    describe(b64(b"cantigravity\nfly\n(tR."), "py_pickle")
    assert "antigravity" not in sys.modules


def test_a_pickle_cannot_patch_an_allow_listed_class() -> None:
    # BUILD with slot state onto the uuid.UUID class itself: setattr(UUID, '__str__', list)
    payload = b"cuuid\nUUID\n(N(dS'__str__'\ncbuiltins\nlist\nstb."
    original = uuid.UUID.__str__
    describe(b64(payload), "py_pickle")
    assert uuid.UUID.__str__ is original
    assert str(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"


def test_allocation_bomb_is_refused_quickly() -> None:
    payload = b"cbuiltins\nbytes\n(I100000000000\ntR."
    start = time.perf_counter()
    shown = describe(b64(payload), "py_pickle")
    assert time.perf_counter() - start < 1
    assert "not decoded" in shown


def test_exponential_shared_references_and_cycles_stay_bounded() -> None:
    nested: list[object] = []
    for _ in range(60):
        nested = [nested, nested]  # 2**60 leaves, a few hundred bytes of pickle
    start = time.perf_counter()
    shown = describe(pickled(nested), "py_pickle", limit=2000)
    assert time.perf_counter() - start < 1 and len(shown) <= 2000
    loop: list[object] = []
    loop.append(loop)
    assert describe(pickled(loop), "py_pickle") == "[...]"


def test_the_module_never_calls_the_stock_unpickler() -> None:
    source = Path(ser.__file__).read_text()
    # Spelled in pieces so that a grep of the repository for the call finds nothing.
    for call in ("pickle." + "loads", "pickle." + "load("):
        assert call not in source


@pytest.mark.parametrize("case", range(6))
def test_a_sleep_deadline_never_runs_a_pickle(tmp_path: Path, case: int) -> None:
    # decode_number reads DBOS.sleep's wake-up time (waits.py): a hostile row is no number.
    target = tmp_path / "pwned"
    assert ser.decode_number(b64(_hostile(target)[case]), "py_pickle") is None
    assert not target.exists()


def test_a_sleep_deadline_is_read_from_json_or_a_plain_pickle() -> None:
    assert ser.decode_number("1767225600.5", "portable_json") == 1767225600.5
    assert ser.decode_number(pickled(12.5), "py_pickle") == 12.5
    assert ser.decode_number('"soon"', "portable_json") is None
    assert ser.decode_number("true", "portable_json") is None
    assert ser.decode_number(None, None) is None
