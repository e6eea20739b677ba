"""Naming the system database as libpq and the dbos CLI do: the real `limbo-tui watch`
follows the PG* environment, keyword DSNs, service files, `postgresql:///db` with PGHOST,
multi-host failover URLs and ./dbos-config.yaml to the named database, and never falls
back to the embedded one when what was named cannot be reached."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.urls import params
from tests.faults_support import clean_env, limbo_cmd
from tests.own_server import free_port
from tests.watch_process import Watch


def _seed(url: str, workflow_id: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            "VALUES (%s, 'ENQUEUED', 'named_job')",
            (workflow_id,),
        )


def _socket(server: EmbeddedServer) -> tuple[str, str]:
    return str(server.socket_dir), str(server.port)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if not k.startswith("PG")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    env.update(extra)
    return env


def watched(tmp_path: Path, env: dict[str, str], *args: str, until: str) -> dict[str, object]:
    """Run `limbo-tui watch --json --read-only` until the workflow `until` is reported;
    return that line. The process is interrupted like a user would, and must exit 0."""
    with Watch("--read-only", *args, cwd=tmp_path, env=env, guard_s=90) as watch:
        line = watch.workflow(until)
        watch.stop()
        return line


def _no_embedded_server(tmp_path: Path) -> None:
    assert not (tmp_path / "data" / "limbo-tui").exists(), "the embedded default was started"


def test_pg_environment_alone_names_the_database(
    pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path
) -> None:
    _seed(dbos_url, "via-pg-env")
    host, port = _socket(pg_server)
    env = _env(
        tmp_path, PGHOST=host, PGPORT=port, PGUSER="postgres", PGDATABASE=params(dbos_url)["dbname"]
    )
    watched(tmp_path, env, until="via-pg-env")
    _no_embedded_server(tmp_path)


def test_keyword_dsn(pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path) -> None:
    _seed(dbos_url, "via-keyword-dsn")
    host, port = _socket(pg_server)
    dsn = f"host={host} port={port} user=postgres dbname={params(dbos_url)['dbname']}"
    watched(tmp_path, _env(tmp_path), "--db-url", dsn, until="via-keyword-dsn")


def test_url_without_host_takes_pghost(
    pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path
) -> None:
    _seed(dbos_url, "via-pghost")
    host, port = _socket(pg_server)
    env = _env(tmp_path, PGHOST=host, PGPORT=port, PGUSER="postgres")
    url = f"postgresql:///{params(dbos_url)['dbname']}"
    watched(tmp_path, env, "--db-url", url, until="via-pghost")


@pytest.mark.parametrize("how", ["url", "PGSERVICE"])
def test_service_file(pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path, how: str) -> None:
    _seed(dbos_url, f"via-service-{how}")
    host, port = _socket(pg_server)
    services = tmp_path / "services.conf"
    services.write_text(
        "# the team's services\n[other]\nhost=/nowhere\n\n"
        f"[limbo_sys]\nhost={host}\nport={port}\nuser=postgres\n"
        f"dbname={params(dbos_url)['dbname']}\n"
    )
    env = _env(tmp_path, PGSERVICEFILE=str(services))
    if how == "url":
        url = "postgresql://?service=limbo_sys"
        watched(tmp_path, env, "--db-url", url, until="via-service-url")
    else:
        env["PGSERVICE"] = "limbo_sys"
        watched(tmp_path, env, until="via-service-PGSERVICE")
    _no_embedded_server(tmp_path)


def test_dbos_config_yaml_with_env_substitution_and_schema(
    pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path
) -> None:
    """./dbos-config.yaml as the dbos CLI reads it: ${VAR} from the environment, its
    dbos_system_schema for a renamed schema."""
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA dbos RENAME TO app_sys"))
        conn.execute(
            "INSERT INTO app_sys.workflow_status (workflow_uuid, status, name) "
            "VALUES ('via-dbos-config', 'ENQUEUED', 'named_job')"
        )
    (tmp_path / "dbos-config.yaml").write_text(
        "name: my-app\nlanguage: python\nsystem_database_url: ${APP_SYS_DB_URL}\n"
        "dbos_system_schema: app_sys\nruntimeConfig:\n  start: ['python3 main.py']\n"
    )
    env = _env(tmp_path, APP_SYS_DB_URL=dbos_url)
    line = watched(tmp_path, env, until="via-dbos-config")
    assert line["workflow"]["name"] == "named_job"  # type: ignore[index]
    _no_embedded_server(tmp_path)


def test_multi_host_failover_url(pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path) -> None:
    """postgresql://h1:p1,h2:p2/db?target_session_attrs=read-write: the first host is
    down, the second (the server's socket directory, percent-encoded) takes over, for
    the feed (asyncpg) and for DBOS's client (SQLAlchemy + psycopg) alike."""
    _seed(dbos_url, "via-failover")
    host, port = _socket(pg_server)
    dead = free_port()
    db = params(dbos_url)["dbname"]
    url = (
        f"postgresql://postgres@127.0.0.1:{dead},{quote(host, safe='')}:{port}/{db}"
        "?target_session_attrs=read-write"
    )
    watched(tmp_path, _env(tmp_path), "--db-url", url, until="via-failover")

    from dbos import DBOSClient

    from limbo_tui.urls import resolve, sqlalchemy_url

    client = DBOSClient(system_database_url=sqlalchemy_url(resolve(url, "test", {})))
    try:
        assert [w.workflow_id for w in client.list_workflows()] == ["via-failover"]
    finally:
        client.destroy()


@pytest.mark.parametrize("command", [("snapshot",), ("watch", "--json"), ()])
def test_pghost_down_names_that_host_and_never_falls_back(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    port = str(free_port())
    env = _env(tmp_path, PGHOST="127.0.0.1", PGPORT=port, PGDATABASE="app_dbos_sys")
    proc = subprocess.run(
        limbo_cmd(*command),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"cannot reach the database server at 127.0.0.1:{port}" in proc.stderr
    _no_embedded_server(tmp_path)
