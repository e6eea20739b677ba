"""The system database named by a `dbos-config.yaml`, read as the `dbos` CLI reads it.

The rules follow dbos-transact-py (`dbos/_dbos_config.py` and `dbos/cli/cli.py`):
`${DOCKER_SECRET:name}` becomes the stripped contents of /run/secrets/name and `${VAR}`
the environment's value (both "" when missing), in the raw text, before YAML parsing; the
system database is `system_database_url`, else `database_url` (the same URL for SQLite,
else its database name + `_dbos_sys`), else `sqlite:///<name>.sqlite` from the application
name. `dbos_system_schema` names the schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from limbo_tui.errors import ConfigError
from limbo_tui.urls import canonical_url, is_sqlite, parse_conninfo

FILE_NAME = "dbos-config.yaml"
SYSDB_SUFFIX = "_dbos_sys"
SECRETS_DIR = Path("/run/secrets")
_SECRET = re.compile(r"\$\{DOCKER_SECRET:([^}]+)\}")
_VARIABLE = re.compile(r"\$\{(?!DOCKER_SECRET:)([^}]+)\}")


@dataclass(frozen=True)
class DbosConfig:
    path: Path
    # A URL as the file gives it (libpq or SQLite); resolved by urls.resolve like any other.
    system_database_url: str
    schema: str | None
    # Set when the URL was derived (from database_url or the app name), for messages.
    derived_from: str | None = None


def find(cwd: Path | None = None) -> Path | None:
    path = (cwd or Path.cwd()) / FILE_NAME
    return path if path.is_file() else None


def substitute(text: str, env: Mapping[str, str], secrets_dir: Path = SECRETS_DIR) -> str:
    def secret(match: re.Match[str]) -> str:
        try:
            return (secrets_dir / match.group(1)).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return ""

    text = _SECRET.sub(secret, text)
    return _VARIABLE.sub(lambda m: env.get(m.group(1), ""), text)


def load(path: Path, env: Mapping[str, str], secrets_dir: Path = SECRETS_DIR) -> DbosConfig:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    import yaml  # only when a dbos-config.yaml is there to read

    try:
        data = yaml.safe_load(substitute(raw, env, secrets_dir))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}{where}: invalid YAML ({problem}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping (name: ..., system_database_url: ...), "
            f"not {type(data).__name__}"
        )
    schema = _text(data, "dbos_system_schema", path) or None
    system_url = _text(data, "system_database_url", path)
    if system_url:
        return DbosConfig(path, system_url, schema)
    app_url = _text(data, "database_url", path)
    if app_url:
        return DbosConfig(path, system_database_url(app_url, path), schema, "database_url")
    name = _text(data, "name", path)
    if not name:
        raise ConfigError(
            f"{path} names no system_database_url, database_url or name: add "
            "system_database_url: postgresql://user@host:5432/app_dbos_sys"
        )
    return DbosConfig(path, f"sqlite:///{_app_db_name(name)}.sqlite", schema, "name")


def _text(data: dict[object, object], key: str, path: Path) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string, not {type(value).__name__}")
    return value.strip()


def system_database_url(app_url: str, path: Path) -> str:
    """DBOS's rule: the application database's name with `_dbos_sys` appended."""
    if is_sqlite(app_url):
        return app_url
    parts = parse_conninfo(app_url, f"{path} database_url")
    if not parts.get("dbname"):
        raise ConfigError(
            f"{path}: database_url names no database, so no system database can be derived "
            "from it; add system_database_url"
        )
    parts["dbname"] += SYSDB_SUFFIX
    return canonical_url(parts)


def _app_db_name(name: str) -> str:
    db = name.replace("-", "_").replace(" ", "_").lower()
    return db if not db[:1].isdigit() else f"_{db}"
