"""A writer process that commits like a DBOS application: one row per transaction.

    python -m bench.commit_writer --url URL --mode update|dbos --rate R --seconds S
        --rows N --first F --seq0 Q --worker K --workers W --out PATH

- `update`: each change is one single-row UPDATE of a hot row (status cycles ENQUEUED ->
  PENDING -> SUCCESS, recovery_attempts = the change's global sequence number, shown on
  screen as `disp N/?`, so every change is told apart on the screen and in `watch`), in its
  own transaction, with DBOS's default durability (synchronous_commit on).
- `dbos`: each workflow is what DBOS writes for a workflow of two steps, as separate
  transactions: the status row inserted PENDING, one operation_outputs row per step, the
  status updated to SUCCESS. Its id is `d<seq:07d>` (its 8-character short id).

Worker K of W takes the changes whose sequence number is K modulo W, so W processes share
one rate. Every change is stamped with time.monotonic_ns() right BEFORE its statement is
sent (CLOCK_MONOTONIC is one clock for every process of the machine); a slow commit counts
against the monitor's latency, as a user would see it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import psycopg

STATUS_CYCLE = ("PENDING", "SUCCESS", "ENQUEUED")
STEPS = 2
HOT_NAME = "hot_workflow"
DBOS_NAME = "bench_workflow"


def hot_id(i: int) -> str:
    return f"h{i:07d}-hot"


def dbos_id(seq: int) -> str:
    return f"d{seq:07d}-dbos"


def status_of(seq: int, rows: int) -> str:
    return STATUS_CYCLE[(seq // rows) % len(STATUS_CYCLE)]


def run(args: argparse.Namespace) -> dict[str, object]:
    sends: list[tuple[int, int]] = []  # (seq, t_send_ns) of the change's last statement
    per_worker = args.rate / args.workers
    tick = 1.0 / per_worker
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        start = time.perf_counter()
        k = 0
        while True:
            due = start + k * tick
            if due - start >= args.seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            seq = args.seq0 + k * args.workers + args.worker
            k += 1
            if args.mode == "update":
                wid = hot_id(args.first + seq % args.rows)
                t = time.monotonic_ns()
                conn.execute(
                    "UPDATE dbos.workflow_status SET status = %s, recovery_attempts = %s, "
                    "updated_at = %s WHERE workflow_uuid = %s",
                    (status_of(seq, args.rows), seq, int(time.time() * 1000), wid),
                    prepare=True,
                )
            else:
                t = _dbos_workflow(conn, dbos_id(seq))
            sends.append((seq, t))
        elapsed = time.perf_counter() - start
    return {
        "worker": args.worker,
        "sends": sends,
        "elapsed_s": elapsed,
        "achieved_per_s": len(sends) / elapsed if elapsed > 0 else 0.0,
    }


def _dbos_workflow(conn: psycopg.Connection, wid: str) -> int:
    """The transactions DBOS commits for one workflow of STEPS steps; returns the stamp
    taken before the last one (the status update the screen shows)."""
    now = int(time.time() * 1000)
    # Created "in the future" (after the hot rows): the newest root is the top line.
    created = now + 7_200_000
    conn.execute(
        "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, "
        "application_version, created_at, updated_at, recovery_attempts) "
        "VALUES (%s, 'PENDING', %s, 'bench-exec', 'bench-v1', %s, %s, 1)",
        (wid, DBOS_NAME, created, created),
        prepare=True,
    )
    for fid in range(1, STEPS + 1):
        conn.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, "
            "output, started_at_epoch_ms, completed_at_epoch_ms) VALUES (%s, %s, 'step', "
            "'gARLAi4=', %s, %s)",
            (wid, fid, now, now),
            prepare=True,
        )
    t = time.monotonic_ns()
    conn.execute(
        "UPDATE dbos.workflow_status SET status = 'SUCCESS', updated_at = %s "
        "WHERE workflow_uuid = %s",
        (int(time.time() * 1000), wid),
        prepare=True,
    )
    return t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--mode", choices=("update", "dbos"), default="update")
    p.add_argument("--rate", type=float, required=True, help="changes/s of all workers")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--rows", type=int, default=1)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--seq0", type=int, default=0)
    p.add_argument("--worker", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    args.out.write_text(json.dumps(run(args)))


if __name__ == "__main__":
    main()
