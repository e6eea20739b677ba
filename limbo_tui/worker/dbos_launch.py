"""Launching limbo-tui's DBOS worker: shared by the thread worker and the child process.

One place decides the DBOS configuration (pinned executor id and application version,
so that a relaunch recovers the PENDING work of the previous one), where DBOS logs go
(a file: the terminal belongs to the UI), which user modules are imported first
(worker.imports), and how the experiment queue is registered (DBOS 3.x queues live in
the database and are owned by one application).
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from limbo_tui.errors import ConfigError, LimboError, one_line
from limbo_tui.private_paths import ensure_private_dir, open_private_file
from limbo_tui.settings import Settings
from limbo_tui.urls import sqlalchemy_url
from limbo_tui.worker import demo
from limbo_tui.worker.protocol import APP_NAME

# How often the experiment queue is polled (DBOS's default; kept for faithfulness).
QUEUE_POLLING_INTERVAL_S = 1.0
_LOG_HANDLER_NAME = "limbo-tui-worker-log"


def default_log_path(kind: str) -> Path:
    """Where the worker's DBOS log goes unless the caller says otherwise.

    The fallback under /tmp has a name anyone can predict: it is used only if it is a
    private directory of ours (private_paths), else refused in one line.
    """
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    directory = base / "limbo-tui"
    try:
        base.mkdir(parents=True, exist_ok=True)
        ensure_private_dir(directory, what="the worker log directory")
        probe = directory / ".probe"
        probe.touch()
        probe.unlink()
    except (OSError, LimboError):
        directory = Path(tempfile.gettempdir()) / f"limbo-tui-{os.getuid()}"
        ensure_private_dir(directory, what="the worker log directory")
    return directory / f"worker-{kind}.log"


class _PrivateFileHandler(logging.FileHandler):
    """A FileHandler whose file is created 0600 and never followed through a symlink:
    the log holds workflow names, errors and step outputs."""

    def _open(self) -> io.TextIOWrapper:
        fd = open_private_file(Path(self.baseFilename), what="the worker log")
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def route_dbos_logs(log_path: Path) -> None:
    """Send the `dbos` logger to log_path only (idempotent).

    DBOS adds a console handler only when the logger has none, so adding ours first keeps
    DBOS's lines (and the demo's) off the terminal the UI draws on.
    """
    logger = logging.getLogger("dbos")
    for handler in list(logger.handlers):
        if handler.name == _LOG_HANDLER_NAME:
            if getattr(handler, "baseFilename", None) == str(log_path.resolve()):
                return
            logger.removeHandler(handler)
            handler.close()
        elif handler.name == "__dbos_console_log_handler__":
            logger.removeHandler(handler)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = _PrivateFileHandler(log_path, encoding="utf-8")
    handler.name = _LOG_HANDLER_NAME
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s [%(levelname)8s] (%(name)s:%(filename)s:%(lineno)s) %(message)s",
            datefmt="%H:%M:%S",
        )
    )
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def import_user_modules(modules: tuple[str, ...]) -> None:
    """Import worker.imports so the user's workflows are registered (and recovered)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(
                f"worker.imports: cannot import {name!r} ({one_line(exc)}); "
                "check the module name and that it is importable from here"
            ) from None


def dbos_config(url: str, settings: Settings, engine: sa.Engine | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": APP_NAME,
        "system_database_url": sqlalchemy_url(url),
        "dbos_system_schema": settings.database.schema,
        "executor_id": settings.worker.executor_id,
        "application_version": settings.worker.app_version,
        "log_level": "INFO",
        # No tracing exporters: a monitor's embedded worker must not phone home.
        "enable_otlp": False,
        # Never migrate the schema of a database we monitor: the embedded one is prepared
        # before the worker starts (database.prepare_dbos_schema), and a user's database
        # belongs to their DBOS app. DBOS then only verifies the schema at launch, and a
        # mismatch leaves the worker DOWN with the reason instead of altering their tables.
        "run_migrations": False,
        # DBOS 2.x serves an admin API on port 3001 by default: a fixed port that a
        # second worker (or anything else) would collide with, and nothing here uses.
        "run_admin_server": False,
    }
    if engine is not None:
        config["system_database_engine"] = engine
    return config


def prepare(settings: Settings) -> None:
    """Everything before DBOS(config): the user's modules, the demo's limits."""
    import_user_modules(settings.worker.imports)
    demo.configure(
        settings.experiment.max_recovery_attempts,
        settings.experiment.child_max_recovery_attempts,
    )


def queues_live_in_the_database() -> bool:
    """DBOS 3.x registers queues in the database (DBOS.register_queue, after launch);
    2.x declares them in the process (Queue(...), before launch)."""
    from dbos import DBOS

    return hasattr(DBOS, "register_queue")


def declare_experiment_queue(settings: Settings) -> None:
    """DBOS 2.x: declare the experiment queue before launch, as the seed's main.py does
    (a no-op on 3.x, whose Queue(...) raises: register_experiment_queue does it there)."""
    if queues_live_in_the_database():
        return
    from dbos import Queue

    Queue(settings.experiment.queue, polling_interval_sec=QUEUE_POLLING_INTERVAL_S)


def register_experiment_queue(settings: Settings) -> str | None:
    """Register the experiment queue for this application; a one-line problem or None.

    A queue name already owned by another application cannot be shared (DBOS 3.x): the
    worker then runs without it and says so. On 2.x the queue was declared before launch.
    """
    from dbos import DBOS

    if not queues_live_in_the_database():
        return None
    queue = settings.experiment.queue
    try:
        DBOS.register_queue(
            queue,
            polling_interval_sec=QUEUE_POLLING_INTERVAL_S,
            on_conflict="never_update",
        )
    except Exception as exc:
        return (
            f"queue {queue!r} cannot be used by limbo-tui ({one_line(exc)}); "
            "choose another experiment.queue"
        )
    return None
