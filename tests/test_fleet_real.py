"""Real dbos 3.x workers in processes of their own, put into the states DBOS users meet.

Executor a (killed with SIGKILL) and executor b (alive), application versions v1 and v2,
the concurrency-1 queue q_one, workflows waiting in DBOS.recv / DBOS.get_event. For each
state: limbo-tui's snapshot (the real queries on the real rows) gives the diagnosis and
the sentence, and the fix it names, applied through limbo-tui's Actions (DBOS's own
client), leaves the rows that DBOS itself produces.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_worker_support import wait_for

from limbo_tui import diagnose as dg
from limbo_tui.diagnose import Diagnosis, diagnose
from limbo_tui.model import WorkflowGraph
from limbo_tui.scripting import snapshot_json, snapshot_state
from limbo_tui.server_clock import ServerClock
from limbo_tui.settings import LimboSettings, Settings
from limbo_tui.urls import sqlalchemy_url
from limbo_tui.waits import MESSAGE, current_wait
from limbo_tui.worker.actions import Actions

# Real DBOS workers and their thresholds: long (`-m "not slow"` leaves them out).
pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("fleet_worker.py")
# Thresholds a test can wait out: silent after 8 s, ENQUEUED too long after 3 s. The live
# executor must write within the silence threshold of each diagnosis, which takes a
# quick workflow, a snapshot and the rules: on a loaded machine that is seconds.
QUICK = LimboSettings(stalled_after_s=8, enqueued_after_s=3, near_max_margin=-1)


class Fleet:
    """The worker processes of one test (run by `python`: the release under test) and
    limbo-tui's Actions on the same database."""

    def __init__(self, url: str, tmp: Path, python: str = sys.executable) -> None:
        self.url = url
        self.tmp = tmp
        self.python = python
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.actions = Actions(url, Settings())

    def start(self, executor: str, version: str, *, hang: bool = False) -> None:
        log = open(self.tmp / f"worker-{executor}.log", "wb")  # noqa: SIM115 (kept by Popen)
        args = [self.python, str(WORKER), sqlalchemy_url(self.url), "dbos", executor, version]
        proc = subprocess.Popen(
            [*args, *(["--hang"] if hang else [])], stdout=subprocess.PIPE, stderr=log
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"ready", (self.tmp / f"worker-{executor}.log").read_text()
        self.procs[executor] = proc

    def kill(self, executor: str) -> None:
        proc = self.procs.pop(executor)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        self.procs.clear()
        self.actions.close()

    def enqueue(self, name: str, queue: str, version: str | None, arg: Any = None) -> str:
        """An enqueue by DBOS's own client of the database's release (the Actions'
        backend: limbo-tui's dbos on 3.x, the release's helper process on 2.8)."""
        options: dict[str, Any] = {"workflow_name": name, "queue_name": queue}
        if version is not None:
            options["app_version"] = version
        backend = self.actions._get_backend()
        return backend.enqueue(options, arg)  # type: ignore[arg-type]

    def row(self, wid: str) -> dict[str, Any]:
        with psycopg.connect(self.url) as conn:
            cur = conn.execute(
                "SELECT status, executor_id, application_version, recovery_attempts, queue_name "
                "FROM dbos.workflow_status WHERE workflow_uuid = %s",
                (wid,),
            )
            status, executor, version, attempts, queue = cur.fetchone() or (None,) * 5
        return {
            "status": status,
            "executor": executor,
            "version": version,
            "attempts": attempts,
            "queue": queue,
        }

    def wait_status(self, wid: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(
            lambda: (r := self.row(wid))["status"] in statuses and r,
            timeout,
            f"{wid} {'/'.join(statuses)}",
        )

    def busy(self, executor: str, version: str) -> None:
        """Executor `executor` writes something now (it runs a quick workflow)."""
        wid = self.enqueue("fleet_quick", "q_work", version, 1)
        row = self.wait_status(wid, "SUCCESS")
        assert row["executor"] == executor

    def graph(self) -> WorkflowGraph:
        return snapshot_state(self.url, Settings(limbo=QUICK), ServerClock()).graph

    def diagnoses(self) -> list[Diagnosis]:
        return diagnose(self.graph(), int(time.time() * 1000), QUICK)


@pytest.fixture
def fleet(dbos_url: str, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(dbos_url, tmp_path)
    try:
        yield f
    finally:
        f.close()


def of(diags: list[Diagnosis], wid: str) -> dict[str, Diagnosis]:
    return {d.kind: d for d in diags if d.workflow_id == wid}


def diagnosed(
    fleet: Fleet, wid: str, kind: str, keep_alive: Callable[[], None], saying: str = ""
) -> Diagnosis:
    """Wait (past the thresholds) until wid gets `kind` (with a reason `saying` that),
    keeping the live executor busy."""

    def check() -> Diagnosis | None:
        keep_alive()
        found = of(fleet.diagnoses(), wid).get(kind)
        return found if found is not None and saying in found.reason else None

    return wait_for(check, 90, f"{kind} on {wid}")


def test_work_of_a_killed_executor_is_orphaned_and_resume_hands_it_to_the_live_one(
    fleet: Fleet,
) -> None:
    fleet.start("a", "v1", hang=True)
    wid = fleet.enqueue("fleet_hang", "q_work", "v1")
    assert fleet.wait_status(wid, "PENDING")["executor"] == "a"
    fleet.start("b", "v1")
    fleet.kill("a")
    d = diagnosed(fleet, wid, dg.ORPHANED, lambda: fleet.busy("b", "v1"))
    assert "Executor a has written nothing since" in d.reason
    assert "while b on v1 is active" in d.reason
    assert "until a worker with that executor id and version v1 recovers it" in d.reason
    assert d.action.startswith("u: resume it: DBOS re-enqueues it for any live executor")
    assert "resets its recovery attempts to 0" in d.action
    assert fleet.graph().registry.release.label == "3.4"

    result = fleet.actions.resume(wid)
    assert result.ok, result.message
    assert "recovery attempts reset to 0" in result.message
    done = fleet.wait_status(wid, "SUCCESS")
    # DBOS's own resume: run by the live executor, one dispatch since the reset.
    assert done["executor"] == "b" and done["attempts"] == 1
    assert of(fleet.diagnoses(), wid) == {}


def test_work_of_a_version_no_live_executor_runs_is_forked_onto_the_live_version(
    fleet: Fleet,
) -> None:
    fleet.start("a", "v1", hang=True)
    pending = fleet.enqueue("fleet_hang", "q_work", "v1")
    fleet.wait_status(pending, "PENDING")
    fleet.kill("a")
    fleet.start("b", "v2")
    enqueued = fleet.enqueue("fleet_quick", "q_work", "v1", 7)
    for wid, status in ((pending, "PENDING"), (enqueued, "ENQUEUED")):
        d = diagnosed(fleet, wid, dg.UNSERVED_VERSION, lambda: fleet.busy("b", "v2"))
        assert d.severity == dg.LIMBO
        assert "No live executor runs version v1 (live: b on v2; latest registered is v2)" in (
            d.reason
        )
        assert d.action.startswith("F: fork it onto version v2")
        assert fleet.row(wid)["status"] == status  # DBOS really leaves it there

    result = fleet.actions.fork(enqueued, 1, application_version="v2")
    assert result.ok, result.message and "onto version v2" in result.message
    assert result.workflow_id is not None
    forked = fleet.wait_status(result.workflow_id, "SUCCESS")
    assert forked["executor"] == "b" and forked["version"] == "v2"


def test_a_concurrency_1_queue_held_by_a_dead_executor_is_blocked_until_cancelled(
    fleet: Fleet,
) -> None:
    fleet.start("a", "v1", hang=True)
    holder = fleet.enqueue("fleet_hang", "q_one", "v1")
    assert fleet.wait_status(holder, "PENDING")["executor"] == "a"
    fleet.start("b", "v1")
    fleet.kill("a")
    waiting = [fleet.enqueue("fleet_quick", "q_one", "v1", i) for i in range(3)]
    d = diagnosed(fleet, holder, dg.QUEUE_BLOCKED, lambda: fleet.busy("b", "v1"))
    assert d.reason.startswith(f"Queue q_one is blocked: 1 of 1 slot is held by {holder[:8]}")
    assert "(executor a, silent since" in d.reason and "3 waiting behind them" in d.reason
    diags = fleet.diagnoses()
    for wid in waiting:
        stuck = of(diags, wid)[dg.STUCK_ENQUEUED]
        assert "q_one, whose 1 of 1 slot is held" in stuck.reason and holder[:8] in stuck.reason
        assert fleet.row(wid)["status"] == "ENQUEUED"

    # snapshot --json says the same, with the queue's settings from dbos.queues.
    g = fleet.graph()
    now = int(time.time() * 1000)
    doc = snapshot_json(g, diagnose(g, now, QUICK), fleet.url, now, QUICK)
    q_one = next(q for q in doc["queues"] if q["name"] == "q_one")
    assert q_one["registered"] and q_one["concurrency"] == 1 and q_one["blocked"]
    assert q_one["blocked_by"] == [holder] and q_one["pending_by_executor"] == {"a": 1}
    assert q_one["enqueued"] == 3 and q_one["oldest_wait_ms"] > 0
    assert q_one["enqueued_by_version"] == {"v1": 3}
    assert doc["release"] == "3.4"
    executors = {e["id"]: e for e in doc["executors"]}
    assert not executors["a"]["live"] and executors["b"]["live"]
    assert executors["b"]["version"] == "v1" and executors["a"]["last_write_at"]

    result = fleet.actions.cancel(holder)
    assert result.ok, result.message
    for wid in waiting:  # DBOS itself now dequeues them, one at a time, on b
        assert fleet.wait_status(wid, "SUCCESS")["executor"] == "b"
    assert fleet.row(holder)["status"] == "CANCELLED"


def test_workflows_waiting_in_recv_and_get_event_are_waits_and_send_delivers(
    fleet: Fleet,
) -> None:
    fleet.start("b", "v1")
    receiver = fleet.enqueue("fleet_recv", "q_work", "v1")
    listener = fleet.enqueue("fleet_get_event", "q_work", "v1", receiver)
    for wid in (receiver, listener):
        fleet.wait_status(wid, "PENDING")
        wait_for(lambda w=wid: current_wait(fleet.graph(), w), 20, f"{wid}'s timeout row")
    time.sleep(QUICK.stalled_after_s + 1)  # past the thresholds: still not stalled
    g = fleet.graph()
    diags = diagnose(g, int(time.time() * 1000), QUICK)
    for wid in (receiver, listener):
        wait = current_wait(g, wid)
        assert wait is not None and wait.kind == MESSAGE
        assert wait.deadline_ms is not None
        assert wait.deadline_ms > time.time() * 1000 + 3_000_000  # the 1 h timeout
        assert list(of(diags, wid)) == [dg.AWAITING_MESSAGE]
        assert "DBOS.recv or DBOS.get_event" in of(diags, wid)[dg.AWAITING_MESSAGE].reason

    result = fleet.actions.send(receiver, "approval", "yes")
    assert result.ok, result.message
    fleet.wait_status(receiver, "SUCCESS")
    assert [s.name for s in fleet.graph().steps_of(receiver)][-2:] == ["DBOS.recv", "DBOS.sleep"]


def test_a_cancelled_child_with_the_parents_executor_gone_is_not_limbo_on_3x(
    fleet: Fleet,
) -> None:
    fleet.start("a", "v1", hang=True)
    parent = fleet.enqueue("fleet_parent", "q_work", "v1")
    fleet.wait_status(parent, "PENDING")
    child = wait_for(lambda: fleet.graph().children(parent), 20, "the child")[0]
    fleet.wait_status(child, "PENDING")
    fleet.start("b", "v1")
    fleet.kill("a")
    fleet.actions.cancel(child)
    # Within 5 s of the cancel DBOS may still resolve it (the grace); then the sentence.
    tail = "once recovered, DBOS 3.4 fails it"
    d = diagnosed(fleet, parent, dg.ORPHANED, lambda: fleet.busy("b", "v1"), saying=tail)
    assert f"once recovered, DBOS 3.4 fails it with the error of its child {child}" in d.reason
    assert dg.AWAITING_DEAD_CHILD not in of(fleet.diagnoses(), parent)

    assert fleet.actions.resume(parent).ok
    # What DBOS 3.x does: the recovered parent fails with the cancelled child's error.
    assert fleet.wait_status(parent, "ERROR")["executor"] == "b"
