"""The paced writer: plain UPDATEs of dbos.workflow_status, as a separate process.

Each change sets a hot row's status (ENQUEUED -> PENDING -> SUCCESS -> ...) and its
updated_at to `base + seq`, so the monitor can tell which change it sees. The commit
time of every change is taken right after COMMIT returns (time.monotonic_ns: the same
CLOCK_MONOTONIC in every process of this machine).

Up to 200 changes/s every change is its own transaction; above, one transaction per
5 ms tick carries rate * 5 ms changes (many DBOS workers commit concurrently; one
Python connection cannot commit 5,000 single-row transactions a second on 2 cores
next to the server and the monitor).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

STATUS_CYCLE = ("PENDING", "SUCCESS", "ENQUEUED")
TICK_S = 0.005

_SQL = (
    "UPDATE dbos.workflow_status AS ws SET status = v.s, updated_at = v.u "
    "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS v(id, s, u) "
    "WHERE ws.workflow_uuid = v.id"
)


def row_of(seq: int, rows: int) -> int:
    return seq % rows


def run(
    url: str, rate: float, seconds: float, rows: int, base: int, seq0: int, first: int = 0
) -> dict[str, Any]:
    from bench.synthetic import HOT_PREFIX

    ids = [f"{HOT_PREFIX}{i:05d}" for i in range(first, first + rows)]
    tick = 1.0 / rate if rate <= 200 else TICK_S
    commits: list[int] = []  # t_commit_ns per seq, seq = seq0 + index
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT 1")
        seq = seq0
        start = time.perf_counter()
        k = 0
        while True:
            due = start + k * tick
            if due - start >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            # Changes due by the end of this tick, so that fractional rates average out.
            n = round(rate * (k + 1) * tick) - (seq - seq0)
            k += 1
            if n <= 0:
                continue
            seqs = range(seq, seq + n)
            batch_ids = [ids[row_of(s, rows)] for s in seqs]
            statuses = [STATUS_CYCLE[(s // rows) % len(STATUS_CYCLE)] for s in seqs]
            stamps = [base + s for s in seqs]
            conn.execute(_SQL, (batch_ids, statuses, stamps), prepare=True)
            t = time.monotonic_ns()
            commits.extend([t] * n)
            seq += n
        elapsed = time.perf_counter() - start
    return {
        "seq0": seq0,
        "count": len(commits),
        "commits": commits,
        "elapsed_s": elapsed,
        "achieved_per_s": len(commits) / elapsed if elapsed > 0 else 0.0,
        "target_per_s": rate,
    }
