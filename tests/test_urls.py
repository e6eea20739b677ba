"""Connection strings resolved as libpq resolves them, into one form every driver reads
alike; dbos-config.yaml read as the dbos CLI reads it; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from limbo_tui import dbos_config
from limbo_tui.config import Overrides, load_settings
from limbo_tui.errors import ConfigError
from limbo_tui.urls import asyncpg_dsn, mask, params, resolve, sqlalchemy_url


def test_string_beats_service_beats_environment(tmp_path: Path) -> None:
    services = tmp_path / "pg_service.conf"
    services.write_text("[sys]\nhost=svc-host\nport=6000\ndbname=svc_db\nuser=svc_user\n")
    env = {"PGSERVICEFILE": str(services), "PGHOST": "env-host", "PGUSER": "env_user",
           "PGSSLMODE": "require", "PGAPPNAME": "from-env"}  # fmt: skip
    url = resolve("postgresql://me@/named_db?service=sys", "test", env)
    assert params(url) == {
        "user": "me",
        "host": "svc-host",
        "port": "6000",
        "dbname": "named_db",
        "sslmode": "require",
        "application_name": "from-env",
    }


def test_defaults_are_libpqs_and_explicit() -> None:
    url = resolve("", "test", {"PGDATABASE": "sys"})
    p = params(url)
    assert p["host"] == "/var/run/postgresql" and p["port"] == "5432" and p["dbname"] == "sys"
    assert p["user"]  # the OS user, as libpq would use


def test_multi_host_forms_for_each_driver() -> None:
    given = "postgresql://u:pw@h1:5433,[::1]:5434/db?target_session_attrs=read-write"
    url = resolve(given, "t", {})
    assert url == given
    assert asyncpg_dsn(url) == (
        "postgresql://u:pw@/db?host=h1,[::1]&port=5433,5434&target_session_attrs=read-write"
    )
    engine_url = sa.make_url(sqlalchemy_url(url))
    assert engine_url.drivername == "postgresql+psycopg"
    args = sa.create_engine(engine_url).dialect.create_connect_args(engine_url)[1]
    assert args["host"] == "h1,::1" and args["port"] == "5433,5434"
    assert args["target_session_attrs"] == "read-write" and args["password"] == "pw"


def test_asyncpg_gets_no_libpq_only_parameter() -> None:
    """asyncpg turns unknown DSN parameters into server settings the server refuses."""
    dsn_text = "host=h dbname=d user=u connect_timeout=5 keepalives=1 options=-cjit=off"
    url = resolve(dsn_text, "t", {})
    assert "connect_timeout" in url and "keepalives" in url
    dsn = asyncpg_dsn(url)
    assert "connect_timeout" not in dsn and "keepalives" not in dsn and "options=-cjit" in dsn


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://u:hunter2@h/db",
        "postgresql://u@h/db?password=hunter2&sslmode=require",
        "host=h password=hunter2 dbname=d",
        "host=h password = 'hunter2 with spaces' dbname=d",
        "host=h sslpassword=hunter2",
    ],
)
def test_mask_hides_every_secret(text: str) -> None:
    masked = mask(text)
    assert "hunter2" not in masked and "***" in masked
    assert mask(resolve(text, "t", {})).count("hunter2") == 0


def test_service_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"service 'nope' .* is not defined in"):
        resolve("", "t", {"PGSERVICE": "nope", "HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"\(from \$PGSERVICEFILE\) does not exist"):
        resolve("service=x", "t", {"PGSERVICEFILE": str(tmp_path / "missing.conf")})


def test_dbos_config_rules(tmp_path: Path) -> None:
    path = tmp_path / "dbos-config.yaml"
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "db_password").write_text("s3cret\n")
    path.write_text(
        "name: my-app\n"
        "database_url: postgresql://app:${DOCKER_SECRET:db_password}@${DB_HOST}:5432/shop\n"
    )
    found = dbos_config.load(path, {"DB_HOST": "db.internal"}, secrets)
    assert params(found.system_database_url) == {
        "user": "app", "password": "s3cret", "host": "db.internal", "port": "5432",
        "dbname": "shop_dbos_sys",
    }  # fmt: skip
    path.write_text("name: 9-Lives App\n")
    assert dbos_config.load(path, {}).system_database_url == "sqlite:///_9_lives_app.sqlite"
    path.write_text("name: x\nsystem_database_url: ${UNSET}\ndatabase_url: sqlite:///a.db\n")
    assert dbos_config.load(path, {}).system_database_url == "sqlite:///a.db"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"dbos-config.yaml line 2: invalid YAML"):
        dbos_config.load(path, {})


def test_dbos_config_yaml_comes_after_what_limbo_tui_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "dbos-config.yaml").write_text(
        "name: app\nsystem_database_url: postgresql://y@yamlhost/ysys\ndbos_system_schema: ys\n"
    )
    from_yaml = load_settings(Overrides(), {"PGHOST": "ignored"})
    assert params(from_yaml.database.url or "")["host"] == "yamlhost"
    assert from_yaml.database.schema == "ys"
    flag = load_settings(Overrides(db_url="host=flaghost dbname=f"), {})
    assert params(flag.database.url or "")["host"] == "flaghost"
    assert flag.database.schema == "dbos"  # the yaml's schema goes with the yaml's database
    assert load_settings(Overrides(schema="mine"), {}).database.schema == "mine"


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://u:p%40ss@h1:5433,[::1]:5434/db?target_session_attrs=read-write",
        "postgresql:///db?host=/var/run/postgresql&port=5433",
        "postgres://%2Ftmp/db",
        "host=h dbname='a b' password='it\\'s' connect_timeout=5",
        "",
        "not a url",
        "postgresql://h/db?colour=red",
    ],
)
def test_libpq_seam_reads_strings_as_psycopg_conninfo_does(text: str) -> None:
    """limbo_tui.libpq loads libpq itself (start-up cost): it must agree with psycopg."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import Conninfo

    from limbo_tui import libpq

    try:
        expected: dict[str, str] | str = {
            k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None
        }
    except psycopg.ProgrammingError as exc:
        expected = str(exc).strip()
    try:
        got: dict[str, str] | str = libpq.parse(text)
    except libpq.ConninfoError as exc:
        got = str(exc)
    assert got == expected
    assert [o.keyword for o in libpq.options()] == [
        o.keyword.decode() for o in Conninfo.get_defaults()
    ]


def test_hostaddr_is_where_to_connect_and_host_stays_for_libpq() -> None:
    url = resolve("host=db.example hostaddr=10.0.0.5 dbname=x user=u", "t", {})
    assert "host=10.0.0.5&port=5432" in asyncpg_dsn(url)  # asyncpg has no hostaddr
    args = sa.make_url(sqlalchemy_url(url))
    assert args.query["host"] == "db.example" and args.query["hostaddr"] == "10.0.0.5"
