"""The embedded server's clear errors: no binaries, a conflicting server on the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from limbo_tui.errors import LimboError
from limbo_tui.pg.binaries import find_binaries
from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import shared_tmp


def test_no_binaries_anywhere_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LimboError) as err:
        find_binaries("no_such_bundle_pkg", search_path=str(tmp_path), system_roots=(tmp_path,))
    message = str(err.value)
    assert "no PostgreSQL server binaries found" in message
    assert "install postgresql" in message and "--db-url" in message


def test_falls_back_to_a_system_install(tmp_path: Path) -> None:
    real = find_binaries()
    fake_bin = tmp_path / "17" / "bin"
    fake_bin.mkdir(parents=True)
    for name in ("postgres", "initdb"):
        (fake_bin / name).symlink_to(real.bin_dir / name)
    found = find_binaries("no_such_bundle_pkg", search_path=str(tmp_path), system_roots=(tmp_path,))
    assert found.bin_dir == fake_bin


def test_a_foreign_server_on_the_data_dir_is_named(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-conflict-") / "pg"
    first = EmbeddedServer(data_dir)
    first.ensure_running()
    try:
        # A server on the same data dir that does not answer where limbo-tui looks (as one
        # started by hand with another socket directory would).
        second = EmbeddedServer(data_dir)
        second.socket_dir = tmp_path / "elsewhere"
        with pytest.raises(LimboError) as err:
            second.ensure_running()
        assert first.process is not None
        assert f"another PostgreSQL server (pid {first.process.pid})" in str(err.value)
        assert "[embedded] data_dir" in str(err.value)
        assert first.is_running()  # and it was left alone
    finally:
        first.stop()
