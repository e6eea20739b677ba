"""Which Python runs the process worker, and how it finds limbo-tui's worker code.

Three choices, from settings.worker:
- python = ".venv/bin/python": the user's own interpreter, so the user's dbos runs the
  user's code (worker.imports) and limbo-tui never installs into that environment;
- dbos = "2.8.0": the venv of that release in limbo-tui's cache (releases.py);
- neither: limbo-tui's own interpreter.

A foreign interpreter gets limbo-tui's `limbo_tui` package, and nothing else of
limbo-tui's environment, through PYTHONPATH: a directory holding only a link to the
package. Its own dbos, sqlalchemy and psycopg are the ones imported. The worker code that
runs there (process_main, dbos_launch, demo, progress, settings, errors, terminal_text)
needs nothing but the standard library and dbos.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import limbo_tui
from limbo_tui import releases
from limbo_tui.errors import ConfigError
from limbo_tui.private_paths import ensure_private_tree
from limbo_tui.settings import Settings


@dataclass(frozen=True)
class Interpreter:
    python: str
    # Variables to add to the worker's environment.
    env: dict[str, str] = field(default_factory=dict)


def worker_interpreter(settings: Settings) -> Interpreter:
    """The process worker's interpreter; provisions a --dbos release on first use."""
    worker = settings.worker
    if worker.python:
        python = Path(worker.python).expanduser()
        if not python.is_absolute():
            python = Path.cwd() / python
        if not python.exists():
            raise ConfigError(
                f"worker.python {worker.python!r} does not exist (looked at {python}): "
                "point it at your project's interpreter, e.g. .venv/bin/python"
            )
        return Interpreter(str(python), _package_path())
    if worker.dbos:
        return Interpreter(str(releases.ensure_release(worker.dbos)), _package_path())
    return Interpreter(sys.executable)


def foreign_release(settings: Settings) -> str | None:
    """The dbos release of `[worker] python` (asked through the helper), if it is not
    limbo-tui's own; None otherwise, or when it cannot tell."""
    if not settings.worker.python:
        return None
    from limbo_tui.worker.release_client import (
        ReleaseActionError,
        call_helper,
        installed_release,
    )

    try:
        python = worker_interpreter(settings).python
        release = str(call_helper(Path(python), {"op": "version"}, timeout=60).get("dbos"))
    except (ConfigError, ReleaseActionError):
        return None
    return None if release == installed_release() else release


def _package_path() -> dict[str, str]:
    package = Path(limbo_tui.__file__).resolve().parent
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:16]
    shim = releases.cache_root().parent / "pythonpath" / digest
    link = shim / "limbo_tui"
    # The worker imports limbo_tui through this link: nobody else may write here.
    ensure_private_tree(releases.cache_root().parent, shim, what="limbo-tui's cache directory")
    if not link.exists():
        temporary = shim / f".limbo_tui-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(package, target_is_directory=True)
        temporary.replace(link)  # atomic: two workers starting at once both succeed
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(shim) + (os.pathsep + existing if existing else "")}
