"""The one kind of error a user sees: a single line, with an exit status."""

from __future__ import annotations

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
