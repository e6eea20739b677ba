"""A real PgBouncer (the Debian package) in transaction pooling mode in front of the test
server: what many production DBOS deployments sit behind. It refuses startup parameters it
does not know, and gives each transaction whichever server connection is free.

    with PgBouncer(pg_server, database_name) as bouncer:
        ... connect to bouncer.url ...
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.run_as import SERVICE_USER
from tests.own_server import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(BINARY).exists()


class PgBouncer:
    def __init__(self, server: EmbeddedServer, database: str) -> None:
        parts = urlsplit(server.url(database))
        query = dict(parse_qsl(parts.query))
        self._socket_dir = query["host"]
        self._server_port = parts.port or int(query.get("port", 5432))
        self._database = database
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="limbo-tui-test-bouncer-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self._database}"

    def __enter__(self) -> PgBouncer:
        ini = self._dir / "pgbouncer.ini"
        users = self._dir / "users.txt"
        users.write_text('"postgres" ""\n')
        ini.write_text(
            f"[databases]\n{self._database} = host={self._socket_dir} "
            f"port={self._server_port} dbname={self._database} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {users}\npool_mode = transaction\n"
            f"logfile = {self._dir / 'pgbouncer.log'}\n"
        )
        command = [BINARY]
        if os.geteuid() == 0:
            # PgBouncer will not run as root; the embedded server's own account can reach
            # the server's socket directory.
            service = pwd.getpwnam(SERVICE_USER)
            for path in (self._dir, ini, users):
                os.chown(path, service.pw_uid, service.pw_gid)
            command += ["-u", SERVICE_USER]
        command.append(str(ini))
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    log = self._dir / "pgbouncer.log"
                    text = log.read_text() if log.exists() else ""
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"pgbouncer did not start: {text[-500:]}") from None
                time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)
