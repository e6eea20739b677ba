"""Database URLs: validation, masking and the forms each driver wants."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from limbo_tui.errors import ConfigError

SUPPORTED_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+asyncpg")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def validate_schema_name(name: str) -> str:
    """A DBOS schema name must be a plain SQL identifier; nothing else reaches SQL."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"invalid schema name {name!r}: use letters, digits and underscores "
            "(at most 63, not starting with a digit), e.g. --schema dbos"
        )
    return name


def validate_url(url: str, source: str = "--db-url") -> str:
    """Check that url is a PostgreSQL URL limbo-tui can use; return it normalised."""
    if not url or not url.strip():
        raise ConfigError(f"{source} is empty: give a URL like postgresql://user@host:5432/db")
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(
            f"malformed database URL from {source} ({mask(url)}): {exc}; "
            "expected postgresql://user:password@host:5432/dbname"
        ) from None
    scheme = parts.scheme.lower()
    if scheme.startswith("sqlite"):
        raise ConfigError(
            f"unsupported database URL from {source}: SQLite system databases have no "
            "LISTEN/NOTIFY; limbo-tui watches PostgreSQL (postgresql://user@host:5432/db)"
        )
    if scheme not in SUPPORTED_SCHEMES:
        shown = scheme or "none"
        raise ConfigError(
            f"unsupported database URL scheme {shown!r} from {source}: "
            "use postgresql://user:password@host:5432/dbname"
        )
    if "://" not in url:
        raise ConfigError(
            f"malformed database URL from {source}: expected postgresql://user@host:5432/db"
        )
    has_socket = any(k == "host" for k, _ in parse_qsl(parts.query))
    if not parts.hostname and not has_socket:
        raise ConfigError(
            f"database URL from {source} names no host ({mask(url)}): "
            "use postgresql://user@host:5432/db or ?host=/socket/dir"
        )
    database = parts.path.lstrip("/")
    if not database:
        raise ConfigError(
            f"database URL from {source} names no database ({mask(url)}): "
            "add it after the host, e.g. postgresql://user@host:5432/mydb"
        )
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def mask(url: str) -> str:
    """The URL with any password replaced by ***, safe for screens, logs and errors."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
    query = urlencode(
        [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)],
        safe="/",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq URLs but not the sqlalchemy driver suffix."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def sqlalchemy_url(url: str) -> str:
    """DBOS and sqlalchemy want an explicit psycopg (v3) driver."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, ""))
