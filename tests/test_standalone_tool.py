"""limbo-tui as a standalone tool: `uv tool install .`, then `limbo-tui` next to a user's
project whose venv has dbos 2.8.0, with `[worker] python = ".venv/bin/python"`: the
worker runs the project's own dbos, and the project's environment is left untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_support import shared_tmp
from tests.tmux_support import Terminal

pytestmark = [
    pytest.mark.skipif(
        shutil.which("tmux") is None or shutil.which("uv") is None,
        reason="needs tmux and uv (.ci/run installs both)",
    ),
    pytest.mark.slow,
]
REPO = Path(__file__).resolve().parent.parent


def _uv(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["uv", *args], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, f"uv {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def _freeze(python: Path) -> str:
    return _uv("pip", "freeze", "--python", str(python))


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"limbo-tool-{uuid.uuid4().hex[:8]}", 160, 30)
    yield term
    term.kill()


def test_uv_tool_install_runs_the_projects_own_dbos_and_leaves_it_alone(
    terminal: Terminal, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    env = {**os.environ, "UV_TOOL_DIR": str(tools / "dir"), "UV_TOOL_BIN_DIR": str(tools / "bin")}
    _uv("tool", "install", "--quiet", "--python", sys.executable, str(REPO), env=env)
    command = tools / "bin" / "limbo-tui"
    assert command.exists()

    # The user's project: its own venv with dbos 2.8.0, and limbo-tui's settings for it.
    project = tmp_path / "project"
    project.mkdir()
    venv_python = project / ".venv" / "bin" / "python"
    _uv("venv", "--quiet", "--python", sys.executable, str(project / ".venv"))
    _uv("pip", "install", "--quiet", "--python", str(venv_python), "dbos==2.8.0")
    before = _freeze(venv_python)
    assert "dbos==2.8.0" in before
    data_dir = shared_tmp("limbo-tui-tool-") / "pg"
    (project / "limbo-tui.toml").write_text(
        f'[embedded]\ndata_dir = "{data_dir}"\n'
        '[worker]\nmode = "process"\npython = ".venv/bin/python"\n',
        encoding="utf-8",
    )

    # The tool's own environment has its own dbos (3.4), the project's is 2.8.0.
    tool_python = tools / "dir" / "limbo-tui" / "bin" / "python"
    tool_dbos = subprocess.run(
        [str(tool_python), "-c", "import importlib.metadata as m; print(m.version('dbos'))"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    assert tool_dbos.startswith("3.4.")

    home = tmp_path / "home"
    home.mkdir()
    run_env = {"TERM": "xterm-256color", "HOME": str(home)}
    run_env |= {k: os.environ[k] for k in ("LANG",) if k in os.environ}
    run_env["PATH"] = "/usr/bin:/bin"  # the tool is found by its path, nothing else of ours
    terminal.start(f"sh -c 'cd {project} && exec {command}'", run_env)
    screen = terminal.wait_for(lambda s: "worker RUNNING" in s, 120, "the worker")
    # The embedded database of that release, made by the project's own dbos, which runs
    # the worker.
    assert "dbos schema 7 (2.8-2.10)" in screen
    worker_log = (data_dir.parent / "worker-process.log").read_text(encoding="utf-8")
    assert "Initializing DBOS (v2.8.0)" in worker_log
    # e enqueues through the project's own dbos too (no uv on PATH here: nothing could be
    # provisioned), and the 2.8 worker runs it up to the crash point.
    terminal.keys("e")
    terminal.wait_for(lambda s: "limbo_demo.parent" in s, 60, "the experiment on screen")
    terminal.wait_for(lambda s: "worker DOWN" in s, 60, "the crash point")
    assert not (home / ".cache" / "limbo-tui" / "dbos").exists()
    terminal.keys("q")
    terminal.wait_for(lambda s: "LIMBO-EXIT=0" in s, 30, "a clean exit")

    assert _freeze(venv_python) == before
    leaked = subprocess.run(
        [str(venv_python), "-c", "import limbo_tui"], capture_output=True, timeout=60, cwd=project
    )
    assert leaked.returncode != 0, "limbo_tui must not be importable in the user's venv"
