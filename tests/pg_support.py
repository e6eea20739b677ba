"""The tests' PostgreSQL pieces: temp dirs a server can use, the DBOS-schema template and
fresh databases copied from it (CREATE DATABASE ... TEMPLATE: milliseconds, where DBOS's
migrations take seconds). Every temp dir made here is removed when the test (or the
fixture's scope) that made it ends, a server still running in it stopped first
(conftest's _remove_shared_tmp): a session left ~80 MB per server behind before."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from limbo_tui.database import prepare_dbos_schema
from limbo_tui.pg import databases
from limbo_tui.pg.embedded import EmbeddedServer

DBOS_TEMPLATE = "limbo_test_dbos_template"
_counter = itertools.count()
# The dirs shared_tmp made and nobody removed yet, oldest first.
_made: list[Path] = []


def shared_tmp(prefix: str) -> Path:
    """A directory of our own under /tmp, opened up: as root the server runs as an
    unprivileged user, who must be able to enter it (pytest's tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    _made.append(path)
    return path


def shared_tmp_made() -> int:
    """How many of shared_tmp's dirs exist now: a mark for remove_shared_tmp."""
    return len(_made)


def remove_shared_tmp(mark: int = 0) -> None:
    """Remove the dirs shared_tmp made since `mark`, newest first, with what a server
    kept in them or for them: a server a failed test never stopped is shut down first,
    and a socket dir the server kept outside (a long data dir path) goes too."""
    while len(_made) > mark:
        path = _made.pop()
        for pgdata in (*path.glob("data"), *path.glob("*/data"), *path.glob("*/*/data")):
            if (pgdata / "PG_VERSION").exists():
                _stop_postmaster(pgdata)
                socket_dir = EmbeddedServer(pgdata.parent).socket_dir
                if not socket_dir.is_relative_to(path):
                    shutil.rmtree(socket_dir, ignore_errors=True)
        shutil.rmtree(path, ignore_errors=True)


def _stop_postmaster(pgdata: Path, timeout: float = 10.0) -> None:
    """Immediate shutdown of the server running in `pgdata` (its data goes next)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return  # the pid of a server gone long ago, now another process's
        os.kill(pid, signal.SIGQUIT)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child: reaped, or it lingers a zombie
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except OSError:
            return
        time.sleep(0.05)


def create_dbos_template(server: EmbeddedServer, name: str = DBOS_TEMPLATE) -> str:
    """DBOS's own migrations, once per server (limbo-tui's own builder,
    database.prepare_dbos_schema); every DBOS test database is a copy. Returns its name."""
    prepare_dbos_schema(server.ensure_database(name), "dbos")
    return name


def fresh_database(server: EmbeddedServer, template: str = DBOS_TEMPLATE) -> str:
    """A new database copied from `template` ("template1": an empty one); its name."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    databases.create_database(server.url("postgres"), name, template=template)
    return name


def drop_database(server: EmbeddedServer, name: str) -> None:
    databases.drop_database(server.url("postgres"), name)
