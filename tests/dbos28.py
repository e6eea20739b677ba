"""A system database shaped like one written by dbos 2.8.0, for version-tolerance tests.

2.8's migrations (tag 2.8.0, dbos/_migration.py, seven of them) give workflow_status with
inputs / output / error inline and no parent_workflow_id, serialization, completed_at or
the 3.x partial indexes; operation_outputs with started/completed times but no
serialization; no workflow_input / workflow_output side tables. Only the tables and
indexes limbo-tui reads are made here; tests/seed.py writes the seed's state into it.
"""

from __future__ import annotations

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
