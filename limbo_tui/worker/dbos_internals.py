"""The one seam onto DBOS's private modules, for what DBOS offers no public API for.

Only the standard library and dbos are imported: this file also runs in a release's own
interpreter (demo.py in a foreign worker; release_helper.py loads it by path). Each
private name is imported inside the function that needs it, so a release without one
fails that call only. tests/test_dbos_internals.py calls every function on the installed
DBOS and on dbos 2.8.0: a release that moves one of these fails there first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def max_recovery_attempts(func: Callable[..., Any]) -> int | None:
    """What this workflow function was registered with (DBOS reads it at each dispatch and
    stores it nowhere); None when it is no registered workflow or has no maximum."""
    from dbos._registrations import get_func_info

    info = get_func_info(func)
    maximum = None if info is None else info.max_recovery_attempts
    return None if maximum is None else int(maximum)


def set_max_recovery_attempts(func: Callable[..., Any], maximum: int) -> None:
    """Register this workflow function's max_recovery_attempts anew: DBOS reads it at
    the next dispatch (the demo's `[experiment]` bounds change without a relaunch)."""
    from dbos._registrations import get_func_info

    info = get_func_info(func)
    if info is None:
        raise RuntimeError(f"{func.__name__} is not registered with DBOS")
    info.max_recovery_attempts = maximum


def registered_workflows() -> dict[str, Callable[..., Any]]:
    """Every workflow function registered in this process, by its registered name."""
    from dbos._dbos import _get_or_create_dbos_registry

    return dict(_get_or_create_dbos_registry().workflow_info_map)


def migrate(engine: Any, schema: str) -> None:
    """DBOS's own migrations of its system schema, on this SQLAlchemy engine, as
    DBOS.launch runs them (the schema first, then every migration; LISTEN/NOTIFY on)."""
    from dbos import _migration

    _migration.ensure_dbos_schema(engine, schema)
    _migration.run_dbos_migrations(engine, schema, True)
