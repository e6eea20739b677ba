"""Issue 10.7: `--read-only` on the embedded default writes nothing either: no initdb, no
CREATE DATABASE. Nothing there yet: one line says so. Already there: watched read-only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from limbo_tui.database import prepare_dbos_schema
from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import shared_tmp


def _config(tmp_path: Path, data_dir: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[embedded]\ndata_dir = "{data_dir}"\n')
    return config


def _limbo(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limbo_tui", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_read_only_on_a_fresh_data_dir_runs_no_initdb(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-ro-fresh-") / "pg"
    result = _limbo(_config(tmp_path, data_dir), "snapshot", "--read-only")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--read-only: nothing to watch" in lines[0] and "--db-url" in lines[0]
    assert not (data_dir / "data" / "PG_VERSION").exists()
    assert not data_dir.exists()  # not even its directories


def test_read_only_never_creates_the_database(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-ro-nodb-") / "pg"
    server = EmbeddedServer(data_dir)
    server.ensure_running()  # a cluster, but no limbo_tui database in it
    try:
        result = _limbo(_config(tmp_path, data_dir), "snapshot", "--read-only")
        assert result.returncode == 1
        assert "has no database 'limbo_tui'" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        with psycopg.connect(server.url()) as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert "limbo_tui" not in names
    finally:
        server.stop()


def test_read_only_watches_an_existing_embedded_database(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-ro-ok-") / "pg"
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    url = server.ensure_database("limbo_tui")
    prepare_dbos_schema(url, "dbos")
    with psycopg.connect(url) as conn:
        before = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'limbo_tui'"
        ).fetchone()
    server.stop()  # the read-only run starts the existing server itself
    result = _limbo(_config(tmp_path, data_dir), "snapshot", "--read-only")
    assert result.returncode == 0, result.stderr
    server.ensure_running()
    try:
        with psycopg.connect(url) as conn:
            after = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'limbo_tui'"
            ).fetchone()
        assert after == before == (0,)  # no triggers schema was installed
    finally:
        server.stop()
