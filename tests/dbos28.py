"""A system database shaped like one written by dbos 2.8.0, for version-tolerance tests.

2.8's migrations (tag 2.8.0, dbos/_migration.py, seven of them) give workflow_status with
inputs / output / error inline and no parent_workflow_id, serialization, completed_at or
the 3.x partial indexes; operation_outputs with started/completed times but no
serialization; no workflow_input / workflow_output side tables. Only the tables and
indexes limbo-tui reads are made here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

DDL = """
CREATE SCHEMA {schema};

CREATE TABLE {schema}.workflow_status (
    workflow_uuid text PRIMARY KEY,
    status text,
    name text,
    authenticated_user text,
    assumed_role text,
    authenticated_roles text,
    request text,
    output text,
    error text,
    executor_id text,
    created_at bigint NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint,
    updated_at bigint NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint,
    application_version text,
    application_id text,
    class_name varchar(255) DEFAULT NULL,
    config_name varchar(255) DEFAULT NULL,
    recovery_attempts bigint DEFAULT 0,
    queue_name text,
    workflow_timeout_ms bigint,
    workflow_deadline_epoch_ms bigint,
    inputs text,
    started_at_epoch_ms bigint,
    deduplication_id text,
    priority integer NOT NULL DEFAULT 0,
    queue_partition_key text,
    forked_from text,
    owner_xid text DEFAULT NULL,
    CONSTRAINT uq_workflow_status_queue_name_dedup_id UNIQUE (queue_name, deduplication_id)
);
CREATE INDEX workflow_status_created_at_index ON {schema}.workflow_status (created_at);
CREATE INDEX workflow_status_executor_id_index ON {schema}.workflow_status (executor_id);
CREATE INDEX workflow_status_status_index ON {schema}.workflow_status (status);
CREATE INDEX idx_workflow_status_queue_status_started
    ON {schema}.workflow_status (queue_name, status, started_at_epoch_ms);
CREATE INDEX idx_workflow_status_forked_from ON {schema}.workflow_status (forked_from);

CREATE TABLE {schema}.operation_outputs (
    workflow_uuid text NOT NULL
        REFERENCES {schema}.workflow_status (workflow_uuid)
        ON UPDATE CASCADE ON DELETE CASCADE,
    function_id integer NOT NULL,
    function_name text NOT NULL DEFAULT '',
    output text,
    error text,
    child_workflow_id text,
    started_at_epoch_ms bigint,
    completed_at_epoch_ms bigint,
    PRIMARY KEY (workflow_uuid, function_id)
);

CREATE TABLE {schema}.dbos_migrations (version bigint NOT NULL PRIMARY KEY);
INSERT INTO {schema}.dbos_migrations VALUES (7);
"""


def create_schema(url: str, schema: str = "dbos") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL(DDL).format(schema=sql.Identifier(schema)))


@dataclass(frozen=True)
class LimboSeed:
    parent: str
    child: str
    finished: str


def seed_limbo(url: str, schema: str = "dbos") -> LimboSeed:
    """The seed experiment's end state as dbos 2.8 leaves it.

    Parent PENDING on example-queue holding dedup id 6/5 after 2 recovery attempts; its
    first child `<parent>-1` dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED, queue and
    dedup cleared); the parent's step 1 is the child call (only link in 2.8). Plus one
    unrelated finished workflow, and the inputs inline as 2.8 stores them.
    """
    parent = "fe5f923f-1531-4c06-af78-f4e8f9b5b9c4"
    child = f"{parent}-1"
    finished = "0c1d2e3f-0000-4000-8000-000000000001"
    now = int(time.time() * 1000)
    t0 = now - 600_000
    q = sql.Identifier(schema)
    with psycopg.connect(url, autocommit=True) as conn:
        ins = sql.SQL(
            "INSERT INTO {}.workflow_status (workflow_uuid, status, name, executor_id, "
            "created_at, updated_at, application_version, recovery_attempts, queue_name, "
            "inputs, output, error, deduplication_id, started_at_epoch_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(q)
        conn.execute(
            ins,
            (parent, "PENDING", "dbos_workflow", "exp22-executor-1", t0, t0 + 20_000,
             "0.1.0", 2, "example-queue", '{"args": [6, 5], "kwargs": {}}', None, None,
             "6/5", t0 + 1_000),
        )  # fmt: skip
        conn.execute(
            ins,
            (child, "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "child_workflow", "exp22-executor-1",
             t0 + 1_500, t0 + 19_000, "0.1.0", 3, None, '{"args": [0, 5], "kwargs": {}}',
             None, None, None, t0 + 1_600),
        )  # fmt: skip
        conn.execute(
            ins,
            (finished, "SUCCESS", "other_workflow", "exp22-executor-1", t0 - 60_000,
             t0 - 59_000, "0.1.0", 1, None, None, '"done"', None, None, t0 - 60_000),
        )  # fmt: skip
        step = sql.SQL(
            "INSERT INTO {}.operation_outputs (workflow_uuid, function_id, function_name, "
            "output, error, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(q)
        conn.execute(step, (parent, 1, "child_workflow", None, None, child, t0 + 1_400, t0 + 1_500))
        conn.execute(step, (child, 1, "step", '"ok"', None, None, t0 + 1_700, t0 + 1_800))
        conn.execute(step, (child, 2, "step", '"ok"', None, None, t0 + 1_900, t0 + 2_000))
    return LimboSeed(parent, child, finished)
