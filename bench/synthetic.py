"""Synthetic DBOS system databases, written with COPY, shaped like what DBOS 3.x writes.

Shapes were read off a real dbos 3.4.0 worker (parent -> children -> steps):
- workflow_status: one row per workflow; a child's id is `<parent id>-<function id>` and
  names its parent in parent_workflow_id; finished rows carry completed_at; inputs and
  outputs live in workflow_input / workflow_output (base64 pickles), not inline.
- operation_outputs: per parent, one row per child call (function_name = the child's
  name, child_workflow_id), one `DBOS.getResult` row per awaited child (with the child's
  output), and ordinary steps; per child, its steps.

Mostly finished families (SUCCESS, a few ERROR / CANCELLED / MAX_RECOVERY_ATTEMPTS_EXCEEDED),
plus `live` families still at work: a PENDING parent (holding a dedup id on a queue) with
one finished, one PENDING and two ENQUEUED children; one live family in 50 is in limbo
(its PENDING child was dead-lettered). `hot` rows are lone ENQUEUED roots that the
latency and throughput writers update.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

SCHEMA = "dbos"
APP = "synthetic-app"
VERSION = "synthetic-v1"
EXECUTORS = ("exec-a", "exec-b", "exec-c", "exec-d")
# Real base64 pickles from a dbos 3.4.0 run: args=(2,), and the integer 2.
INPUTS = "gASVGwAAAAAAAAB9lCiMBGFyZ3OUSwKFlIwGa3dhcmdzlH2UdS4="
OUTPUT = "gARLAi4="
ERROR = "gASVMgAAAAAAAACMCGJ1aWx0aW5zlIwMVmFsdWVFcnJvcpSTlIwGYm9vbSEhlIWUUpQu"
LIVE_CHILDREN = 4
# Nodes one live family adds to the tree: the parent and its children.
LIVE_FAMILY_NODES = 1 + LIVE_CHILDREN
HOT_PREFIX = "hot-"
DAY_MS = 86_400_000

WS_COLUMNS = (
    "workflow_uuid, status, name, queue_name, deduplication_id, executor_id, created_at, "
    "updated_at, application_version, application_id, recovery_attempts, priority, "
    "parent_workflow_id, serialization, started_at_epoch_ms, completed_at, application_name"
)
OO_COLUMNS = (
    "workflow_uuid, function_id, function_name, output, error, child_workflow_id, "
    "started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name"
)
N = "\\N"


@dataclass
class _Sink:
    """COPY text buffers, flushed in chunks so that memory stays flat at 1M rows."""

    ws: io.StringIO
    oo: io.StringIO
    wi: io.StringIO
    wo: io.StringIO
    counts: dict[str, int]

    @classmethod
    def new(cls) -> _Sink:
        return cls(io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO(), {})


def workflow_id(n: int) -> str:
    """A uuid4-looking id, stable for n (cheap: no uuid module per row)."""
    h = (n * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (
        f"{n & 0xFFFFFFFF:08x}-{(h >> 48) & 0xFFFF:04x}-4{(h >> 36) & 0xFFF:03x}-"
        f"a{(h >> 24) & 0xFFF:03x}-{h & 0xFFFFFFFFFFFF:012x}"
    )


def _ws(
    s: _Sink,
    wid: str,
    status: str,
    name: str,
    created: int,
    updated: int,
    *,
    queue: str | None = None,
    dedup: str | None = None,
    executor: str = EXECUTORS[0],
    attempts: int = 1,
    parent: str | None = None,
    completed: int | None = None,
    error: bool = False,
) -> None:
    started = created + 1 if queue else None
    s.ws.write(
        f"{wid}\t{status}\t{name}\t{queue or N}\t{dedup or N}\t{executor}\t{created}\t"
        f"{updated}\t{VERSION}\t\t{attempts}\t0\t{parent or N}\tpy_pickle\t"
        f"{N if started is None else started}\t{N if completed is None else completed}\t{APP}\n"
    )
    s.wi.write(f"{wid}\t{INPUTS}\n")
    if completed is not None:
        s.wo.write(f"{wid}\t{N if error else OUTPUT}\t{ERROR if error else N}\n")
    s.counts["workflow_status"] = s.counts.get("workflow_status", 0) + 1


def _oo(
    s: _Sink,
    wid: str,
    fid: int,
    name: str,
    t: int,
    *,
    child: str | None = None,
    output: str | None = OUTPUT,
    error: str | None = None,
) -> None:
    ser = "py_pickle" if output is not None or error is not None else N
    s.oo.write(
        f"{wid}\t{fid}\t{name}\t{output or N}\t{error or N}\t{child or N}\t{t}\t{t + 3}\t"
        f"{ser}\t{APP}\n"
    )
    s.counts["operation_outputs"] = s.counts.get("operation_outputs", 0) + 1


def finished_family(s: _Sink, f: int, created: int) -> int:
    """Parent + 1..4 children + steps, all finished; returns workflow rows written."""
    pid = workflow_id(f)
    kids = 1 + f % 4
    fate = f % 500
    # Mostly SUCCESS; the odd family failed, was cancelled or dead-lettered a child.
    child_status = "SUCCESS"
    parent_status = "SUCCESS"
    if fate == 7:
        child_status, parent_status = "ERROR", "ERROR"
    elif fate == 11:
        child_status, parent_status = "CANCELLED", "CANCELLED"
    elif fate == 13:
        child_status, parent_status = "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "ERROR"
    executor = EXECUTORS[f % len(EXECUTORS)]
    t = created
    for i in range(1, kids + 1):
        cid = f"{pid}-{i}"
        _oo(s, pid, i, "process_order", t + i, child=cid, output=None)
        steps = 1 + (f + i) % 3
        failed = i == kids and child_status != "SUCCESS"
        for j in range(1, steps + 1):
            err = ERROR if failed and j == steps else None
            _oo(
                s,
                cid,
                j,
                "charge_card" if j == 1 else "ship_item",
                t + 10 * i + j,
                error=err,
                output=None if err else OUTPUT,
            )
        end = t + 10 * i + steps + 5
        status = child_status if failed else "SUCCESS"
        _ws(
            s,
            cid,
            status,
            "process_order",
            t + i,
            end,
            executor=executor,
            parent=pid,
            completed=end,
            error=status != "SUCCESS",
            attempts=3 if status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED" else 1,
        )
        _oo(
            s,
            pid,
            kids + i,
            "DBOS.getResult",
            end + 1,
            child=cid,
            output=None if status != "SUCCESS" else OUTPUT,
            error=ERROR if status != "SUCCESS" else None,
        )
    end = t + 10 * kids + 50
    _oo(s, pid, 2 * kids + 1, "send_report", end - 5)
    _ws(
        s,
        pid,
        parent_status,
        "handle_batch",
        created,
        end,
        queue="orders",
        executor=executor,
        completed=end,
        error=parent_status != "SUCCESS",
    )
    return 1 + kids


def live_family(s: _Sink, f: int, created: int, now: int) -> int:
    """A family still at work (5 workflows); one in 50 is in limbo."""
    pid = workflow_id(f)
    limbo = f % 50 == 0
    executor = EXECUTORS[f % len(EXECUTORS)]
    statuses = ["SUCCESS", "MAX_RECOVERY_ATTEMPTS_EXCEEDED" if limbo else "PENDING"]
    statuses += ["ENQUEUED"] * (LIVE_CHILDREN - 2)
    for i, status in enumerate(statuses, start=1):
        cid = f"{pid}-{i}"
        _oo(s, pid, i, "process_order", created + i, child=cid, output=None)
        done = {"SUCCESS": 2, "PENDING": 1}.get(status, 0 if status == "ENQUEUED" else 1)
        for j in range(1, done + 1):
            _oo(s, cid, j, "charge_card" if j == 1 else "ship_item", created + 10 * i + j)
        finished = status in ("SUCCESS", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
        end = created + 10 * i + 5
        _ws(
            s,
            cid,
            status,
            "process_order",
            created + i,
            end if finished else now - 1000,
            queue=None if status != "ENQUEUED" else "work",
            executor=executor,
            parent=pid,
            completed=end if finished else None,
            attempts=3 if limbo and i == 2 else 1,
            error=status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
        )
    _oo(s, pid, LIVE_CHILDREN + 1, "DBOS.getResult", created + 20, child=f"{pid}-1")
    _ws(
        s,
        pid,
        "PENDING",
        "handle_batch",
        created,
        now - 500,
        queue="orders",
        dedup=f"batch-{f}",
        executor=executor,
    )
    return LIVE_FAMILY_NODES


def hot_rows(s: _Sink, count: int, now: int) -> int:
    for i in range(count):
        _ws(
            s,
            f"{HOT_PREFIX}{i:05d}",
            "ENQUEUED",
            "hot_workflow",
            now - 60_000 + i,
            now - 60_000 + i,
            queue="hot",
            executor=EXECUTORS[i % len(EXECUTORS)],
            attempts=0,
        )
    return count


def _flush(cur: psycopg.Cursor, s: _Sink) -> None:
    for table, buf, cols in (
        ("workflow_status", s.ws, WS_COLUMNS),
        ("operation_outputs", s.oo, OO_COLUMNS),
        ("workflow_input", s.wi, "workflow_uuid, inputs"),
        ("workflow_output", s.wo, "workflow_uuid, output, error"),
    ):
        data = buf.getvalue()
        if not data:
            continue
        with cur.copy(f"COPY {SCHEMA}.{table} ({cols}) FROM STDIN") as copy:
            copy.write(data)
        buf.seek(0)
        buf.truncate()


def populate(
    url: str,
    workflows: int,
    live_nodes: int = 0,
    hot: int = 0,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Fill an empty DBOS schema: about `workflows` workflow rows, of which `live_nodes`
    belong to live families, plus `hot` lone ENQUEUED roots. Returns counts and timing."""
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    s = _Sink.new()
    live_families = live_nodes // LIVE_FAMILY_NODES
    finished_rows = max(0, workflows - live_families * LIVE_FAMILY_NODES - hot)
    # Finished families spread over 30 days, oldest first (as DBOS would have written
    # them); live ones in the last hour.
    avg_family = 3.5
    span = 30 * DAY_MS
    step_ms = max(1, int(span / max(1.0, finished_rows / avg_family)))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        # A bulk load: this transaction's own durability is not what is measured.
        cur.execute("SET LOCAL synchronous_commit = off")
        f = 0
        written = 0
        created = now - span
        while written < finished_rows:
            written += finished_family(s, f, created)
            f += 1
            created += step_ms
            if f % 20_000 == 0:
                _flush(cur, s)
                if progress:
                    progress(f"synthetic: {written:,} / {finished_rows:,} finished rows")
        for k in range(live_families):
            live_family(s, f, now - 3_600_000 + k * 1000 % 3_600_000, now)
            f += 1
        hot_rows(s, hot, now)
        _flush(cur, s)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        # What autovacuum would have done on a real database of this size.
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.workflow_status")
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.operation_outputs")
        conn.execute(f"ANALYZE {SCHEMA}.workflow_input")
        conn.execute(f"ANALYZE {SCHEMA}.workflow_output")
        total = conn.execute(f"SELECT count(*) FROM {SCHEMA}.workflow_status").fetchone()
        steps = conn.execute(f"SELECT count(*) FROM {SCHEMA}.operation_outputs").fetchone()
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return {
        "workflow_rows": int(total[0]) if total else 0,
        "step_rows": int(steps[0]) if steps else 0,
        "live_families": live_families,
        "live_nodes": live_families * LIVE_FAMILY_NODES,
        "hot_rows": hot,
        "database_mb": round(int(size[0]) / 1e6, 1) if size else None,
        "load_s": round(time.perf_counter() - t0, 2),
    }


def populate_hot(url: str, quick: bool, hot: int) -> dict[str, object]:
    """The database of the latency and throughput runs: 10,000 workflows (2,000 when
    quick), a quarter of them in live families, and `hot` lone ENQUEUED roots to change."""
    return populate(url, 2_000 if quick else 10_000, live_nodes=500 if quick else 2_500, hot=hot)
