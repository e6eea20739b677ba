"""The command-line contract: help, version, db url, one-line errors with exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from limbo_tui import __version__
from tests.pg_support import shared_tmp

ROOT = Path(__file__).parent.parent


def limbo(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LIMBO_TUI", "DBOS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "limbo_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )


def test_help_lists_the_commands_and_flags() -> None:
    proc = limbo("--help")
    assert proc.returncode == 0
    for word in ("snapshot", "watch", "triggers", "db", "--db-url", "--read-only", "--worker"):
        assert word in proc.stdout


def test_version() -> None:
    proc = limbo("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"limbo-tui {__version__}"


def test_unknown_flag_is_one_line_exit_2() -> None:
    proc = limbo("--frobnicate")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "--frobnicate" in proc.stderr


def test_db_url_prints_the_embedded_url(tmp_path: Path) -> None:
    data = shared_tmp("limbo-tui-cli-") / "pg"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[embedded]\ndata_dir = "{data}"\ndatabase = "mine"\n')
    proc = limbo("db", "url", "--config", str(cfg))
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith("postgresql://postgres@/mine?host=")
    assert "not running" in proc.stderr


def test_bad_schema_flag_is_exit_2() -> None:
    proc = limbo("snapshot", "--schema", 'x"; drop table y; --', "--db-url", "postgresql://u@h/d")
    assert proc.returncode == 2
    assert "invalid schema name" in proc.stderr
