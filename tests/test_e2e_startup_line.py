"""A slow start is never a blank terminal: before Textual takes the screen, limbo-tui says
that it starts PostgreSQL, and where (the line stays in the terminal after it quits)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tests.pg_support import shared_tmp
from tests.test_e2e_tmux import COMMAND
from tests.tmux_support import Terminal


def test_the_embedded_start_is_announced_before_the_screen(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-startline-") / "pg"
    config = tmp_path / "limbo-tui.toml"
    config.write_text(f'[embedded]\ndata_dir = "{data_dir}"\n')
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    env |= {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    term = Terminal(f"limbo-start-{uuid.uuid4().hex[:8]}", 100, 30)
    try:
        term.start(f"{COMMAND} --config {config} --worker none", env)
        term.wait_for(lambda s: "worker" in s and "feed" in s, 90, "the monitor")
        term.keys("q")
        screen = term.wait_for(lambda s: "LIMBO-EXIT=" in s, 30, "limbo-tui to exit")
        assert f"limbo-tui: starting PostgreSQL in {data_dir}…" in screen
        assert "LIMBO-EXIT=0" in screen
    finally:
        term.kill()
