"""`limbo-tui serve`: the same TUI in a web browser, through textual-serve.

Every browser tab runs its own `limbo-tui` process (textual-serve's model), started with
the flags `serve` was given, so a tab sees exactly what a terminal would. The database URL
travels to those processes in the environment, never on their command line, so neither
`ps`, textual-serve's banner nor the page title can show a password.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence

from limbo_tui.errors import EXIT_USAGE, LimboError
from limbo_tui.settings import Settings

DB_URL_ENV = "LIMBO_TUI_DB_URL"

# Options that belong to `serve` itself (with their value) and never reach a session.
_SERVE_OPTIONS = ("--host", "--port", "--public-url")
_URL_OPTION = "--db-url"


def session_argv(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """The arguments a browser session's `limbo-tui` gets, and the --db-url given, if any.

    `serve` and its own options are dropped; `--db-url` is taken out so that it can be
    passed in the environment; every other flag (present or added later) passes through.
    """
    out: list[str] = []
    url: str | None = None
    items = list(argv)
    i = 0
    dropped_command = False
    while i < len(items):
        arg = items[i]
        name, eq, value = arg.partition("=")
        if name in (*_SERVE_OPTIONS, _URL_OPTION):
            if not eq:
                i += 1
                value = items[i] if i < len(items) else ""
            if name == _URL_OPTION:
                url = value
            i += 1
            continue
        if arg == "serve" and not dropped_command:
            dropped_command = True
            i += 1
            continue
        out.append(arg)
        i += 1
    return out, url


def session_command(argv: Sequence[str]) -> str:
    """The command line textual-serve runs for each tab.

    textual-serve starts it through a shell; every part is quoted with shlex, so no
    argument can be read as shell syntax.
    """
    return shlex.join([sys.executable, "-m", "limbo_tui", *argv])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Fail with one line before the banner when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise LimboError(
            f"serve: cannot resolve --host {host!r} ({exc.strerror})", EXIT_USAGE
        ) from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError:
            raise LimboError(
                f"serve: {host}:{port} is already in use: pick another with --port", EXIT_USAGE
            ) from None


def page_url(host: str, port: int, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_serve(
    settings: Settings,
    argv: Sequence[str],
    *,
    host: str,
    port: int,
    public_url: str | None,
) -> int:
    import os

    from textual_serve.server import Server

    from limbo_tui.database import open_database
    from limbo_tui.launch import preflight

    passthrough, url = session_argv(argv)
    if url is not None:
        os.environ[DB_URL_ENV] = url
    check_port_free(host, port)
    url_shown = page_url(host, port, public_url)
    # Fails as one line before anything listens; for the embedded default it also keeps
    # the private server up for as long as `serve` runs, so every tab shares it.
    with open_database(settings) as database:
        preflight(database.url, settings.database.schema)
        if not _is_loopback(host):
            print(
                f"limbo-tui: warning: anyone who can reach {url_shown} can use every key "
                "of limbo-tui on this database; add --read-only or put it behind an "
                "authenticating proxy",
                file=sys.stderr,
            )
        print(f"limbo-tui: open {url_shown} in a browser (watching {database.display})")
        sys.stdout.flush()
        server = Server(
            session_command(passthrough),
            host=host,
            port=port,
            title="limbo-tui",
            public_url=url_shown,
        )
        server.serve()
    return 0
