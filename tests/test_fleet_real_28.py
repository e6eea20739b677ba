"""The same states on a database written by real dbos 2.8.0 workers, where they exist.

Executor a (killed) and b, versions v1 and v2, DBOS.recv waiters, a cancelled child: the
2.8 sentences (a parent of a dead child is in limbo at once: 2.8 polls for ever) and the
fixes, run by 2.8's own client in its helper process (limbo-tui's Actions choose it from
the schema version). 2.8 keeps no dbos.queues, so a queue's limit is unknown there and no
queue is called blocked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_support import old_database, release_python
from test_fleet_real import QUICK, Fleet, diagnosed, of
from test_worker_support import wait_for

from limbo_tui import diagnose as dg
from limbo_tui.diagnose import diagnose
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.scripting import snapshot_json
from limbo_tui.waits import MESSAGE, current_wait
from tests.pg_support import drop_database

# Real DBOS workers and their thresholds: long (`-m "not slow"` leaves them out).
pytestmark = pytest.mark.slow

OLD = "2.8.0"


@pytest.fixture
def fleet28(old_url: str, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(old_url, tmp_path, str(release_python(OLD)))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def old_url(pg_server: EmbeddedServer) -> Iterator[str]:
    name = old_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def test_on_28_a_killed_executors_work_is_orphaned_and_resume_hands_it_over(
    fleet28: Fleet,
) -> None:
    f = fleet28
    f.start("a", "v1", hang=True)
    wid = f.enqueue("fleet_hang", "q_work", "v1")
    assert f.wait_status(wid, "PENDING")["executor"] == "a"
    f.start("b", "v1")
    f.kill("a")
    d = diagnosed(f, wid, dg.ORPHANED, lambda: f.busy("b", "v1"))
    assert "Executor a has written nothing since" in d.reason and "while b on v1" in d.reason
    assert f.graph().registry.release.label == "2.8-2.10"
    result = f.actions.resume(wid)
    assert result.ok, result.message
    done = f.wait_status(wid, "SUCCESS")
    assert done["executor"] == "b" and done["attempts"] == 1


def test_on_28_work_of_an_unserved_version_is_forked_onto_the_live_one(fleet28: Fleet) -> None:
    f = fleet28
    f.start("b", "v2")
    enqueued = f.enqueue("fleet_quick", "q_work", "v1", 7)
    d = diagnosed(f, enqueued, dg.UNSERVED_VERSION, lambda: f.busy("b", "v2"))
    assert "No live executor runs version v1 (live: b on v2)" in d.reason
    assert f.row(enqueued)["status"] == "ENQUEUED"
    result = f.actions.fork(enqueued, 1, application_version="v2")
    assert result.ok, result.message
    assert result.workflow_id is not None
    forked = f.wait_status(result.workflow_id, "SUCCESS")
    assert forked["executor"] == "b" and forked["version"] == "v2"


def test_on_28_a_recv_waiter_is_a_wait_and_send_delivers(fleet28: Fleet) -> None:
    f = fleet28
    f.start("b", "v1")
    receiver = f.enqueue("fleet_recv", "q_work", "v1")
    f.wait_status(receiver, "PENDING")
    wait = wait_for(lambda: current_wait(f.graph(), receiver), 20, "the timeout row")
    assert wait.kind == MESSAGE and wait.deadline_ms is not None
    assert wait.deadline_ms > time.time() * 1000 + 3_000_000  # 2.8's pickled wake-up time
    time.sleep(QUICK.stalled_after_s + 1)
    assert list(of(f.diagnoses(), receiver)) == [dg.AWAITING_MESSAGE]
    result = f.actions.send(receiver, "approval", "yes")
    assert result.ok, result.message
    f.wait_status(receiver, "SUCCESS")


def test_on_28_a_cancelled_child_keeps_its_parent_in_limbo_at_once(fleet28: Fleet) -> None:
    f = fleet28
    f.start("a", "v1", hang=True)
    parent = f.enqueue("fleet_parent", "q_work", "v1")
    f.wait_status(parent, "PENDING")
    child = wait_for(lambda: f.graph().children(parent), 20, "the child")[0]
    f.wait_status(child, "PENDING")
    assert f.actions.cancel(child).ok
    # No grace on 2.8: the state is limbo as soon as the child is CANCELLED.
    d = of(f.diagnoses(), parent)[dg.AWAITING_DEAD_CHILD]
    assert d.severity == dg.LIMBO
    assert "DBOS 2.8-2.10 polls for it for ever" in d.reason
    g = f.graph()
    now = int(time.time() * 1000)
    doc = snapshot_json(g, diagnose(g, now, QUICK), f.url, now, QUICK)
    assert doc["release"] == "2.8-2.10"
    assert all(not q["registered"] and not q["blocked"] for q in doc["queues"])
    assert f.actions.cancel(parent).ok
    assert f.wait_status(parent, "CANCELLED")["status"] == "CANCELLED"
