"""The one kind of error a user sees: a single line, with an exit status."""

from __future__ import annotations

import re

from limbo_tui.terminal_text import safe_text

# Exit statuses shared by every subcommand (DESIGN.md, command-line contract).
EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_USAGE = 2
EXIT_LIMBO = 3


class LimboError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(LimboError):
    """A bad flag, config file, URL or schema name (exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class DatabaseError(LimboError):
    """A well-formed database that cannot be used (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNREACHABLE)


_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def first_line(error: BaseException) -> str:
    """An error's own first line (drivers add the statement, its parameters and a link
    on further lines), or its type's name when it says nothing. Not yet safe for a
    terminal: one_line makes it so, and a message that quotes it is shown through it."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """An error as one short line for a header, a notification, a status detail or stderr.

    Drivers append the SQL statement, its parameters and a help link on further lines
    (SQLAlchemy wraps the driver's error in `.orig`): only the first line of the cause is
    kept. A password in a URL is masked. The text may quote the database (a name, a
    stored error), so it is made terminal-safe here, for every caller.
    """
    if isinstance(error, BaseException):
        cause = getattr(error, "orig", None) or error
        text = first_line(cause)
        # A LimboError is already written for the user; another is named by its type.
        if str(cause).strip() and not isinstance(cause, LimboError):
            text = f"{type(cause).__name__}: {text}"
    else:
        text = error
    text = _PASSWORD_IN_URL.sub(r"\1***@", safe_text(" ".join(text.split())))
    return text if len(text) <= limit else text[: limit - 1] + "…"
