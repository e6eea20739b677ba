"""The log view (`L`): which worker log lines stand out, and the live tail of the file."""

from __future__ import annotations

from pathlib import Path

from test_ui_support import WorkerDouble, make_app

from limbo_tui.ui.screens.worker_log import WorkerLogScreen
from limbo_tui.worker_log import LogTail, line_kind, shutdown_wait_ids

# Lines as the seed's worker printed them (dbos 2.8) and as limbo-tui's worker writes them.
SEED_LINES = {
    "16:22:44 [    INFO] (dbos:_dbos.py:503) Recovering 2 workflows from application "
    "version 0.1.0": "recovery",
    "dbos._error.MaxRecoveryAttemptsExceededError: DBOS Error 6: Workflow fe5f-1 has "
    "exceeded its maximum of 2 execution or recovery attempts.": "dead-letter",
    "16:23:12 [   ERROR] (dbos:_recovery.py:41) Exception encountered when recovering "
    "workflow fe5f-1:": "recovery",
    "16:22:28 [    INFO] (dbos:main.py:44) fe5f-1::10 :: Step 3 - Attempt 0/3": "plain",
    "20:01:02 [ WARNING] (dbos:demo.py:80) crash point reached: killing the worker": "crash",
    "20:01:03 [   ERROR] (dbos:_core.py:1) boom": "error",
    "16:47:44 [    INFO] (dbos:_dbos.py:617) Attempting to shut down DBOS. 1 workflows "
    "remain active. IDs: ['fe5f923f-1531-4c06-af78-f4e8f9b5b9c4']": "shutdown-wait",
}


def test_line_kinds_follow_what_the_seed_user_read() -> None:
    assert {line: line_kind(line) for line in SEED_LINES} == SEED_LINES


def test_the_shutdown_waiting_line_names_the_ids_dbos_waits_for() -> None:
    seed = next(line for line, kind in SEED_LINES.items() if kind == "shutdown-wait")
    assert shutdown_wait_ids(seed) == ("fe5f923f-1531-4c06-af78-f4e8f9b5b9c4",)
    two = "Attempting to shut down DBOS. 2 workflows remain active. IDs: ['a-1', 'b']"
    assert shutdown_wait_ids(two) == ("a-1", "b")
    assert shutdown_wait_ids("16:47:53 [    INFO] DBOS successfully shut down") is None


def test_tail_reads_only_new_whole_lines_and_survives_truncation(tmp_path: Path) -> None:
    path = tmp_path / "worker.log"
    tail = LogTail(path)
    assert tail.read_new() == []  # no file yet
    path.write_text("one\ntw")
    assert tail.read_new() == ["one"]
    with path.open("a") as f:
        f.write("o\nthree\n")
    assert tail.read_new() == ["two", "three"]
    assert tail.read_new() == []
    path.write_text("cut\n")  # truncated (shorter than before): read from the start
    assert tail.read_new() == ["cut"]
    path.unlink()
    path.write_text("a new file, longer than the old one was\n")  # rotated: a new inode
    assert tail.read_new() == ["a new file, longer than the old one was"]


def test_a_long_log_opens_at_its_end_on_a_whole_line(tmp_path: Path) -> None:
    path = tmp_path / "worker.log"
    lines = [f"line {i:07d}" for i in range(100_000)]
    path.write_text("\n".join(lines) + "\n")
    got = LogTail(path).read_new()
    assert got == lines[-len(got) :]
    assert 1_000 < len(got) < len(lines)


def _shown(screen: WorkerLogScreen) -> str:
    from textual.widgets import RichLog

    return "\n".join(strip.text for strip in screen.query_one(RichLog).lines)


async def test_L_shows_the_log_live_with_its_path_and_marks(tmp_path: Path) -> None:
    path = tmp_path / "worker-thread.log"
    path.write_text("20:00:00 [    INFO] (dbos:_dbos.py:1) DBOS launched\n")
    app, _ = make_app(worker=WorkerDouble(log_path=str(path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WorkerLogScreen)
        assert str(path) in str(screen.query_one("#log-title").render())
        assert "DBOS launched" in _shown(screen)
        with path.open("a") as f:
            f.write("20:00:01 [    INFO] (dbos:_dbos.py:503) Recovering 2 workflows\n")
            f.write("\x1b]0;pwned\x07title\n")
        for _ in range(20):
            await pilot.pause(0.1)
            if "Recovering" in _shown(screen):
                break
        shown = _shown(screen)
        assert "RECOVER 20:00:01" in shown
        assert "\x1b" not in shown and "pwned" not in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, WorkerLogScreen)


async def test_L_without_a_worker_says_there_is_no_log() -> None:
    app, _ = make_app(worker=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await pilot.pause()
        assert not isinstance(app.screen, WorkerLogScreen)
        assert any("no worker log" in str(n.message) for n in app._notifications)
