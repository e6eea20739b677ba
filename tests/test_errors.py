"""errors.one_line: the one way an error becomes a line a user reads (header, notification,
worker state, stderr): first line only, password masked, terminal-safe, bounded."""

from __future__ import annotations

from limbo_tui.errors import LimboError, first_line, one_line


class _Wrapped(Exception):
    """SQLAlchemy's shape: the driver's error in `.orig`, the SQL on further lines."""

    def __init__(self, orig: Exception) -> None:
        super().__init__(f"(wrapped) {orig}\n[SQL: SELECT 1]")
        self.orig = orig


def test_an_error_quoting_the_database_cannot_drive_the_terminal() -> None:
    # A workflow name or stored error with an OSC title change and a bell in it.
    line = one_line(RuntimeError("no workflow \x1b]0;owned\x07evil\x07 here\nSQL: ..."))
    assert line == "RuntimeError: no workflow evil\ufffd here"
    assert "\x1b" not in one_line("plain \x1b[2Jtext")


def test_only_the_cause_first_line_and_no_password() -> None:
    exc = _Wrapped(ConnectionError("cannot reach postgresql://me:s3cret@db:5432/x"))
    assert one_line(exc) == "ConnectionError: cannot reach postgresql://me:***@db:5432/x"
    assert one_line(LimboError("already for the user\nmore")) == "already for the user"


def test_long_errors_end_in_an_ellipsis() -> None:
    line = one_line("x" * 500, 40)
    assert len(line) == 40 and line.endswith("…")


def test_first_line_is_the_errors_own_first_line_or_its_type() -> None:
    # What a message quotes of a driver's error: not its statement, nor an empty reason.
    assert first_line(ValueError("bad role\nDETAIL: the statement ...")) == "bad role"
    assert first_line(ValueError("  \n")) == "ValueError"
    assert one_line(ValueError("")) == "ValueError"
    assert one_line(LimboError("fix it\nmore")) == "fix it"
