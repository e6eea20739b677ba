"""The `limbo-tui` command: parse arguments, load settings, dispatch, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from limbo_tui import __version__
from limbo_tui.config import Overrides, load_settings
from limbo_tui.errors import EXIT_USAGE, LimboError
from limbo_tui.settings import WORKER_MODES
from limbo_tui.terminal_text import safe_text
from limbo_tui.urls import is_sqlite

DESCRIPTION = (
    "A live terminal monitor for DBOS durable workflows: the tree of parent and child "
    "workflows with their recovery counters, which ones are stuck in limbo and why, and "
    "keys to act on them. With no database configured it runs a private PostgreSQL."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not the usage block: scripts read stderr.
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db-url",
        metavar="URL",
        default=default,
        help="DBOS system database: a libpq URL or keyword DSN (else $LIMBO_TUI_DB_URL, "
        "$DBOS_SYSTEM_DATABASE_URL, the config file, ./dbos-config.yaml, the PG* "
        "environment, else a private embedded PostgreSQL)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="limbo-tui's config file (else ./limbo-tui.toml, [tool.limbo-tui] in "
        "./pyproject.toml, ~/.config/limbo-tui/config.toml)",
    )
    parser.add_argument(
        "--schema", metavar="NAME", default=default, help="DBOS system schema (default dbos)"
    )
    parser.add_argument(
        "--worker",
        choices=WORKER_MODES,
        default=default,
        help="embedded DBOS worker: in a thread (default), a subprocess, or none",
    )
    parser.add_argument(
        "--dbos",
        metavar="RELEASE",
        default=default,
        help="run the process worker on this DBOS release, e.g. 2.8.0 (installed by uv "
        "into limbo-tui's cache on first use)",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="never write to the database: no triggers (polling), no actions",
    )
    parser.add_argument(
        "--read-write",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="on SQLite, where limbo-tui only reads by default: allow the actions DBOS "
        "supports there (cancel, resume, fork, send)",
    )
    parser.add_argument(
        "--lab",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="treat this database as a lab: run the worker and install the NOTIFY triggers "
        "without asking (the embedded database always is one)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="limbo-tui", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"limbo-tui {__version__}")
    _common(parser, suppress=False)
    parser.add_argument(
        "--record",
        metavar="FILE",
        default=None,
        help="write the session's feed to FILE (a new file) for `limbo-tui replay FILE`",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    snap = sub.add_parser(
        "snapshot",
        help="print the workflow tree and diagnoses once (exit 3 if anything is in limbo)",
    )
    snap.add_argument("--json", action="store_true", help="machine-readable output")
    _common(snap, suppress=True)

    watch = sub.add_parser("watch", help="print one JSON line per change until interrupted")
    watch.add_argument("--json", action="store_true", required=True, help="JSON lines")
    _common(watch, suppress=True)

    trig = sub.add_parser("triggers", help="manage limbo-tui's NOTIFY triggers")
    trig.add_argument("action", choices=("install", "uninstall", "status"))
    _common(trig, suppress=True)

    db = sub.add_parser("db", help="the embedded PostgreSQL server")
    db.add_argument(
        "action",
        choices=("url", "serve"),
        help="url: print its URL; serve: run it in the foreground until Ctrl+C",
    )
    _common(db, suppress=True)

    lab = sub.add_parser("lab", help="experiments on DBOS releases (embedded server)")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="LAB", parser_class=_Parser)
    lab_sub.required = True
    compare = lab_sub.add_parser(
        "compare",
        help="run the seed experiment on two DBOS releases and print where they part",
    )
    compare.add_argument("first", metavar="RELEASE", help="e.g. 2.8.0")
    compare.add_argument("second", metavar="RELEASE", help="e.g. 3.4.0")
    compare.add_argument(
        "--rounds",
        type=int,
        default=7,
        help="launches to observe at most (the first, then restarts; default 7)",
    )
    _common(compare, suppress=True)

    replay = sub.add_parser(
        "replay", help="play a session recorded with --record FILE again (no database)"
    )
    replay.add_argument("file", metavar="FILE", help="the recording")
    replay.add_argument(
        "--speed", type=float, default=1.0, help="how much faster than it happened (default 1)"
    )
    replay.add_argument(
        "--timeline",
        action="store_true",
        help="print every workflow's timeline (status changes, dispatches, steps, crashes)",
    )

    serve = sub.add_parser(
        "serve", help="serve the TUI to a web browser (each tab runs its own limbo-tui)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--public-url",
        metavar="URL",
        default=None,
        help="the address browsers use, when it is not http://HOST:PORT (a proxy)",
    )
    _common(serve, suppress=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    try:
        return _dispatch(args, raw)
    except LimboError as exc:
        print(f"limbo-tui: {safe_text(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, raw: Sequence[str]) -> int:
    if args.command == "replay":
        from limbo_tui.replay import run_replay

        # A recording needs no database and no settings: nothing is read but the file.
        return run_replay(args.file, speed=args.speed, as_timeline=args.timeline)
    settings = load_settings(
        Overrides(
            db_url=args.db_url,
            config=args.config,
            schema=args.schema,
            worker=args.worker,
            dbos=args.dbos,
            read_only=bool(args.read_only),
            read_write=bool(args.read_write),
            lab=bool(args.lab),
        ),
        os.environ,
    )
    command = args.command
    if command == "lab":
        from limbo_tui.lab_compare import run_compare

        if not 1 <= args.rounds <= 20:
            raise LimboError("--rounds must be from 1 to 20")
        return run_compare(settings, args.first, args.second, sys.stdout, args.rounds)
    if command == "db":
        from limbo_tui.database import run_db_command

        return run_db_command(settings, args.action)
    if command == "serve":
        from limbo_tui.serve import run_serve

        return run_serve(settings, raw, host=args.host, port=args.port, public_url=args.public_url)

    from limbo_tui.database import open_database
    from limbo_tui.modes import for_database

    with open_database(settings) as database:
        settings = for_database(settings, database.embedded)
        if command not in ("snapshot", "triggers"):
            # watch and the TUI run on beside the application: a monitor yields the CPU.
            from limbo_tui.priority import yield_cpu

            yield_cpu(settings)
        if command == "snapshot":
            from limbo_tui.scripting import run_snapshot

            return run_snapshot(database.url, settings, as_json=args.json)
        if command == "watch":
            from limbo_tui.scripting import run_watch

            return run_watch(
                database.url, settings, revive=database.revive if database.embedded else None
            )
        if command == "triggers":
            from limbo_tui.pg.triggers import run_triggers_command

            if is_sqlite(database.url):
                from limbo_tui.feeds import preflight

                preflight(database.url, settings.database.schema)  # the file must be there
                if args.action != "status":
                    raise LimboError(
                        "SQLite has no triggers: limbo-tui watches the file itself "
                        "(nothing to install or remove)"
                    )
                print("no triggers on SQLite: limbo-tui watches the file itself")
                return 0
            if settings.read_only and args.action != "status":
                raise LimboError(f"--read-only: refusing to {args.action} triggers")
            return run_triggers_command(database.url, settings.database.schema, args.action)
        from limbo_tui.launch import run_tui

        return run_tui(settings, database, record=getattr(args, "record", None))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
