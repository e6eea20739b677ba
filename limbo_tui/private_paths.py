"""Directories and files that must stay private to limbo-tui (or its server's user).

A directory that another local user made, or could write, would hand them the private
server (its socket takes trust auth as superuser) or the logs. So every directory that
limbo-tui creates is made here, then checked through an fd opened without following
symlinks: it is a real directory, owned by the expected user, and nobody else can write
into it (`strict`: nor read it). Anything else is refused with one line naming the
directory and what to do; it is never chmod-ed or chown-ed unless limbo-tui itself owns
it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from limbo_tui.errors import LimboError


def ensure_private_dir(
    path: Path,
    *,
    what: str,
    owner_uid: int | None = None,
    owner_gid: int = -1,
    mode: int = 0o700,
    strict: bool = True,
    adopt_uids: tuple[int, ...] = (),
) -> None:
    """Create `path` (its parent must exist) or accept it if it already fits.

    owner_uid: who must own it in the end (default: this process). A directory this
    process owns, or one owned by a uid in `adopt_uids` (an older limbo-tui's layout),
    that nobody else could write into, is handed over to owner_uid with `mode`. strict:
    group and others get no access at all; otherwise they only may not write.
    """
    euid = os.geteuid()
    owner = euid if owner_uid is None else owner_uid
    created = False
    try:
        os.mkdir(path, mode)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        raise LimboError(f"cannot create {what} {path}: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise _refused(what, path, "is a symlink or not a directory") from None
    try:
        st = os.fstat(fd)
        ours = st.st_uid == euid or st.st_uid in adopt_uids
        if st.st_uid != owner and not ours:
            raise _refused(what, path, f"belongs to uid {st.st_uid}, not {owner}")
        forbidden = 0o077 if strict else 0o022
        # Ours, made just now (the umask may have cut the mode), or by an older limbo-tui
        # and never open to others' writes (so nothing can have been planted inside):
        # handed to its owner with the right mode.
        settled = st.st_uid == owner and not st.st_mode & forbidden
        if created or (ours and not settled and not st.st_mode & 0o022):
            os.fchown(fd, owner, owner_gid)
            os.fchmod(fd, mode)
            st = os.fstat(fd)
        if st.st_mode & forbidden:
            raise _refused(
                what, path, f"has mode {stat.S_IMODE(st.st_mode):04o}, open to other users"
            )
    finally:
        os.close(fd)


def _refused(what: str, path: Path, why: str) -> LimboError:
    return LimboError(
        f"refusing {what} {path}: it {why}; remove it (another user may have planted it) "
        "or set [embedded] data_dir elsewhere"
    )


def open_private_file(path: Path, *, what: str, adopt_uids: tuple[int, ...] = ()) -> int:
    """An fd to append to `path`, created 0600; refused if it is a symlink, a second
    name of another file (a hard link) or not ours. A file of a uid in `adopt_uids` (an
    older limbo-tui's layout) becomes ours."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink where our file should be
            raise _refused(what, path, "is a symlink") from None
        raise LimboError(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise _refused(what, path, "is not a plain file of its own")
        if st.st_uid in adopt_uids:
            os.fchown(fd, os.geteuid(), -1)
        elif st.st_uid != os.geteuid():
            raise _refused(what, path, f"belongs to uid {st.st_uid}, not {os.geteuid()}")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # an older limbo-tui left it world-readable
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


def ensure_private_tree(top: Path, leaf: Path, *, what: str) -> None:
    """Every directory from `top` down to `leaf` (inside it), made or accepted as by
    ensure_private_dir with others kept from writing; top's own parents are made as
    usual (they are the user's, e.g. ~/.cache)."""
    top.parent.mkdir(parents=True, exist_ok=True)
    for path in [top, *(top / part for part in _parts_below(top, leaf))]:
        ensure_private_dir(path, what=what, strict=False)


def _parts_below(top: Path, leaf: Path) -> list[Path]:
    relative = leaf.relative_to(top)
    return [Path(*relative.parts[: i + 1]) for i in range(len(relative.parts))]
