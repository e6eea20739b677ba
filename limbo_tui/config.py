"""Settings from flags > environment > config file > defaults, with one-line errors.

A config error names the file, the line, what is wrong and what would be right. Nothing is
connected to or executed while settings are read.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from limbo_tui import dbos_config, releases
from limbo_tui.errors import ConfigError
from limbo_tui.settings import (
    EXPERIMENT_BOUNDS,
    FEED_SOURCES,
    TRIGGER_POLICIES,
    WORKER_MODES,
    Settings,
)
from limbo_tui.urls import NAMING_ENV, is_sqlite, resolve, validate_schema_name

ENV_URL_VARS = ("LIMBO_TUI_DB_URL", "DBOS_SYSTEM_DATABASE_URL")
ENV_CONFIG = "LIMBO_TUI_CONFIG"
# limbo-tui's own file in the working directory; a plain config.toml there belongs to
# whatever else lives in that directory.
CONFIG_NAME = "limbo-tui.toml"
PYPROJECT_TABLE = "limbo-tui"

# Inclusive bounds for numbers, so absurd values are refused before anything runs.
_BOUNDS: dict[str, tuple[float, float]] = {
    **{f"experiment.{name}": bounds for name, bounds in EXPERIMENT_BOUNDS.items()},
    "worker.auto_restart_s": (0, 3600),
    "worker.shutdown_wait_s": (0, 600),
    "limbo.stalled_after_s": (1, 30 * 86400),
    "limbo.enqueued_after_s": (1, 30 * 86400),
    "limbo.near_max_margin": (0, 1000),
    "feed.finished_families": (0, 100_000),
    "feed.poll_interval_s": (0.1, 3600),
    "feed.poll_min_interval_s": (0.05, 3600),
    "feed.heartbeat_s": (1, 3600),
    "feed.coalesce_ms": (0, 5000),
    "feed.nice": (0, 19),
    "ui.refresh_hz": (0.5, 60),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "worker.mode": WORKER_MODES,
    "feed.source": FEED_SOURCES,
    "feed.triggers": TRIGGER_POLICIES,
    "experiment.crash_signal": ("SIGKILL", "SIGSEGV"),
}
_TOP_LEVEL = ("limits", "read_only", "lab")
_NAME = re.compile(r"^[A-Za-z0-9_.:@/-]{1,200}$")
_PUBLICATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Overrides:
    """What the command line said; None means 'not given'."""

    db_url: str | None = None
    config: str | None = None
    schema: str | None = None
    worker: str | None = None
    dbos: str | None = None
    read_only: bool = False
    # Allow DBOS's actions where limbo-tui is read-only by default (SQLite).
    read_write: bool = False
    lab: bool = False


@dataclass(frozen=True)
class ConfigFile:
    """limbo-tui's settings in a file: a TOML of its own, or a table of pyproject.toml."""

    path: Path
    # The TOML table that holds the settings ("" = the whole file, "tool.limbo-tui").
    table: str = ""

    def __str__(self) -> str:
        return f"{self.path} [{self.table}]" if self.table else str(self.path)


def find_config_file(explicit: str | None, env: Mapping[str, str]) -> ConfigFile | None:
    """--config, $LIMBO_TUI_CONFIG, ./limbo-tui.toml, [tool.limbo-tui] of ./pyproject.toml,
    then the user config dir. A file of another tool (a Hugo site's config.toml) is never
    read."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist: check the --config path")
        return _own_table(path, required=True)
    if env.get(ENV_CONFIG):
        path = Path(env[ENV_CONFIG]).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} (from ${ENV_CONFIG}) does not exist")
        return _own_table(path, required=True)
    local = Path.cwd() / CONFIG_NAME
    if local.is_file():
        return ConfigFile(local)
    pyproject = Path.cwd() / "pyproject.toml"
    if pyproject.is_file():
        found = _own_table(pyproject, required=False)
        if found is not None:
            return found
    user = Path(platformdirs.user_config_dir("limbo-tui")) / "config.toml"
    return ConfigFile(user) if user.is_file() else None


def _own_table(path: Path, *, required: bool) -> ConfigFile | None:
    if path.name != "pyproject.toml":
        return ConfigFile(path)
    data = _read_toml(path)
    tool = data.get("tool")
    if isinstance(tool, dict) and PYPROJECT_TABLE in tool:
        return ConfigFile(path, f"tool.{PYPROJECT_TABLE}")
    if required:
        raise ConfigError(
            f"{path} has no [tool.{PYPROJECT_TABLE}] table: add one, or drop --config"
        )
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_settings(overrides: Overrides, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    found = find_config_file(overrides.config, env)
    settings = Settings()
    if found is not None:
        settings = _apply_file(settings, found)

    db = settings.database
    schema, schema_source = db.schema, db.schema_source
    url, source, named_schema = _database_url(overrides, settings, env)
    if named_schema and schema_source == "default":
        schema, schema_source = named_schema, source
    if overrides.schema is not None:
        schema, schema_source = overrides.schema, "--schema"
    if url is not None:
        url = resolve(url, source, env)
    try:
        validate_schema_name(schema)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {schema_source})") from None

    worker = settings.worker
    if overrides.worker is not None:
        if overrides.worker not in WORKER_MODES:
            raise ConfigError(
                f"--worker {overrides.worker!r} is not a worker mode: use one of "
                + ", ".join(WORKER_MODES)
            )
        worker = dataclasses.replace(
            worker,
            mode=overrides.worker,
            mode_source="--worker",
        )
    if overrides.dbos is not None:
        releases.parse_release(overrides.dbos, "--dbos")
        worker = dataclasses.replace(worker, dbos=overrides.dbos.strip())
    if worker.dbos is not None and worker.python is not None:
        raise ConfigError(
            "worker.dbos and worker.python both choose the worker's interpreter: keep one "
            "(python runs your own environment's dbos; dbos provisions that release)"
        )
    if worker.python is not None and worker.mode == "thread":
        raise ConfigError(
            f"worker.python = {worker.python!r} is the process worker's interpreter: add "
            '--worker process (or [worker] mode = "process")'
        )
    if worker.dbos is not None and worker.mode != "process":
        raise ConfigError(
            f"dbos {worker.dbos} runs in its own interpreter: add --worker process "
            '(or [worker] mode = "process")'
        )
    # A SQLite file belongs to the application that writes it, and SQLite has one writer
    # at a time: limbo-tui only reads it unless told --read-write (then DBOS's own client
    # acts there), and never runs its embedded worker on it.
    sqlite = url is not None and is_sqlite(url)
    if sqlite:
        worker = dataclasses.replace(worker, mode="none")
    sqlite_read_only = sqlite and not overrides.read_write
    return dataclasses.replace(
        settings,
        database=dataclasses.replace(
            db, url=url, url_source=source, schema=schema, schema_source=schema_source
        ),
        worker=worker,
        read_only=settings.read_only or overrides.read_only or sqlite_read_only,
        lab=settings.lab or overrides.lab,
        config_path=str(found) if found else None,
    )


def _database_url(
    overrides: Overrides, settings: Settings, env: Mapping[str, str]
) -> tuple[str | None, str, str | None]:
    """(connection string, where it came from, the schema named with it).

    The first that names a database (README, "Which database"): --db-url, the URL
    variables, limbo-tui's config, ./dbos-config.yaml, the PG* environment; else None,
    the embedded default. Something that names a database is never skipped over."""
    if overrides.db_url is not None:
        if not overrides.db_url.strip():
            # Most likely an unset shell variable: libpq would read "" as "all defaults".
            raise ConfigError(
                "--db-url is empty: give a URL like postgresql://user@host:5432/db or a "
                "keyword DSN (host=... dbname=...)"
            )
        return overrides.db_url, "--db-url", None
    for name in ENV_URL_VARS:
        if env.get(name):
            return env[name], name, None
    if settings.database.url is not None:
        return settings.database.url, settings.database.url_source, None
    yaml_path = dbos_config.find()
    if yaml_path is not None:
        found = dbos_config.load(yaml_path, env)
        source = f"{yaml_path} ({found.derived_from})" if found.derived_from else str(yaml_path)
        return found.system_database_url, source, found.schema
    named = [name for name in NAMING_ENV if env.get(name)]
    if named:
        return "", "$" + ", $".join(named), None
    return None, "default", None


def _apply_file(settings: Settings, found: ConfigFile) -> Settings:
    data = _read_toml(found.path)
    for part in found.table.split(".") if found.table else ():
        data = data[part]
    if not isinstance(data, dict):
        raise ConfigError(f"{found}: must be a table of settings")
    locate = _Locator(found.path, found.path.read_text(encoding="utf-8"), found.table)
    values: dict[str, Any] = {}
    sections = {f.name: f for f in dataclasses.fields(Settings) if _is_section(f)}
    for key, value in data.items():
        if key == "limits":
            values["limits"] = _limits(value, locate)
        elif key in ("read_only", "lab"):
            values[key] = _check(locate, "", key, value, bool)
        elif key in sections:
            section_type = typing.get_type_hints(Settings)[key]
            current = getattr(settings, key)
            values[key] = _section(current, section_type, key, value, locate)
        else:
            valid = ", ".join([*sections, *_TOP_LEVEL])
            raise ConfigError(
                f"{locate.at(key)}: unknown setting {key!r}; valid top-level names: {valid}"
            )
    result = dataclasses.replace(settings, **values)
    _check_experiment(result, locate)
    return result


def _is_section(f: dataclasses.Field[Any]) -> bool:
    return f.name not in (*_TOP_LEVEL, "config_path")


def _section(current: Any, section_type: type, name: str, value: Any, locate: _Locator) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{locate.at(name)}: {name} must be a table ([{name}])")
    hints = typing.get_type_hints(section_type)
    valid = [f.name for f in dataclasses.fields(section_type) if not f.name.endswith("_source")]
    changes: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in valid:
            raise ConfigError(
                f"{locate.at(key, name)}: unknown setting {name}.{key}; valid names in "
                f"[{name}]: {', '.join(valid)}"
            )
        changes[key] = _check(locate, name, key, raw, hints[key])
        if name == "database" and key in ("url", "schema") and changes[key] is not None:
            changes[f"{key}_source"] = locate.at(key, name)
    if name == "worker" and "mode" in changes:
        changes["mode_source"] = str(locate.path)
    return dataclasses.replace(current, **changes)


def _check(locate: _Locator, section: str, key: str, value: Any, hint: Any) -> Any:
    dotted = f"{section}.{key}" if section else key
    where = locate.at(key, section or None)
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
        origin = typing.get_origin(hint)
    if optional and value == "":
        return None  # "" documents "not set" in config.toml (TOML has no null)
    if origin is typing.Literal:
        hint = str
    if hint is bool:
        ok = isinstance(value, bool)
        want = "true or false"
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "a whole number"
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number"
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
        want = "a string in quotes"
    elif origin is tuple:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        want = 'a list of strings, e.g. ["my_app.workflows"]'
        value = tuple(value) if ok else value
    else:  # pragma: no cover - every settings type is handled above
        raise TypeError(hint)
    if not ok:
        raise ConfigError(f"{where}: {dotted} must be {want}, not {value!r}")
    if dotted in _BOUNDS:
        low, high = _BOUNDS[dotted]
        if not low <= value <= high:
            raise ConfigError(f"{where}: {dotted} = {value!r} is out of range {low:g}..{high:g}")
    if dotted in _CHOICES and value not in _CHOICES[dotted]:
        raise ConfigError(
            f"{where}: {dotted} = {value!r} is not valid; choose one of "
            + ", ".join(_CHOICES[dotted])
        )
    if dotted == "database.schema":
        try:
            validate_schema_name(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if dotted in ("worker.executor_id", "worker.app_version", "experiment.queue") and (
        not _NAME.match(value)
    ):
        raise ConfigError(
            f"{where}: {dotted} = {value!r} must be 1 to 200 letters, digits or ._:@/-"
        )
    if dotted == "feed.publication" and value and not _PUBLICATION.match(value):
        raise ConfigError(
            f"{where}: feed.publication = {value!r} must be a plain name (letters, digits, _; "
            "at most 63), the publication the user created for limbo-tui"
        )
    if dotted == "worker.dbos" and value:
        releases.parse_release(value, where)
        value = value.strip()
    if dotted == "database.url" and isinstance(value, str):
        value = value.strip() or None  # resolved with the environment once chosen
    return value


def _limits(value: Any, locate: _Locator) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(f"{locate.at('limits')}: limits must be a table ([limits])")
    out: dict[str, int] = {}
    for name, limit in value.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(
                f"{locate.at(name, 'limits')}: limits.{name} must be a whole number >= 0 "
                "(the max_recovery_attempts of workflows with that name)"
            )
        out[name] = limit
    return out


def _check_experiment(settings: Settings, locate: _Locator) -> None:
    from limbo_tui.worker.protocol import crash_point_problem

    exp = settings.experiment
    if not exp.crash_enabled:
        return
    crash = crash_point_problem(exp.crash_child, exp.crash_step, exp.children, exp.steps)
    if crash is not None:
        raise ConfigError(
            f"{locate.at(crash.field, 'experiment')}: experiment.{crash.field} = "
            f"{crash.value} {crash.reason}"
        )


class _Locator:
    """Finds the line of a key in the TOML text, for error messages."""

    def __init__(self, path: Path, text: str, table: str = "") -> None:
        self.path = path
        self.lines = text.splitlines()
        self.table = table

    def _full(self, section: str | None) -> str | None:
        return ".".join(p for p in (self.table, section) if p) or None

    def line(self, key: str, section: str | None = None) -> int:
        current: str | None = None
        key_re = re.compile(rf"^\s*(\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*=")
        for number, raw in enumerate(self.lines, start=1):
            header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", raw)
            if header:
                current = re.sub(r"[\s\"']", "", header.group(1))
                if section is None and current == self._full(key):
                    return number
                continue
            if current == self._full(section) and key_re.match(raw):
                return number
        return 1

    def at(self, key: str, section: str | None = None) -> str:
        return f"{self.path} line {self.line(key, section)}"
