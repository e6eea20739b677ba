"""The private PostgreSQL server behind the embedded default.

With no database configured, limbo-tui runs its own server in the user's data dir so a
newcomer sees it work at once. The rules it keeps:

- the server is a direct child of limbo-tui and dies with it (PR_SET_PDEATHSIG), so a
  `kill -9` or an SSH hang-up leaves no postgres behind;
- it listens on a unix socket only (listen_addresses = ''), trust auth;
- a second limbo-tui on the same data dir reuses the running server;
- as root, the server runs as an unprivileged system user; the user's own directories
  are never chmod-ed (root's default data dir lives under /var/lib/limbo-tui instead).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import platformdirs

from limbo_tui.errors import DatabaseError, LimboError
from limbo_tui.pg.binaries import Binaries, find_binaries, server_env, usable_binaries
from limbo_tui.pg.run_as import Account, first_blocked_prefix, popen_kwargs, service_account
from limbo_tui.private_paths import ensure_private_dir, open_private_file

APP_NAME = "limbo-tui"
ROOT_BASE_DIR = Path("/var/lib/limbo-tui")
PORT = 5432  # only names the socket file; nothing listens on TCP
# sun_path holds 108 bytes; the socket file name ".s.PGSQL.5432" takes 14 of them.
_MAX_SOCKET_DIR = 90
_PR_SET_PDEATHSIG = 1
_SIG_DFL = 0
_START_TIMEOUT_S = 30.0
# Below one WAL segment of free space the server's next segment cannot be made: DBOS's
# writes fail (or the server stops) from here on.
_DISK_FULL_BYTES = 16 * 1024 * 1024


def unsupported_platform() -> str | None:
    """Why the embedded server cannot run here (one line), or None on Linux."""
    if sys.platform.startswith("linux"):
        return None
    system = {"darwin": "macOS", "win32": "Windows"}.get(sys.platform, sys.platform)
    return (
        f"the embedded PostgreSQL server runs on Linux only (it must die with limbo-tui, "
        f"which needs prctl); on {system} pass --db-url postgresql://... (or set "
        "[database] url): watching, snapshot, watch and triggers work there"
    )


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return ROOT_BASE_DIR / "pg"
    return Path(platformdirs.user_data_dir(APP_NAME)) / "pg"


class EmbeddedServer:
    """Start, reuse or stop the private server in `data_dir`.

    `listen` (e.g. "127.0.0.1") and `port` exist for tests that need a database reached
    over TCP (a proxy in between); limbo-tui itself always uses the unix socket only.

    Layout: data_dir (ours; as root 0711 so the service user may pass) holds `data/`
    and `run/` (the server's user, 0700), `pginstall-<version>/` (binaries.py), the
    server's log and the start lock (ours, 0600).
    """

    def __init__(
        self, data_dir: Path | str | None = None, *, listen: str | None = None, port: int = PORT
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.listen = listen
        self.port = port
        self.pgdata = self.data_dir / "data"
        self.log_path = self.data_dir / "postgres.log"
        self.socket_dir = self._choose_socket_dir()
        self.process: subprocess.Popen[bytes] | None = None
        self._account: Account | None = None
        self._account_known = False

    # -- public -------------------------------------------------------------------------
    @property
    def owned(self) -> bool:
        """True when this process started the server (and it stops with us)."""
        return self.process is not None and self.process.poll() is None

    @property
    def initialized(self) -> bool:
        """True when the data dir holds a database cluster (initdb ran)."""
        return (self.pgdata / "PG_VERSION").exists()

    def url(self, database: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://postgres@/{quote(database)}?host={host}&port={self.port}"

    def tcp_url(self, database: str = "postgres", user: str = "postgres") -> str:
        """The URL over TCP; only for a server started with `listen`."""
        if not self.listen:
            raise ValueError("this server listens on its unix socket only")
        return f"postgresql://{quote(user)}@{self.listen}:{self.port}/{quote(database)}"

    def is_running(self) -> bool:
        return self._accepting()

    def wait_accepting(self, timeout: float) -> bool:
        """Wait until the server accepts connections (True), at most `timeout` seconds
        (False). It only connects, so any thread may wait while another starts it."""
        deadline = time.monotonic() + timeout
        while not self._accepting():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def ensure_running(self, *, create: bool = True) -> str:
        """Start the server, or reuse one that another limbo-tui already runs.

        create=False (`--read-only`): never initdb; a data dir without a cluster is
        "nothing to watch".
        """
        if not create and not self.initialized and not self._accepting():
            raise self._nothing_to_watch()
        self._prepare_dirs()
        with self._lock():
            if self._accepting():
                return self.url()
            binaries = usable_binaries(find_binaries(), self.data_dir, self._server_account())
            if not self.initialized:
                if not create:
                    raise self._nothing_to_watch()
                self._initdb(binaries)
            self._start(binaries)
        return self.url()

    def ensure_database(self, name: str, *, create: bool = True) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                if not create:
                    raise self._nothing_to_watch(f"has no database {name!r}")
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def disk_problem(self) -> str | None:
        """One line when the data dir's disk is (nearly) full, else None. Cheap: statvfs."""
        try:
            st = os.statvfs(self.pgdata)
        except OSError:
            return None
        free = st.f_bavail * st.f_frsize
        if free >= _DISK_FULL_BYTES:
            return None
        return (
            f"disk full: {free // (1024 * 1024)} MB free for the embedded database in "
            f"{self.data_dir}; DBOS writes fail until space is freed"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown of a server this process started; a reused one is left alone."""
        proc = self.process
        self.process = None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 3.0)):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        proc.wait(5)

    # -- internals ----------------------------------------------------------------------
    def _nothing_to_watch(self, why: str = "has no database yet") -> DatabaseError:
        return DatabaseError(
            f"--read-only: nothing to watch, the embedded server in {self.data_dir} {why} "
            "(and --read-only creates none); run limbo-tui once without --read-only, or "
            "pass --db-url"
        )

    def _conninfo(self, database: str) -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={database}"

    def _accepting(self) -> bool:
        if not (self.socket_dir / f".s.PGSQL.{self.port}").exists():
            return False
        import psycopg

        try:
            with psycopg.connect(self._conninfo("postgres"), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _choose_socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred)) <= _MAX_SOCKET_DIR:
            return preferred
        # Anyone can predict this name: _prepare_dirs refuses it unless it is ours.
        import hashlib

        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"limbo-tui-{os.geteuid()}-{digest}"

    def _server_account(self) -> Account | None:
        """The unprivileged account the server runs as when we are root (else None)."""
        if not self._account_known:
            self._account = service_account()
            self._account_known = True
        return self._account

    def _prepare_dirs(self) -> None:
        account = self._server_account()
        server_uid = account.uid if account is not None else os.geteuid()
        server_gid = account.gid if account is not None else -1
        # An older limbo-tui gave root's data dir to the service user; it is ours again
        # (the service user must not be able to plant symlinks where root opens files).
        adopt = (account.uid,) if account is not None else ()
        try:
            if account is not None and self.data_dir.parent == ROOT_BASE_DIR:
                ROOT_BASE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            # It also holds the worker's logs; as root the service user passes through.
            self.data_dir.parent.mkdir(
                mode=0o711 if account is not None else 0o700, parents=True, exist_ok=True
            )
        except PermissionError:
            raise LimboError(
                f"cannot create the embedded database directory {self.data_dir}: permission "
                "denied; set [embedded] data_dir in config.toml to a writable place, "
                "or pass --db-url"
            ) from None
        except OSError as exc:
            raise LimboError(
                f"cannot create the embedded database directory {self.data_dir}: "
                f"{exc.strerror}; set [embedded] data_dir in config.toml or pass --db-url"
            ) from None
        try:
            ensure_private_dir(
                self.data_dir,
                what="the embedded database directory",
                mode=0o711 if account is not None else 0o700,
                strict=False,
                adopt_uids=adopt,
            )
        except LimboError as exc:
            if "cannot create" in exc.message:
                raise LimboError(
                    f"{exc.message}; set [embedded] data_dir in config.toml to a writable "
                    "place, or pass --db-url"
                ) from None
            raise
        if account is not None:
            # As root: the server's own directories belong to the service user, whose
            # way in must already be open (the user's directories are never chmod-ed).
            blocked = first_blocked_prefix(self.data_dir, account)
            if blocked is not None:
                raise LimboError(
                    f"running as root, the embedded server runs as user {account.name!r}, "
                    f"who cannot enter {blocked}; use the default data dir "
                    f"({ROOT_BASE_DIR}), set [embedded] data_dir to a path that user can "
                    "reach, or run as a normal user"
                )
        for directory, what in (
            (self.socket_dir, "the embedded server's socket directory"),
            (self.pgdata, "the embedded server's data directory"),
        ):
            ensure_private_dir(directory, what=what, owner_uid=server_uid, owner_gid=server_gid)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two limbo-tui starting at once must not both initdb or start a server.
        import fcntl

        lock_path = self.data_dir / "start.lock"
        fd = open_private_file(lock_path, what="the start lock")
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LimboError(
                            f"another limbo-tui holds {lock_path} for over "
                            f"{_START_TIMEOUT_S:.0f} s; stop it or remove the lock file"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    def _initdb(self, binaries: Binaries) -> None:
        cmd = [
            str(binaries.initdb),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd="/",
            env=server_env(),
            timeout=120,
            **popen_kwargs(self._server_account()),
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise LimboError(
                f"initdb failed for the embedded database in {self.pgdata}: {last}; "
                "remove that directory to start afresh, or pass --db-url"
            )

    def _start(self, binaries: Binaries) -> None:
        cmd = [
            str(binaries.postgres),
            "-D",
            str(self.pgdata),
            "-k",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.listen or ''}",
            "-c",
            "max_connections=300",
            # The socket directory is private (0700): only its owner, and root, get in.
            "-c",
            "unix_socket_permissions=0700",
        ]
        running = _live_postmaster(self.pgdata)
        if running is not None:
            raise LimboError(
                f"another PostgreSQL server (pid {running}) runs on {self.pgdata} but does not "
                f"answer on {self.socket_dir}: stop it, or set [embedded] data_dir to "
                "another directory"
            )
        # The log is ours (0600) and handed to the server as its stdout: as root it is
        # never chown-ed to the service user.
        # An older limbo-tui gave the log to the service user: it is ours again.
        account = self._server_account()
        log = open_private_file(
            self.log_path,
            what="the embedded server's log",
            adopt_uids=(account.uid,) if account is not None else (),
        )
        try:
            # start_new_session: the terminal's Ctrl+C / hang-up reaches limbo-tui, which
            # stops the server itself; PDEATHSIG covers the case where it cannot.
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                env=server_env(),
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                **popen_kwargs(self._server_account()),
            )
        finally:
            os.close(log)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise LimboError(
                    f"the embedded PostgreSQL server did not start: {self._log_tail()}; "
                    f"see {self.log_path}"
                )
            if self._accepting():
                return
            time.sleep(0.02)
        self.stop()
        raise DatabaseError(
            f"the embedded PostgreSQL server did not accept connections within "
            f"{_START_TIMEOUT_S:.0f} s; see {self.log_path}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        for line in reversed(lines[-20:]):
            if "FATAL" in line or "ERROR" in line:
                return line.split("FATAL:", 1)[-1].split("ERROR:", 1)[-1].strip()
        return lines[-1].strip() if lines else "no log"


def _live_postmaster(pgdata: Path) -> int | None:
    """The pid in postmaster.pid when that process is alive (a stale file is harmless:
    PostgreSQL removes it itself)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # alive, and someone else's
    except OSError:
        return None
    # After a kill -9 the pid may belong to an unrelated process by now.
    try:
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except OSError:
        pass  # no /proc here: trust the pid
    return pid


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """The child's last step before exec (after the uid change, which would clear it):
    die with `parent_pid`."""

    # Loaded here, in the parent: after the uid change the child may not even read
    # Python's own library (an interpreter under /root).
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    signals = [int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]

    def arm() -> None:
        # An owner started with SIGINT ignored (a script's background job, nohup-like
        # launchers) passes SIG_IGN on through exec: the death signal would be dropped
        # until postgres installs its own handler. Defaults and an open mask first (in C:
        # Python's signal.signal refuses off the main thread), then arm it.
        for sig in signals:
            libc.signal(sig, _SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        # SIGINT is PostgreSQL's fast shutdown: clients are cut, data is flushed.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)
        # The owner may be gone already (between fork and prctl): then we were adopted,
        # by init or by a subreaper.
        if os.getppid() != parent_pid:
            os._exit(1)

    return arm
