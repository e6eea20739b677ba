"""The release helper is kept running for the session: every action on a 2.8 database
after the first is answered by the same process (no second import of dbos 2.8), a helper
that is gone is started again, and a request it died answering fails in one line and is
never sent twice (an enqueue or a fork is not idempotent)."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_support import OLD, old_database, release_python, workflow_rows

from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import Settings
from limbo_tui.urls import sqlalchemy_url
from limbo_tui.worker.actions import Actions
from limbo_tui.worker.helper_process import HelperFailed, HelperProcess, helper_for
from limbo_tui.worker.release_client import ReleaseActionError, call_helper
from tests import seed
from tests.pg_support import drop_database


@pytest.fixture
def old_url(pg_server: EmbeddedServer) -> Iterator[str]:
    name = old_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def _status(url: str, workflow_id: str) -> str:
    return next(r["status"] for r in workflow_rows(url) if r["workflow_uuid"] == workflow_id)


def test_actions_on_a_28_database_are_answered_by_one_helper_for_the_session(
    old_url: str,
) -> None:
    seed.write(old_url)
    helper = helper_for(release_python(OLD))
    first = Actions(old_url, Settings())
    try:
        assert first.cancel(seed.CHILD).ok
        pid = helper.pid
        assert pid is not None
    finally:
        first.close()
    # Another Actions (another database, the next key press): the same process.
    later = Actions(old_url, Settings())
    try:
        result = later.cancel(seed.PARENT)
        assert result.ok, result.message
    finally:
        later.close()
    assert helper.pid == pid
    assert _status(old_url, seed.CHILD) == _status(old_url, seed.PARENT) == "CANCELLED"


def _wait_until_dead(pid: int) -> None:
    """Until the kernel has ended `pid` (a zombie, not yet reaped by its parent)."""
    while Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z":
        time.sleep(0.01)


def test_a_helper_that_is_gone_is_started_again_for_the_next_request(old_url: str) -> None:
    seed.write(old_url)
    helper = HelperProcess(release_python(OLD))
    try:
        assert helper.request({"op": "version"}, 120)["dbos"] == OLD
        pid = helper.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_until_dead(pid)
        request = {"url": sqlalchemy_url(old_url), "op": "cancel", "workflow_id": seed.PARENT}
        reply = helper.request(request, 120)
        assert reply["ok"], reply
        assert helper.pid not in (None, pid) and helper.starts == 2
        assert _status(old_url, seed.PARENT) == "CANCELLED"
    finally:
        helper.close()
    assert helper.pid is None


def test_a_helper_that_does_not_answer_in_time_is_ended_and_replaced(old_url: str) -> None:
    helper = HelperProcess(release_python(OLD))
    try:
        # Its first reply comes only after dbos 2.8 is imported: never within 1 ms.
        with pytest.raises(HelperFailed, match=r"no reply within 0\.001 s"):
            helper.request({"op": "version"}, 0.001)
        assert helper.pid is None
        assert helper.request({"op": "version"}, 120)["ok"]
        assert helper.starts == 2
    finally:
        helper.close()


def _dying_interpreter(tmp_path: Path) -> tuple[Path, Path]:
    """An 'interpreter' that takes one request, notes it, and dies without a reply."""
    seen = tmp_path / "requests"
    script = tmp_path / "python"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "line = sys.stdin.readline()\n"
        f"open({str(seen)!r}, 'a').write(line)\n"
        "sys.stderr.write('dbos exploded: out of memory\\n')\n"
        "sys.exit(3)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, seen


def test_a_request_the_helper_died_answering_fails_in_one_line_and_is_not_sent_again(
    tmp_path: Path,
) -> None:
    python, seen = _dying_interpreter(tmp_path)
    request = {"op": "enqueue", "options": {"queue_name": "q"}, "input": {}}
    with pytest.raises(ReleaseActionError) as failed:
        call_helper(python, request, timeout=60)
    assert str(failed.value) == "the DBOS helper failed: dbos exploded: out of memory"
    assert len(seen.read_text().splitlines()) == 1
    # The next request starts a helper again (which dies again, on that one request).
    with pytest.raises(ReleaseActionError):
        call_helper(python, {"op": "version"}, timeout=60)
    assert len(seen.read_text().splitlines()) == 2
    assert helper_for(python).starts == 2


def test_an_interpreter_that_cannot_run_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReleaseActionError, match=r"^the DBOS helper failed: .*No such file"):
        call_helper(tmp_path / "no-python", {"op": "version"}, timeout=60)
