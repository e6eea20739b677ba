"""Issue 13: on a database limbo-tui did not create, default flags write nothing at all
(no DDL, no INSERT, no queue row) until the user confirms live push; `triggers
uninstall` then leaves nothing of limbo-tui. Checked in the server's own statement log
(`log_statement = all` for the role limbo-tui logs in as), with the real command: `watch`,
`snapshot` and the TUI in tmux, while a real DBOS app runs workflows."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from limbo_tui.pg.embedded import EmbeddedServer
from tests.faults_support import clean_env, limbo_cmd
from tests.test_feed import DbosApp
from tests.test_triggers import _traces
from tests.tmux_support import Terminal
from tests.watch_process import Watch

_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] ")
# What a write looks like in the statement log (our SQL has these words only in writes).
_WRITE = re.compile(
    r"\b(CREATE|DROP|ALTER|INSERT|UPDATE|DELETE|TRUNCATE|COMMENT|GRANT|REVOKE|"
    r"LISTEN|NOTIFY)\b|pg_notify\(|pg_create_logical_replication_slot"
)


def _logging_role(url: str) -> str:
    """A superuser (it could write anything) whose every statement is logged."""
    role = f"lt_mon_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("ALTER ROLE {} SET log_statement = 'all'").format(sql.Identifier(role))
        )
    return url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


def _statements(log: Path, since: int) -> list[str]:
    """The logged statements (only our role logs them) written after byte `since`."""
    with open(log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    entries: list[str] = []
    for line in text.splitlines():
        if _ENTRY.match(line):
            entries.append(line)
        elif entries:
            entries[-1] += "\n" + line
    return [e for e in entries if "LOG:  statement:" in e or "LOG:  execute" in e]


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if _WRITE.search(s)]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_default_flags_write_nothing_until_live_push_is_confirmed(
    pg_server: EmbeddedServer, dbos_url: str, tmp_path: Path
) -> None:
    url = _logging_role(dbos_url)
    since = pg_server.log_path.stat().st_size
    env = clean_env(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    with DbosApp(dbos_url) as app, Watch("--db-url", url, cwd=tmp_path, env=env) as watch:
        term = Terminal(f"limbo-mon-{os.getpid()}-{uuid.uuid4().hex[:6]}", 150, 30)
        try:
            first = watch.next("feed")
            assert first["state"] == "POLLING" and "writes nothing" in first["detail"], first
            tui_env = {
                "TERM": "xterm-256color",
                "HOME": str(tmp_path),
                "XDG_STATE_HOME": str(tmp_path / "state"),
                "PATH": env["PATH"],
            }
            term.start(shlex.join(limbo_cmd("--db-url", url)), tui_env)
            screen = term.wait_for(lambda s: "POLLING" in s, 60, "the TUI to poll")
            header = screen.splitlines()[0]
            assert header.strip().startswith("monitor │ worker NONE"), header
            assert "P: live push" in header
            parent = app.run_parent(k=2, n=2)
            term.wait_for(lambda s: "SUCCESS" in s, 30, "the run on screen")
            snap = subprocess.run(
                limbo_cmd("snapshot", "--db-url", url),
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
                timeout=60,
            )
            assert snap.returncode == 0 and parent[:8] in snap.stdout, snap
            before = _statements(pg_server.log_path, since)
            assert len(before) > 10  # the log does record what the role runs
            assert _writes(before) == [], _writes(before)[:3]
            assert _traces(dbos_url) == {"schema": 0, "functions": 0, "triggers": 0}
            with psycopg.connect(dbos_url) as conn:
                # Only the app's own queue; none of limbo-tui's (no worker ran).
                queues = conn.execute("SELECT name, application_name FROM dbos.queues")
                assert [r[1] for r in queues] == ["limbo-feed-test"]

            # The user asks: now (and only now) limbo-tui writes, as the log shows.
            term.keys("P")
            term.wait_for(lambda s: "limbo-tui triggers uninstall" in s, 10, "the consent")
            # A dialog hears only keys typed after its paint (screens/dialog.py), which
            # may come a moment after tmux shows it.
            time.sleep(1.0)
            term.keys("y")
            term.wait_for(lambda s: "LIVE via notify" in s, 30, "live push on")
            after = _writes(_statements(pg_server.log_path, since))
            assert any("CREATE TRIGGER" in s for s in after), after[:3]
            term.keys("q")
        finally:
            term.kill()
    out = subprocess.run(
        limbo_cmd("triggers", "uninstall", "--db-url", url),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.startswith("uninstalled:"), out
    assert _traces(dbos_url) == {"schema": 0, "functions": 0, "triggers": 0}
