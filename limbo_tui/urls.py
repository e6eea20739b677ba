"""Connection strings as libpq reads them, resolved once into one canonical URL.

A user names a PostgreSQL database the way psql does: a URL of any form libpq accepts
(multi-host `postgresql://h1:p1,h2:p2/db?target_session_attrs=read-write`, unix sockets,
`postgresql:///db`), a keyword DSN (`host=... dbname=...`), a service (`?service=`,
PGSERVICE, PGSERVICEFILE) and the PG* environment. libpq parses the string (the parser
`psycopg.conninfo` calls, see libpq.py); `resolve()` then applies the service file, the
environment and libpq's defaults exactly once, so that every consumer (asyncpg, psycopg,
SQLAlchemy / DBOS) gets the same explicit parameters whatever its own defaults or
environment are.

Passwords are never shown: `mask()` hides every parameter libpq marks as secret.
A `.pgpass` file is left to the drivers (both match it per host, as libpq does).
"""

from __future__ import annotations

import configparser
import getpass
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

from limbo_tui import libpq
from limbo_tui.errors import ConfigError, first_line

SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+asyncpg")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# What libpq uses when nothing names a host (the psycopg wheel's libpq, hence DBOS's).
LIBPQ_SOCKET_DIR = "/var/run/postgresql"
# Environment variables that, alone, name a database the way they do for psql.
NAMING_ENV = ("PGSERVICE", "PGHOST", "PGHOSTADDR", "PGDATABASE", "PGPORT")
# The libpq parameters asyncpg understands in a DSN; others that the server reads at
# start-up are passed on as server settings, the rest (client-side libpq knobs) dropped.
_ASYNCPG_PARAMS = (
    "passfile",
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslpassword",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "krbsrvname",
    "gsslib",
)
_SERVER_STARTUP_PARAMS = ("options", "application_name")


@cache
def _libpq_options() -> tuple[tuple[str, str | None, str | None, bool], ...]:
    """libpq's own table: (keyword, environment variable, compiled default, secret)."""
    return tuple((o.keyword, o.envvar, o.compiled, o.secret) for o in libpq.options())


def secret_keys() -> frozenset[str]:
    return frozenset(k for k, _, _, secret in _libpq_options() if secret)


def validate_schema_name(name: str) -> str:
    """A DBOS schema name must be a plain SQL identifier; nothing else reaches SQL."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"invalid schema name {name!r}: use letters, digits and underscores "
            "(at most 63, not starting with a digit), e.g. --schema dbos"
        )
    return name


def scheme_of(text: str) -> str | None:
    match = _SCHEME.match(text.strip())
    return match.group(1).lower() if match else None


def is_sqlite(url: str) -> bool:
    return scheme_of(url) in SQLITE_SCHEMES


def resolve(text: str, source: str, env: Mapping[str, str]) -> str:
    """The canonical URL of a connection string, with service, environment and defaults
    applied; a ConfigError (one line, no password) when libpq would refuse it."""
    text = text.strip()
    scheme = scheme_of(text)
    if scheme is not None and scheme.startswith("sqlite"):
        return resolve_sqlite(text, source)
    if scheme is not None and scheme not in _POSTGRES_SCHEMES:
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r} from {source}: use "
            "postgresql://user:password@host:5432/dbname (or a keyword DSN, host=... dbname=...)"
        )
    params = parse_conninfo(text, source)
    params = _with_service(params, source, env)
    for keyword, envvar, _, _ in _libpq_options():
        if keyword not in params and envvar and env.get(envvar):
            params[keyword] = env[envvar]
    params.pop("service", None)
    return canonical_url(_with_defaults(params, text, source))


def parse_conninfo(text: str, source: str) -> dict[str, str]:
    """libpq's own parse of a URL or keyword DSN (no defaults applied)."""
    text = text.strip()
    scheme = scheme_of(text)
    if scheme is not None and scheme not in ("postgresql", "postgres"):
        text = "postgresql" + text[len(scheme) :]  # SQLAlchemy's driver suffix
    if not text:
        return {}
    try:
        return {k: v for k, v in libpq.parse(text).items() if v != ""}
    except libpq.ConninfoError as exc:
        reason = _hide_secrets(first_line(exc), text)
        raise ConfigError(
            f"malformed connection string from {source} ({mask(text)}): {reason}; expected "
            "postgresql://user:password@host:5432/dbname or host=... dbname=..."
        ) from None


def _with_service(params: dict[str, str], source: str, env: Mapping[str, str]) -> dict[str, str]:
    """Fill what the string leaves out from its service (libpq: string > service > env)."""
    name = params.get("service") or env.get("PGSERVICE")
    if not name:
        return params
    files: list[Path] = []
    if env.get("PGSERVICEFILE"):
        user_file = Path(env["PGSERVICEFILE"]).expanduser()
        if not user_file.is_file():
            raise ConfigError(
                f"service file {user_file} (from $PGSERVICEFILE) does not exist: fix "
                f"PGSERVICEFILE or define service {name!r} in ~/.pg_service.conf"
            )
        files.append(user_file)
    else:
        home = env.get("HOME")
        files.append((Path(home) if home else Path.home()) / ".pg_service.conf")
    if env.get("PGSYSCONFDIR"):
        files.append(Path(env["PGSYSCONFDIR"]) / "pg_service.conf")
    for path in files:
        entries = _service_entries(path, name)
        if entries is None:
            continue
        if "service" in entries:
            raise ConfigError(
                f"{path}: service {name!r} names another service; libpq does not nest them"
            )
        return {**entries, **params}
    shown = " or ".join(str(p) for p in files)
    raise ConfigError(
        f"service {name!r} (from {source if params.get('service') else '$PGSERVICE'}) is "
        f"not defined in {shown}: add a [{name}] section or fix the service name"
    )


def _service_entries(path: Path, name: str) -> dict[str, str] | None:
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        first = first_line(exc)
        raise ConfigError(f"cannot read service file {path}: {first}") from None
    if not parser.has_section(name):
        return None
    known = {k for k, _, _, _ in _libpq_options()}
    entries = dict(parser.items(name))
    unknown = sorted(set(entries) - known)
    if unknown:
        raise ConfigError(
            f"{path}: service {name!r} has unknown parameter {unknown[0]!r}: use libpq's "
            "keywords (host, port, dbname, user, sslmode, ...)"
        )
    return {k: v for k, v in entries.items() if v}


def _with_defaults(params: dict[str, str], text: str, source: str) -> dict[str, str]:
    """libpq's defaults made explicit: every driver would guess them differently."""
    out = dict(params)
    if "host" not in out and "hostaddr" not in out:
        out["host"] = LIBPQ_SOCKET_DIR
    hosts = _split(out.get("host") or out.get("hostaddr", ""))
    ports = _split(out.get("port", "")) or ["5432"]
    for port in ports:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"malformed database URL from {source} ({mask(text)}): invalid port "
                f"{port!r}; expected a number from 1 to 65535"
            )
    if len(ports) not in (1, len(hosts)):
        raise ConfigError(
            f"malformed database URL from {source} ({mask(text)}): {len(ports)} ports "
            f"for {len(hosts)} hosts; give one port, or one for each host"
        )
    out["port"] = ",".join(ports)
    if "user" not in out:
        out["user"] = _os_user()
    if "dbname" not in out:
        out["dbname"] = out["user"]
    return out


def _os_user() -> str:
    """libpq's default user: the effective user's login name."""
    try:
        import pwd  # not on Windows

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, AttributeError, KeyError):
        return getpass.getuser()


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",")] if value else []


def resolve_sqlite(text: str, source: str) -> str:
    """sqlite:///relative.sqlite (relative to the working directory) or sqlite:////abs."""
    rest = text.partition("://")[2]
    path_part = rest.split("?", 1)[0]
    if not path_part.startswith("/") or path_part == "/":
        raise ConfigError(
            f"malformed SQLite URL from {source} ({text}): expected sqlite:///app.sqlite "
            "(relative to the working directory) or sqlite:////absolute/path.sqlite"
        )
    path = Path(unquote(path_part[1:])).expanduser()
    return "sqlite:///" + quote(str(path.resolve()), safe="/")


def sqlite_path(url: str) -> Path:
    return Path(unquote(url.partition("://")[2].split("?", 1)[0][1:]))


def params(url: str) -> dict[str, str]:
    """The libpq parameters of a canonical URL (as libpq parses it)."""
    scheme = scheme_of(url)
    if scheme is not None and scheme not in ("postgresql", "postgres"):
        url = "postgresql" + url[len(scheme) :]
    try:
        return {k: v for k, v in libpq.parse(url).items() if v != ""}
    except libpq.ConninfoError:
        return {}


def canonical_url(p: Mapping[str, str]) -> str:
    """A libpq URL that asyncpg accepts too; hosts in the authority when they are names or
    addresses, in `?host=` when one is a socket directory."""
    rest = {k: v for k, v in p.items() if k not in ("user", "password", "dbname", "host", "port")}
    hosts = _split(p.get("host", ""))
    ports = _split(p.get("port", ""))
    userinfo = quote(p.get("user", ""), safe="")
    if p.get("password"):
        userinfo += ":" + quote(p["password"], safe="")
    userinfo += "@" if userinfo else ""
    query: list[tuple[str, str]] = []
    if hosts and not any(h.startswith("/") or h.startswith("@") for h in hosts):
        if len(ports) == 1:
            ports = ports * len(hosts)
        authority = ",".join(
            f"{_bracket(h)}:{port}" if port else _bracket(h)
            for h, port in zip(hosts, ports or [""] * len(hosts), strict=True)
        )
    else:
        authority = ""
        query += [("host", ",".join(hosts))] if hosts else []
        query += [("port", ",".join(ports))] if ports else []
    order = [k for k, _, _, _ in _libpq_options()]
    query += sorted(rest.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 999)
    tail = "?" + urlencode(query, safe="/,@", quote_via=quote) if query else ""
    return f"postgresql://{userinfo}{authority}/{quote(p.get('dbname', ''), safe='')}{tail}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else quote(host, safe="")


def _query_form(p: Mapping[str, str], scheme: str, keys: tuple[str, ...] | None) -> str:
    """user:password@/db?host=h1,h2&port=p1,p2&... (the form SQLAlchemy splits hosts in).

    keys None (libpq behind SQLAlchemy): every parameter, hostaddr beside host as libpq
    wants them; else only `keys`, and hostaddr as the host (asyncpg has no hostaddr)."""
    libpq = keys is None
    hosts = _split((p.get("host") if libpq else None) or p.get("hostaddr") or p.get("host", ""))
    userinfo = quote(p.get("user", ""), safe="")
    if p.get("password"):
        userinfo += ":" + quote(p["password"], safe="")
    userinfo += "@" if userinfo else ""
    query: list[tuple[str, str]] = [("host", ",".join(hosts)), ("port", p.get("port", "5432"))]
    for key, value in p.items():
        if key in ("user", "password", "dbname", "host", "port"):
            continue
        if key == "hostaddr" and not (libpq and p.get("host")):
            continue
        if libpq or key in (keys or ()):
            query.append((key, value))
    tail = urlencode(query, safe="/,@:[]", quote_via=quote)
    return f"{scheme}://{userinfo}/{quote(p.get('dbname', ''), safe='')}?{tail}"


def asyncpg_dsn(url: str) -> str:
    """What asyncpg needs: only parameters it knows (others would become server settings),
    IPv6 hosts in brackets, hostaddr as the address to connect to."""
    p = params(url)
    if p.get("hostaddr"):
        p["hostaddr"] = ",".join(_bracket_ipv6(h) for h in _split(p["hostaddr"]))
    elif p.get("host"):
        p["host"] = ",".join(_bracket_ipv6(h) for h in _split(p["host"]))
    return _query_form(p, "postgresql", _ASYNCPG_PARAMS + _SERVER_STARTUP_PARAMS)


def _bracket_ipv6(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("/") else host


def sqlalchemy_url(url: str) -> str:
    """DBOS and SQLAlchemy want an explicit psycopg (v3) driver and hosts in the query."""
    if is_sqlite(url):
        return url
    return _query_form(params(url), "postgresql+psycopg", None)


def database_name(url: str) -> str:
    if is_sqlite(url):
        return sqlite_path(url).name
    return params(url).get("dbname", "")


def user_name(url: str) -> str:
    return params(url).get("user") or "(default user)"


def has_password(url: str) -> bool:
    return bool(params(url).get("password"))


def server_list(url: str) -> str:
    """'host:port' (or 'h1:p1,h2:p2', or the socket directory), for messages."""
    p = params(url)
    hosts = _split(p.get("host") or p.get("hostaddr", "")) or ["localhost"]
    ports = _split(p.get("port", "")) or ["5432"]
    if len(ports) == 1:
        ports = ports * len(hosts)
    return ",".join(f"{_bracket_ipv6(h)}:{port}" for h, port in zip(hosts, ports, strict=False))


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def mask(text: str) -> str:
    """A URL or keyword DSN with every secret replaced by ***, safe to show anywhere."""
    secrets = "|".join(sorted(secret_keys()))
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = re.sub(rf"([?&](?:{secrets})=)[^&#\s]*", r"\1***", text, flags=re.IGNORECASE)
    # keyword form: password=secret, password = 'quoted \' secret'
    return re.sub(
        rf"(\b(?:{secrets})\s*=\s*)(?!\*\*\*)('(?:[^'\\]|\\.)*'?|[^\s'&][^\s&]*)",
        r"\1***",
        text,
        flags=re.IGNORECASE,
    )


def _hide_secrets(message: str, text: str) -> str:
    """libpq quotes parts of the input in its parse errors: mask the input's secrets."""
    for candidate in _secret_candidates(text):
        if candidate:
            message = message.replace(candidate, "***")
    return mask(message)


def _secret_candidates(text: str) -> list[str]:
    secrets = "|".join(sorted(secret_keys()))
    found = [m.group(1) for m in re.finditer(r"://[^:/@\s]*:([^@\s]*)@", text)]
    found += [m.group(1) for m in re.finditer(rf"[?&](?:{secrets})=([^&#\s]*)", text)]
    found += [
        m.group(1).strip("'")
        for m in re.finditer(rf"\b(?:{secrets})\s*=\s*('(?:[^'\\]|\\.)*'?|\S+)", text)
    ]
    # Longest first, so that a password containing another candidate is hidden whole.
    return sorted({f for f in found if f} | {unquote(f) for f in found if f}, key=len)[::-1]
