"""Issue 10.1: nobody else can take over the private server or read its logs.

Every directory the embedded server uses is made private and checked (owner, mode, not
a symlink) before use; a directory planted by another user is refused in one line and
left as it was. As root the planter is the real `nobody`; as a normal user, a planted
directory open to everyone (0777) stands for it.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from limbo_tui.errors import LimboError
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.worker import dbos_launch
from tests.pg_support import shared_tmp

IS_ROOT = os.geteuid() == 0


def _long_data_dir() -> Path:
    """A data dir so deep that its socket cannot live inside it (sun_path is 108 bytes)."""
    base = shared_tmp("limbo-tui-long-")
    deep = base / ("d" * 60) / ("e" * 40)
    deep.mkdir(parents=True)
    for part in (deep.parent, deep):
        part.chmod(0o755)
    return deep / "pg"


def _plant_dir(path: Path) -> None:
    """What another local user can do: create the directory first, open to all."""
    path.mkdir(mode=0o777)
    path.chmod(0o777)
    if IS_ROOT:
        nobody = pwd.getpwnam("nobody")
        os.chown(path, nobody.pw_uid, nobody.pw_gid)


def test_a_planted_socket_directory_is_refused_not_used() -> None:
    server = EmbeddedServer(_long_data_dir())
    assert str(server.socket_dir).startswith("/tmp/limbo-tui-")  # the predictable name
    _plant_dir(server.socket_dir)
    before = server.socket_dir.stat()
    try:
        with pytest.raises(LimboError) as err:
            server.ensure_running()
        message = str(err.value)
        assert "\n" not in message
        assert f"refusing the embedded server's socket directory {server.socket_dir}" in message
        assert "remove it" in message
        assert not server.owned
        after = server.socket_dir.stat()
        # never chown-ed nor chmod-ed, and no socket in it for the planter to use
        assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)
        assert list(server.socket_dir.iterdir()) == []
    finally:
        server.stop()
        server.socket_dir.rmdir()


def test_a_symlink_in_place_of_the_socket_directory_is_refused(tmp_path: Path) -> None:
    server = EmbeddedServer(_long_data_dir())
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    server.socket_dir.symlink_to(elsewhere)
    try:
        with pytest.raises(LimboError) as err:
            server.ensure_running()
        assert "is a symlink or not a directory" in str(err.value)
        assert list(elsewhere.iterdir()) == []
    finally:
        server.stop()
        server.socket_dir.unlink()


def test_the_long_path_server_is_private_and_works() -> None:
    server = EmbeddedServer(_long_data_dir())
    try:
        server.ensure_running()
        st = server.socket_dir.lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        expected_uid = pwd.getpwnam("limbo-tui").pw_uid if IS_ROOT else os.geteuid()
        assert st.st_uid == expected_uid
        socket = server.socket_dir / f".s.PGSQL.{server.port}"
        assert stat.S_IMODE(socket.lstat().st_mode) == 0o700
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        for private in (server.data_dir / "postgres.log", server.data_dir / "start.lock"):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
            assert private.stat().st_uid == os.geteuid()
    finally:
        server.stop()
        if server.socket_dir.exists():
            for entry in server.socket_dir.iterdir():
                entry.unlink()
            server.socket_dir.rmdir()


def test_a_symlinked_server_log_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-loglink-") / "pg"
    first = EmbeddedServer(data_dir)
    first.ensure_running()
    first.stop()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    log = data_dir / "postgres.log"
    log.unlink()
    log.symlink_to(victim)
    server = EmbeddedServer(data_dir)
    try:
        with pytest.raises(LimboError) as err:
            server.ensure_running()
        assert f"refusing the embedded server's log {log}: it is a symlink" in str(err.value)
        assert victim.read_text() == "precious\n"
        # as root the old code handed the symlink's target to the service user
        assert victim.stat().st_uid == os.geteuid()
    finally:
        server.stop()


def test_the_worker_log_is_not_world_readable(tmp_path: Path) -> None:
    log_path = tmp_path / "worker-thread.log"
    log_path.write_text("an older limbo-tui made this 0644\n")
    log_path.chmod(0o644)
    dbos_launch.route_dbos_logs(log_path)
    logging.getLogger("dbos").info("a workflow's error text")
    for handler in logging.getLogger("dbos").handlers:
        handler.flush()
    assert "a workflow's error text" in log_path.read_text()
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    fresh = tmp_path / "fresh.log"
    dbos_launch.route_dbos_logs(fresh)
    logging.getLogger("dbos").info("line")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_a_planted_fallback_log_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No usable state dir (a file where it should be): the fallback under the temp dir.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    temp_dir = shared_tmp("limbo-tui-tmpdir-")
    temp_dir.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(temp_dir))
    planted = temp_dir / f"limbo-tui-{os.getuid()}"
    _plant_dir(planted)
    with pytest.raises(LimboError) as err:
        dbos_launch.default_log_path("thread")
    assert f"refusing the worker log directory {planted}" in str(err.value)
    planted.rmdir()
    # made by limbo-tui itself: private
    path = dbos_launch.default_log_path("thread")
    assert path.parent == planted
    assert stat.S_IMODE(planted.stat().st_mode) == 0o700


def test_a_hard_link_in_place_of_the_server_log_is_refused(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-loghard-") / "pg"
    first = EmbeddedServer(data_dir)
    first.ensure_running()
    first.stop()
    victim = data_dir.parent / "victim"  # same disk: a link can be made
    victim.write_text("precious\n")
    log = data_dir / "postgres.log"
    log.unlink()
    os.link(victim, log)
    with pytest.raises(LimboError) as err:
        EmbeddedServer(data_dir).ensure_running()
    assert "is not a plain file of its own" in str(err.value)
    assert victim.read_text() == "precious\n"


@pytest.mark.skipif(not IS_ROOT, reason="the service user's old layout exists only as root")
def test_as_root_an_older_layout_is_taken_back_from_the_service_user() -> None:
    data_dir = shared_tmp("limbo-tui-oldlayout-") / "pg"
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    server.stop()
    # what the previous limbo-tui left: the data dir and the log the service user's
    service = pwd.getpwnam("limbo-tui")
    for path in (data_dir, data_dir / "postgres.log"):
        os.chown(path, service.pw_uid, service.pw_gid)
    data_dir.chmod(0o700)
    (data_dir / "postgres.log").chmod(0o644)
    again = EmbeddedServer(data_dir)
    again.ensure_running()
    try:
        assert again.owned
        assert (data_dir.stat().st_uid, stat.S_IMODE(data_dir.stat().st_mode)) == (0, 0o711)
        log = (data_dir / "postgres.log").stat()
        assert (log.st_uid, stat.S_IMODE(log.st_mode)) == (0, 0o600)
    finally:
        again.stop()


def test_an_older_0755_log_directory_of_ours_is_tightened_not_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    older = tmp_path / "limbo-tui"
    older.mkdir()
    older.chmod(0o755)  # what an older limbo-tui made (mkdir with the usual umask)
    assert dbos_launch.default_log_path("thread") == older / "worker-thread.log"
    assert stat.S_IMODE(older.stat().st_mode) == 0o700


def test_a_cache_directory_open_to_others_is_refused_before_anything_runs_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """limbo-tui runs the dbos releases and the worker's import path it keeps in its
    cache: one that others can write into would run their code."""
    from limbo_tui import releases
    from limbo_tui.settings import Settings, WorkerSettings
    from limbo_tui.worker.interpreter import worker_interpreter

    shared = tmp_path / "shared-cache"
    _plant_dir(shared)
    monkeypatch.setenv(releases.ENV_CACHE, str(shared))
    with pytest.raises(LimboError) as err:
        releases.ensure_release("2.8.0")
    assert f"refusing limbo-tui's cache directory {shared}" in str(err.value)
    assert list(shared.iterdir()) == []  # no venv was made, nothing ran
    # the worker's own interpreter reaches limbo_tui through a link kept there
    with pytest.raises(LimboError) as err:
        worker_interpreter(Settings(worker=WorkerSettings(python=sys.executable)))
    assert f"refusing limbo-tui's cache directory {shared}" in str(err.value)
    assert list(shared.iterdir()) == []
