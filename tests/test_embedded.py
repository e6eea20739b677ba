"""The embedded server: start, reuse, stop, no orphans, root handling, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from limbo_tui.errors import LimboError
from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import shared_tmp

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def data_dir() -> Path:
    return shared_tmp("limbo-tui-embedded-") / "pg"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_start_reuse_stop(data_dir: Path) -> None:
    first = EmbeddedServer(data_dir)
    url = first.ensure_running()
    assert first.owned
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    second = EmbeddedServer(data_dir)
    assert second.ensure_running() == url
    assert not second.owned  # reused, not a second server
    pid = first.process.pid if first.process else -1
    second.stop()  # a reused server is not ours to stop
    assert _pid_alive(pid)
    first.stop()
    assert _wait_gone(pid)
    assert not first.is_running()
    # warm start on the existing data dir keeps data
    again = EmbeddedServer(data_dir)
    again.ensure_running()
    again.ensure_database("kept")
    again.stop()
    again.ensure_running()
    with psycopg.connect(again.url("kept")) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("kept",)
    again.stop()


def _spawn_owner(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    code = (
        "import sys, time\n"
        "from limbo_tui.pg.embedded import EmbeddedServer\n"
        f"s = EmbeddedServer({str(data_dir)!r}); s.ensure_running()\n"
        "print(s.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), line
    return owner, int(line)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_no_orphan_when_the_owner_dies(data_dir: Path, sig: signal.Signals) -> None:
    owner, pg_pid = _spawn_owner(data_dir)
    assert _pid_alive(pg_pid)
    owner.send_signal(sig)
    owner.wait(10)
    assert _wait_gone(pg_pid), "postgres outlived limbo-tui"
    # and the next start works on the same data dir
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    assert server.owned
    server.stop()


def test_second_process_reuses_the_running_server(data_dir: Path) -> None:
    owner, pg_pid = _spawn_owner(data_dir)
    try:
        other = EmbeddedServer(data_dir)
        other.ensure_running()
        assert not other.owned
        with psycopg.connect(other.url()) as conn:
            pid = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'postmaster'"
                " UNION SELECT %s",
                (pg_pid,),
            ).fetchall()
        assert pid
    finally:
        owner.kill()
        owner.wait(10)
    assert _wait_gone(pg_pid)


def test_unusable_data_dir_is_a_clear_error() -> None:
    with pytest.raises(LimboError) as err:
        EmbeddedServer("/etc/hostname/pg").ensure_running()
    assert "cannot create the embedded database directory /etc/hostname/pg" in str(err.value)
    assert "--db-url" in str(err.value)


@pytest.mark.skipif(not IS_ROOT, reason="root handling only applies when run as root")
def test_as_root_the_server_runs_unprivileged(data_dir: Path) -> None:
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    try:
        assert server.process is not None
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert all(int(u) != 0 for u in uid_line.split()[1:])
        # the server's own directories are the service user's; the data dir stays root's
        # so that the service user cannot plant a symlink where root opens files
        assert server.pgdata.stat().st_uid != 0 and server.socket_dir.stat().st_uid != 0
        assert data_dir.stat().st_uid == 0
        # the parent we were given was not touched
        assert data_dir.parent.stat().st_uid == 0
    finally:
        server.stop()


@pytest.mark.skipif(not IS_ROOT, reason="root handling only applies when run as root")
def test_as_root_an_unreachable_data_dir_says_why(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(LimboError) as err:
        EmbeddedServer(private / "pg").ensure_running()
    message = str(err.value)
    assert "cannot enter" in message and "run as a normal user" in message
    assert (private.stat().st_mode & 0o777) == 0o700  # never chmod-ed
