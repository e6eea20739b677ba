"""A real PgBouncer (the Debian package) in front of the test server, started per test on
a free port, in transaction pooling mode: what many production DBOS apps sit behind."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from limbo_tui.pg.embedded import SERVICE_USER, EmbeddedServer

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pgbouncer(server: EmbeddedServer, database: str) -> Iterator[str]:
    """Yield a URL of `database` through PgBouncer (pool_mode = transaction)."""
    base = Path(tempfile.mkdtemp(prefix="limbo-tui-pgb-"))
    base.chmod(0o755)
    port = _free_port()
    (base / "users.txt").write_text('"postgres" ""\n')
    ini = base / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"{database} = host={server.socket_dir} port={server.port} dbname={database}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"unix_socket_dir =\nauth_type = trust\nauth_file = {base / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 100\n"
        f"logfile = {base / 'pgbouncer.log'}\npidfile = {base / 'pgbouncer.pid'}\n"
        "ignore_startup_parameters = extra_float_digits,application_name\n"
    )
    cmd = [PGBOUNCER, str(ini)]
    kwargs: dict[str, object] = {}
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root: as the embedded server's service user.
        user = pwd.getpwnam(SERVICE_USER)
        for path in base.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
        os.chown(base, user.pw_uid, user.pw_gid)
        kwargs = {"user": user.pw_uid, "group": user.pw_gid}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=base, **kwargs
    )  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (base / "pgbouncer.log").read_text(errors="replace")[-500:]
                    raise RuntimeError(f"pgbouncer did not start: {log}") from None
                time.sleep(0.05)
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
