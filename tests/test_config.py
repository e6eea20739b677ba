"""Settings precedence and every kind of config error (one line, file and line, exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from limbo_tui.config import Overrides, load_settings
from limbo_tui.errors import ConfigError
from limbo_tui.settings import Settings

URL_FILE = "postgresql://file@dbhost:5432/fromfile"
URL_ENV = "postgresql://env@dbhost:5432/fromenv"
URL_FLAG = "postgresql://flag@dbhost:5432/fromflag"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    s = load_settings(Overrides(), {})
    assert s.database.url is None  # embedded default
    assert s.config_path is None
    assert s.experiment.children == 6 and s.experiment.crash_step == 4


def test_shipped_config_toml_documents_exactly_the_defaults() -> None:
    shipped = Path(__file__).parent.parent / "config.toml"
    s = load_settings(Overrides(config=str(shipped)), {})
    assert s.config_path == str(shipped)
    import dataclasses

    # Only where each value came from differs: every value is the default.
    database = dataclasses.replace(s.database, schema_source="default")
    assert dataclasses.replace(s, config_path=None, database=database) == Settings()


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    cfg = write(tmp_path, f'[database]\nurl = "{URL_FILE}"\nschema = "fileschema"\n')
    env = {"LIMBO_TUI_DB_URL": URL_ENV, "DBOS_SYSTEM_DATABASE_URL": "postgresql://x@h/other"}
    assert load_settings(Overrides(config=str(cfg)), {}).database.url == URL_FILE
    from_env = load_settings(Overrides(config=str(cfg)), env)
    assert from_env.database.url == URL_ENV
    assert from_env.database.url_source == "LIMBO_TUI_DB_URL"
    only_dbos = {"DBOS_SYSTEM_DATABASE_URL": URL_ENV}
    assert load_settings(Overrides(config=str(cfg)), only_dbos).database.url == URL_ENV
    flag = load_settings(Overrides(config=str(cfg), db_url=URL_FLAG, schema="s2"), env)
    assert flag.database.url == URL_FLAG and flag.database.schema == "s2"
    assert load_settings(Overrides(config=str(cfg)), env).database.schema == "fileschema"


def test_config_found_in_cwd_then_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg" / "limbo-tui"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text("[experiment]\nchildren = 4\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert load_settings(Overrides(), {}).experiment.children == 4
    # Another tool's config.toml (a Hugo site) is not limbo-tui's: never read, never fatal.
    (work / "config.toml").write_text('baseURL = "https://example.org/"\ntitle = "x"\n')
    assert load_settings(Overrides(), {}).experiment.children == 4
    (work / "pyproject.toml").write_text('[project]\nname = "app"\n')
    assert load_settings(Overrides(), {}).experiment.children == 4
    (work / "pyproject.toml").write_text(
        '[project]\nname = "app"\n[tool.limbo-tui.experiment]\nchildren = 5\n'
    )
    assert load_settings(Overrides(), {}).experiment.children == 5
    (work / "limbo-tui.toml").write_text("[experiment]\nchildren = 3\n")
    assert load_settings(Overrides(), {}).experiment.children == 3
    env_cfg = tmp_path / "env.toml"
    env_cfg.write_text("[experiment]\nchildren = 2\n")
    assert load_settings(Overrides(), {"LIMBO_TUI_CONFIG": str(env_cfg)}).experiment.children == 2


def test_flags_worker_and_read_only(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[worker]\nmode = "process"\n')
    assert load_settings(Overrides(config=str(cfg)), {}).worker.mode == "process"
    s = load_settings(Overrides(config=str(cfg), worker="none", read_only=True), {})
    assert s.worker.mode == "none" and s.read_only


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[database\nurl = 1\n", "invalid TOML"),
        ('[experiment]\nchildren = "six"\n', "line 2: experiment.children must be a whole number"),
        ("[experiment]\nchildren = -1\n", "out of range 1..100"),
        ("[experiment]\nchildren = 100000\n", "out of range 1..100"),
        # The crash point is numbered as DBOS numbers it: a child's id suffix (1, 3, 5, ...:
        # each child takes two function ids of its parent), a step's function id.
        (
            "\n\n[experiment]\ncrash_child = 4\n",
            "line 4: experiment.crash_child = 4 is not a child: the 6 children's ids end with "
            "-1, -3, …, -11",
        ),
        ("[experiment]\ncrash_child = 0\n", "out of range 1..199"),
        (
            "[experiment]\nsteps = 2\n",
            "experiment.crash_step = 4 is not a step: a child's steps are 1-2 (function ids)",
        ),
        ("[experiment]\ncolour = 1\n", "unknown setting experiment.colour; valid names"),
        ("[nonsense]\nx = 1\n", "line 1: unknown setting 'nonsense'"),
        ('[worker]\nmode = "fiber"\n', "choose one of thread, process, none"),
        ("[worker]\nimports = [1]\n", "a list of strings"),
        ("[ui]\nrefresh_hz = true\n", "ui.refresh_hz must be a number"),
        ('[database]\nschema = "dbos\\"; drop table x; --"\n', "invalid schema name"),
        ('[database]\nurl = "mysql://u@h/db"\n', "unsupported database URL scheme 'mysql'"),
        ('[database]\nurl = "sqlite://x.sqlite"\n', "malformed SQLite URL"),
        ('[limits]\n"my.wf" = -3\n', "limits.my.wf must be a whole number >= 0"),
        ("database = 3\n", "database must be a table"),
        ("read_only = 1\n", "read_only must be true or false"),
    ],
)
def test_config_errors_name_file_line_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(Overrides(config=str(cfg)), {})
    message = str(err.value)
    assert expected in message
    assert str(cfg) in message
    assert "\n" not in message


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(Overrides(config=str(tmp_path / "nope.toml")), {})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", 'malformed connection string from --db-url (not a url): missing "="'),
        ("postgresql://u:secret@h:99999/db", "malformed database URL"),
        ("postgresql://u:secret@h1,h2,h3:5/db?port=1,2", "2 ports for 3 hosts"),
        ("postgresql://u:secret@[::1/db", 'looking for matching "]"'),
        ("postgresql://u:s%zzecret@h/db", "invalid percent-encoded token"),
        ("host=h password=secret colour=red", 'invalid connection option "colour"'),
        ("host=h password='se cret' colour=red", 'invalid connection option "colour"'),
        ("postgresql://u:secret@h/db?colour=red", 'invalid URI query parameter: "colour"'),
        ("http://u:secret@h/db", "unsupported database URL scheme 'http'"),
        ("  ", "--db-url is empty"),
    ],
)
def test_bad_urls_are_refused_without_showing_the_password(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(Overrides(db_url=url), {})
    assert expected in str(err.value)
    assert "secret" not in str(err.value) and "ecret" not in str(err.value)


def test_limits_table_is_read(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[limits]\n"my_app.process_order" = 5\n')
    assert load_settings(Overrides(config=str(cfg)), {}).limits == {"my_app.process_order": 5}


def test_cli_config_error_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[experiment]\nchildren = 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "limbo_tui.cli", "--config", str(cfg), "snapshot"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "experiment.children = 0 is out of range" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dbos_release_from_flag_or_file_and_its_errors(tmp_path: Path) -> None:
    for sub in ("bad", "thread", "both"):
        (tmp_path / sub).mkdir()
    cfg = write(tmp_path, '[worker]\nmode = "process"\ndbos = "2.8.0"\n')
    assert load_settings(Overrides(config=str(cfg)), {}).worker.dbos == "2.8.0"
    flag = load_settings(Overrides(config=str(cfg), dbos="3.4.0"), {})
    assert flag.worker.dbos == "3.4.0"
    bad = write(tmp_path / "bad", '[worker]\nmode = "process"\n\ndbos = "2.8"\n')
    with pytest.raises(ConfigError, match=r"config.toml line 4: '2.8' is not a DBOS release"):
        load_settings(Overrides(config=str(bad)), {})
    with pytest.raises(ConfigError, match=r"--dbos: dbos 2.7.0 is not supported"):
        load_settings(Overrides(config=str(cfg), dbos="2.7.0"), {})
    thread = write(tmp_path / "thread", '[worker]\nmode = "thread"\n')
    with pytest.raises(ConfigError, match="add --worker process"):
        load_settings(Overrides(config=str(thread), dbos="2.8.0"), {})
    both = write(
        tmp_path / "both", '[worker]\nmode = "process"\ndbos = "2.8.0"\npython = "x/python"\n'
    )
    with pytest.raises(ConfigError, match="keep one"):
        load_settings(Overrides(config=str(both)), {})
