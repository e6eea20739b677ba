"""`--record FILE` and `limbo-tui replay FILE`, end to end: the real command in tmux watches
a database whose workflow climbs through its dispatches; the recording then tells that
story (`replay --timeline`) and plays the tree again in the TUI, with no database."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from limbo_tui.model import Workflow
from limbo_tui.recording import Recorder, read_recording
from tests.test_e2e_tmux import COMMAND
from tests.tmux_support import Terminal

WID = "5eed0000-aaaa-4bbb-8ccc-000000000001"


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"limbo-rec-{uuid.uuid4().hex[:8]}", 120, 30)
    yield term
    term.kill()


def _env(tmp_path: Path) -> dict[str, str]:
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    return env | {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}


def _write(url: str, status: str, attempts: int) -> None:
    now = int(time.time() * 1000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, "
            "recovery_attempts, created_at, updated_at) VALUES (%s, %s, 'seed_parent', "
            "'example-queue', %s, %s, %s) ON CONFLICT (workflow_uuid) DO UPDATE SET "
            "status = EXCLUDED.status, recovery_attempts = EXCLUDED.recovery_attempts, "
            "updated_at = EXCLUDED.updated_at",
            (WID, status, attempts, now, now),
        )


def test_a_recorded_session_replays_as_timeline_and_tree(
    dbos_url: str, tmp_path: Path, terminal: Terminal
) -> None:
    record = tmp_path / "session.limbo"
    _write(dbos_url, "ENQUEUED", 0)
    terminal.start(
        f"{COMMAND} --db-url '{dbos_url}' --worker none --record {record}", _env(tmp_path)
    )
    terminal.wait_for(lambda s: "seed_parent" in s and "ENQUEUED" in s, 60, "the workflow")
    for status, attempts, shown in (
        ("PENDING", 1, "disp 1/"),
        ("PENDING", 2, "disp 2/"),
        ("MAX_RECOVERY_ATTEMPTS_EXCEEDED", 3, "DEAD"),
    ):
        _write(dbos_url, status, attempts)
        terminal.wait_for(lambda s, shown=shown: shown in s, 30, f"{status} {attempts}")
    terminal.keys("q")
    terminal.wait_for(lambda s: "LIMBO-EXIT=0" in s, 20, "limbo-tui to exit")
    assert record.stat().st_mode & 0o777 == 0o600  # it holds workflow inputs and outputs

    done = subprocess.run(
        [str(COMMAND), "replay", str(record), "--timeline"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    story = [line.split(None, 2)[1:] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert [kind_text for kind_text in story if kind_text[0] in ("dispatch", "status")] == [
        ["dispatch", "dispatch 1 (recovery_attempts 0 -> 1)"],
        ["status", "ENQUEUED -> PENDING"],
        ["dispatch", "dispatch 2 (recovery_attempts 1 -> 2)"],
        ["dispatch", "dispatch 3 (recovery_attempts 2 -> 3)"],
        ["status", "PENDING -> MAX_RECOVERY_ATTEMPTS_EXCEEDED"],
    ]
    # The dispatches counted match the database's own counter.
    with psycopg.connect(dbos_url) as conn:
        row = conn.execute(
            "SELECT recovery_attempts FROM dbos.workflow_status WHERE workflow_uuid = %s", (WID,)
        ).fetchone()
    assert row is not None and sum(1 for k, _ in story if k == "dispatch") == row[0]

    # The TUI again, from the file alone: the database may be gone by then.
    terminal.kill()
    again = Terminal(f"limbo-replay-{uuid.uuid4().hex[:8]}", 120, 30)
    try:
        again.start(f"{COMMAND} replay {record} --speed 20", _env(tmp_path))
        screen = again.wait_for(
            lambda s: "seed_parent" in s and "DEAD" in s and "replay finished" in s,
            60,
            "the replay",
        )
        # The header names the recording (its problem line first: "replay finished: …").
        assert f"replay finished: {record}"[:40] in screen
        # The replay's clock stops where the recording did: the workflow is seconds old.
        assert "m " not in screen.split("seed_parent", 1)[1].split("\n", 1)[0]
        again.keys("q")
        again.wait_for(lambda s: "LIMBO-EXIT=0" in s, 20, "replay to exit")
    finally:
        again.kill()


def test_a_recording_is_never_overwritten_and_a_cut_last_line_is_survived(tmp_path: Path) -> None:
    path = tmp_path / "r.limbo"
    rec = Recorder(path, "db")
    rec.batch([Workflow(WID, "PENDING", "w", recovery_attempts=1)], full=True)
    rec.close()
    with pytest.raises(Exception, match="exists: name a new file"):
        Recorder(path, "db")
    with path.open("a") as f:
        f.write('{"t": 5, "full": false, "rows": [{"type": "Work')  # killed mid-write
    got = read_recording(path)
    assert got.truncated and len(got.entries) == 1
    path.write_text(path.read_text().replace('"t":', '"t" :', 1).replace("Work\n", "x") + "\n")
    lines = path.read_text().splitlines()
    lines[1] = "not json"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [str(COMMAND), "replay", str(path), "--timeline"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"limbo-tui: replay: {path} line 2 is damaged")
    assert json.loads(lines[0])["format"] == "limbo-tui recording"


async def test_a_replay_says_why_it_reads_no_next_page_of_a_backlog(tmp_path: Path) -> None:
    """The tree's "more" line of a summarized backlog, in a replay: the header says the
    recording holds only what its session read (before, the key did nothing at all)."""
    from limbo_tui.recording import Recording
    from limbo_tui.replay import replay_app
    from limbo_tui.ui.messages import BacklogPageWanted
    from limbo_tui.ui.status_header import StatusHeader

    app = replay_app(Recording(tmp_path / "session.jsonl", "db", 0, []), speed=1.0)
    async with app.run_test(size=(100, 24)) as pilot:
        app.post_message(BacklogPageWanted("q", (0, "oldest-loaded")))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        problem = app.query_one(StatusHeader).problem
        assert problem.startswith("could not read the next page of queue q: a replay has only")
