"""DBOS releases provisioned by uv into limbo-tui's cache: one virtual environment per
release (and Python minor version), made once, reused by every later run.

limbo-tui itself runs the dbos it was installed with (3.x). Another release is needed
to act on a database that release wrote (worker/release_client.py) and to run the seed
experiment on it (`--dbos 2.8.0`). Each lives in its own venv holding exactly
`dbos==X.Y.Z` and what it depends on, so no release ever shares code with another, nor
with the user's own project. The uv cache makes a re-creation take seconds.

A registry that cannot be reached ends in one line naming the release and the command
that would install it by hand; nothing falls back to another release.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from limbo_tui.errors import ConfigError, LimboError, one_line
from limbo_tui.private_paths import ensure_private_tree

ENV_CACHE = "LIMBO_TUI_CACHE_DIR"
# The oldest release limbo-tui can act with or run the experiment on: the seed's.
OLDEST = (2, 8, 0)
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_READY = ".limbo-tui-ready"
_INSTALL_TIMEOUT_S = 600.0


class ProvisionError(LimboError):
    """A release that could not be installed into the cache (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1)


def parse_release(text: str, source: str = "--dbos") -> tuple[int, int, int]:
    """ "2.8.0" -> (2, 8, 0); a ConfigError naming `source` for anything else."""
    match = _RELEASE.match(text.strip())
    if match is None:
        raise ConfigError(f"{source}: {text!r} is not a DBOS release; write it as 2.8.0")
    release = (int(match[1]), int(match[2]), int(match[3]))
    if release < OLDEST or release[0] >= 4:
        raise ConfigError(
            f"{source}: dbos {text} is not supported; choose a release from 2.8.0 to 3.x"
        )
    return release


def cache_root() -> Path:
    """$LIMBO_TUI_CACHE_DIR, else the user's cache dir (~/.cache/limbo-tui on Linux)."""
    explicit = os.environ.get(ENV_CACHE)
    base = Path(explicit) if explicit else Path(platformdirs.user_cache_dir("limbo-tui"))
    return base / "dbos"


def _python_tag() -> str:
    return f"py{sys.version_info.major}.{sys.version_info.minor}"


def venv_dir(release: str) -> Path:
    return cache_root() / f"dbos-{release}-{_python_tag()}"


def venv_python(directory: Path) -> Path:
    if sys.platform == "win32":
        return directory / "Scripts" / "python.exe"
    return directory / "bin" / "python"


def install_command(release: str, directory: Path | None = None) -> str:
    """What a user would type to make the same environment by hand."""
    target = directory or venv_dir(release)
    return (
        f"uv venv --python {sys.version_info.major}.{sys.version_info.minor} {target} && "
        f"uv pip install --python {venv_python(target)} dbos=={release}"
    )


def find_uv() -> str | None:
    """The uv binary: on PATH, else the one the `uv` package ships beside limbo-tui."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def provisioned(release: str) -> Path | None:
    """The interpreter of `release` if it is in the cache already (nothing is installed)."""
    directory = venv_dir(release)
    python = venv_python(directory)
    if (directory / _READY).is_file() and python.exists():
        return python
    return None


def ensure_release(release: str) -> Path:
    """The Python interpreter of a venv holding exactly dbos==release; made on first use.

    Safe when several limbo-tui (or test workers) ask at once: one makes it under a lock,
    the others wait and reuse it. A half-made venv is never used: it is built next to the
    cache entry and renamed into place only once dbos imports.
    """
    parse_release(release)
    ready = provisioned(release)
    if ready is not None:
        return ready
    directory = venv_dir(release)
    # limbo-tui runs the interpreters it finds here: nobody else may write into it.
    ensure_private_tree(cache_root().parent, directory.parent, what="limbo-tui's cache directory")
    with _locked(directory.parent / f"{directory.name}.lock"):
        ready = provisioned(release)
        if ready is not None:
            return ready
        _build(release, directory)
    python = provisioned(release)
    if python is None:  # pragma: no cover - _build either makes it or raises
        raise ProvisionError(f"dbos {release} was installed but its interpreter is missing")
    return python


def _build(release: str, directory: Path) -> None:
    uv = find_uv()
    if uv is None:
        raise ProvisionError(
            f"dbos {release} is needed but uv is not installed: install uv "
            f"(pip install uv), or make the environment by hand: {install_command(release)}"
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        _run(release, [uv, "venv", "--quiet", "--python", sys.executable, str(staging)])
        _run(
            release,
            [uv, "pip", "install", "--quiet", "--python", str(venv_python(staging)),
             f"dbos=={release}"],
        )  # fmt: skip
        # Made at a temporary path, the venv's scripts name it; only the interpreter is
        # used (python -m / python script.py), which does not care where it was made.
        _run(release, [str(venv_python(staging)), "-c", "import dbos"])
        (staging / _READY).write_text(release + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _run(release: str, command: list[str]) -> None:
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(
            f"cannot install dbos {release} into limbo-tui's cache ({one_line(exc, 120)}); "
            f"run: {install_command(release)}"
        ) from None
    if done.returncode == 0:
        return
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    why = lines[-1] if lines else f"exit status {done.returncode}"
    cause = (
        "the package registry cannot be reached"
        if _looks_offline(done.stderr)
        else "the install failed"
    )
    raise ProvisionError(
        f"cannot install dbos {release} into limbo-tui's cache: {cause} "
        f"({one_line(why, 160)}); when it can, run: {install_command(release)}"
    )


_OFFLINE_WORDS = (
    "network",
    "connect",
    "offline",
    "dns",
    "resolve",
    "timed out",
    "failed to fetch",
)


def _looks_offline(stderr: str) -> bool:
    text = stderr.lower()
    return any(word in text for word in _OFFLINE_WORDS)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: one limbo-tui making a venv at a time is the user's care
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
