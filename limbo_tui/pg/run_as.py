"""Who the embedded server runs as: this user, or (as root) an unprivileged service user.

PostgreSQL refuses to run as root, and a root-run server would be a root shell for
anyone who reaches its socket. As root, initdb, postgres and the binaries' check run
as `limbo-tui`, a system user created on first use ('nobody' if it cannot be).
`pwd` is imported only here and only when needed: Windows has no such module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limbo_tui.errors import LimboError

SERVICE_USER = "limbo-tui"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        """subprocess arguments that drop to this account (the child's only groups)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def service_account() -> Account | None:
    """The account the server runs as when we are root; None: it runs as ourselves."""
    if os.geteuid() != 0:
        return None
    entry = _account(SERVICE_USER)
    if entry is None:
        _create_service_user()
        # nobody is the unprivileged account every system has when a dedicated one
        # cannot be created.
        entry = _account(SERVICE_USER) or _account("nobody")
    if entry is None:
        raise LimboError(
            "running as root, the embedded PostgreSQL server needs an unprivileged user, "
            f"and neither {SERVICE_USER!r} could be created nor 'nobody' exists; create "
            f"one (useradd --system {SERVICE_USER}) or run limbo-tui as a normal user"
        )
    return entry


def _account(name: str) -> Account | None:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def popen_kwargs(account: Account | None) -> dict[str, Any]:
    return {} if account is None else account.popen_kwargs()


def _create_service_user() -> None:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    # On failure: 'nobody' (service_account).
    with contextlib.suppress(OSError, subprocess.SubprocessError):
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
            check=False,
            capture_output=True,
            timeout=30,
        )


def first_blocked_prefix(path: Path, account: Account) -> Path | None:
    """The first existing ancestor of path (or path) that `account` may not traverse."""
    path = path.absolute()
    for prefix in [*reversed(path.parents), path]:
        try:
            st = prefix.stat()
        except FileNotFoundError:
            return None
        if st.st_uid == account.uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == account.gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return prefix
    return None
