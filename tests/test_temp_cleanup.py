"""A test session removes every temp dir it made (conftest, pg_support.shared_tmp): the
shared server's data dir, a server a failed test never stopped, the socket dir a server
with a long data dir path keeps outside it. Each session used to leave ~80 MB behind in
/tmp for good; a few hundred sessions filled the disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_support import shared_tmp

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import os
from pathlib import Path

from limbo_tui.pg.embedded import EmbeddedServer
from tests.pg_support import shared_tmp

RECORD = Path(os.environ["PROBE_RECORD"])


def _record(*paths):
    with RECORD.open("a") as out:
        out.writelines(f"{p}\\n" for p in paths)


def test_the_shared_server_answers(pg_server):
    _record(pg_server.data_dir)
    assert pg_server.is_running()


def test_a_failed_test_leaves_its_server_running():
    # A long path: the server keeps its socket dir in /tmp, outside its data dir.
    server = EmbeddedServer(shared_tmp("limbo-tui-probe-" + "x" * 80) / "pg")
    _record(server.data_dir, server.socket_dir)
    server.ensure_running()
    assert server.socket_dir.parent == Path("/tmp")
    raise AssertionError("failed with its server running")
"""


@pytest.mark.slow
def test_a_session_leaves_nothing_in_its_temp_root(tmp_path: Path) -> None:
    root = shared_tmp("limbo-tui-cleanup-root-")
    (tmp_path / "test_probe.py").write_text(PROBE)
    record = tmp_path / "record.txt"
    env = {**os.environ, "TMPDIR": str(root), "PROBE_RECORD": str(record)}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-n0", "-q",
         "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "basetemp"),
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    # One passed, one failed as it meant to: the session ran both.
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    made = [Path(line) for line in record.read_text().splitlines()]
    assert len(made) == 3 and all(p.is_relative_to(root) for p in made[:2])
    assert [p for p in made if p.exists()] == []
    assert list(root.iterdir()) == []
