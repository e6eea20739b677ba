"""Version-tolerant reads: 3.4 side tables, 2.8 inline columns, snapshot scope, probe."""

from __future__ import annotations

import asyncpg
import psycopg
import pytest

from limbo_tui.backlog import FIRST_LOADED
from limbo_tui.errors import DatabaseError
from limbo_tui.model import FINISHED_STATUSES, Step, Workflow, WorkflowGraph
from limbo_tui.pg import queries
from limbo_tui.pg.connect import check_dbos_schema, connect, connect_checked
from tests import dbos28, seed


def _exec(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)  # type: ignore[call-overload]


async def _conn(url: str) -> asyncpg.Connection:
    return await connect_checked(url, "dbos")


async def test_dbos34_coalesces_side_tables_and_inline(dbos_url: str) -> None:
    _exec(
        dbos_url,
        "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, parent_workflow_id, "
        "created_at, updated_at, recovery_attempts, queue_name, deduplication_id, "
        "serialization, inputs, output) VALUES "
        "('p', 'SUCCESS', 'parent', NULL, 1000, 2000, 1, 'q', NULL, 'py_pickle', NULL, NULL), "
        "('c', 'ERROR', 'child', 'p', 1100, 1900, 1, NULL, NULL, NULL, 'old-in', 'old-out')",
        "INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ('p', 'new-in')",
        "INSERT INTO dbos.workflow_output (workflow_uuid, output, error) VALUES ('p', 'o', NULL)",
        "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, "
        "child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, error) VALUES "
        "('p', 1, 'child', 'c', 1050, 1060, NULL), ('c', 1, 'boom', NULL, 1150, 1160, 'err')",
    )
    conn = await _conn(dbos_url)
    try:
        cols = await queries.probe(conn, "dbos")
        assert cols.has_parent and cols.input_table and cols.output_table
        assert await queries.probe(conn, "dbos") is cols  # cached per connection
        wfs = {w.id: w for w in await queries.fetch_workflows(conn, "dbos", ["p", "c", "nope"])}
        assert set(wfs) == {"p", "c"}
        assert wfs["p"].inputs == "new-in" and wfs["p"].output == "o"
        assert wfs["p"].serialization == "py_pickle" and wfs["p"].queue == "q"
        assert wfs["c"].inputs == "old-in" and wfs["c"].output == "old-out"
        assert wfs["c"].parent_id == "p" and wfs["c"].created_at_ms == 1100
        steps = await queries.fetch_steps(conn, "dbos", ["p", "c"])
        assert steps == [
            Step("c", 1, "boom", None, True, 1150, 1160, None, "err", None),
            Step("p", 1, "child", "c", False, 1050, 1060, None, None, None),
        ]
        keyed = await queries.fetch_step_keys(conn, "dbos", [("p", 1), ("p", 9)])
        assert [(s.workflow_id, s.function_id) for s in keyed] == [("p", 1)]
    finally:
        await conn.close()


async def test_reads_larger_than_a_batch_return_every_row_once(
    dbos_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "BATCH", 2)
    _exec(
        dbos_url,
        "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at, updated_at)"
        " SELECT 'w' || i, 'SUCCESS', 'n', i, i FROM generate_series(1, 5) AS i",
        "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name) "
        "SELECT 'w' || i, f, 's' FROM generate_series(1, 5) AS i, generate_series(1, 2) AS f",
    )
    ids = ["w1", "w2", "w1", "w3", "w4", "w5", "nope"]
    conn = await _conn(dbos_url)
    try:
        wfs = await queries.fetch_workflows(conn, "dbos", ids)
        assert sorted(w.id for w in wfs) == ["w1", "w2", "w3", "w4", "w5"]
        steps = await queries.fetch_steps(conn, "dbos", ids)
        assert len(steps) == 10
        keys = [("w1", 1), ("w1", 1), ("w2", 2), ("w3", 1), ("w5", 2), ("w5", 9)]
        keyed = await queries.fetch_step_keys(conn, "dbos", keys)
        assert sorted((s.workflow_id, s.function_id) for s in keyed) == [
            ("w1", 1),
            ("w2", 2),
            ("w3", 1),
            ("w5", 2),
        ]
    finally:
        await conn.close()


async def test_the_registry_names_queues_and_versions_newest_first(dbos_url: str) -> None:
    from limbo_tui.pg.dbos_registry import read_registry

    _exec(
        dbos_url,
        "INSERT INTO dbos.queues (name, concurrency) VALUES ('bounded-q', 2)",
        "INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp) "
        "VALUES ('a', 'v-old', 1), ('b', 'v-new', 2)",
    )
    conn = await _conn(dbos_url)
    try:
        registry = await read_registry(conn, "dbos")
    finally:
        await conn.close()
    assert registry.has_queue_registry and registry.has_version_registry
    assert [(q.name, q.concurrency) for q in registry.queues] == [("bounded-q", 2)]
    assert [(v.name, v.timestamp_ms) for v in registry.versions] == [("v-new", 2), ("v-old", 1)]


async def test_dbos28_limbo_seed(db_url: str) -> None:
    dbos28.create_schema(db_url)
    seed.write(db_url)
    conn = await _conn(db_url)
    try:
        cols = await queries.probe(conn, "dbos")
        assert not cols.has_parent and not cols.input_table and not cols.has_completed_at
        rows = await queries.snapshot(conn, "dbos", finished_families=0)
    finally:
        await conn.close()
    graph = WorkflowGraph()
    graph.replace_all(rows)
    # Only live work and its family: the unrelated finished workflow is out of scope.
    assert set(graph.workflows) == {seed.PARENT, seed.CHILD}
    parent = graph.workflows[seed.PARENT]
    assert parent.status == "PENDING" and parent.dedup_id == "6/5" and parent.recovery_attempts == 2
    assert parent.inputs == '{"args": [6, 5], "kwargs": {}}'
    assert graph.children(seed.PARENT) == [seed.CHILD]
    assert graph.parent_of(seed.CHILD) == seed.PARENT
    assert graph.step_counts(seed.CHILD).steps_completed == len(seed.CHILD_STEP_IDS)


async def test_snapshot_scope(dbos_url: str) -> None:
    """Live work with its whole family, plus only the N newest finished families."""
    values = []
    for i in range(6):  # six finished families, newest last
        values.append(f"('f{i}', 'SUCCESS', NULL, {1000 + i * 10})")
        values.append(f"('f{i}-1', 'SUCCESS', 'f{i}', {1001 + i * 10})")
    values += [
        # A live grandchild under an old finished root: its ancestors come along.
        "('old', 'SUCCESS', NULL, 10)",
        "('old-1', 'SUCCESS', 'old', 11)",
        "('old-1-1', 'PENDING', 'old-1', 12)",
        "('e', 'ENQUEUED', NULL, 20)",
        "('d', 'DELAYED', NULL, 30)",
    ]
    _exec(
        dbos_url,
        "INSERT INTO dbos.workflow_status (workflow_uuid, status, parent_workflow_id, created_at) "
        "VALUES " + ", ".join(values),
    )
    conn = await _conn(dbos_url)
    try:
        rows = await queries.snapshot(conn, "dbos", finished_families=2)
    finally:
        await conn.close()
    ids = {r.id for r in rows if isinstance(r, Workflow)}
    assert ids == {"f5", "f5-1", "f4", "f4-1", "old", "old-1", "old-1-1", "e", "d"}


async def test_family_follows_step_links_without_parent_column(db_url: str) -> None:
    """2.8: children found from the parent's steps, parents from `<parent>-N` ids."""
    dbos28.create_schema(db_url)
    _exec(
        db_url,
        "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES "
        "('r', 'SUCCESS'), ('r-1', 'SUCCESS'), ('custom', 'PENDING'), ('r-1-2', 'PENDING')",
        "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, child_workflow_id) "
        "VALUES ('r', 1, 'r-1'), ('r', 2, 'custom'), ('r-1', 2, 'r-1-2')",
    )
    conn = await _conn(db_url)
    try:
        assert set(await queries.family_ids(conn, "dbos", ["r-1-2"])) == {
            "r",
            "r-1",
            "r-1-2",
            "custom",
        }
        # A custom child id has no index path upwards: only itself.
        assert await queries.family_ids(conn, "dbos", ["custom"]) == ["custom"]
    finally:
        await conn.close()


@pytest.mark.parametrize("shape", ["dbos34", "dbos28"])
async def test_reads_use_indexes(db_url: str, dbos_url: str, shape: str) -> None:
    """With sequential scans priced out, no read scans workflow_status whole."""
    url = dbos_url
    if shape == "dbos28":
        dbos28.create_schema(db_url)
        url = db_url
    conn = await _conn(url)
    try:
        await conn.execute("SET enable_seqscan = off")
        cols = await queries.probe(conn, "dbos")
        ws = '"dbos"."workflow_status"'
        plans = [
            await conn.fetch(
                f"EXPLAIN SELECT workflow_uuid FROM {ws} WHERE status = 'PENDING' "
                "ORDER BY created_at DESC LIMIT 10"
            ),
            await conn.fetch(
                f"EXPLAIN SELECT workflow_uuid FROM {ws} WHERE status = ANY($1::text[]) "
                "ORDER BY created_at DESC LIMIT 10",
                sorted(FINISHED_STATUSES),
            ),
            await conn.fetch(
                "EXPLAIN " + queries._family_sql(cols),
                ["x"],
                10,
                *([FIRST_LOADED] if cols.has_parent else []),
            ),
        ]
        for plan in plans:
            text = "\n".join(r[0] for r in plan)
            assert "Seq Scan on workflow_status" not in text, text
    finally:
        await conn.close()


async def test_connect_errors_are_one_line(db_url: str, pg_server) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(db_url)
    try:
        with pytest.raises(DatabaseError, match=r"no dbos schema 'dbos' in database 't_.*--schema"):
            await check_dbos_schema(conn, "dbos")
    finally:
        await conn.close()
    missing = pg_server.url("no_such_db")
    with pytest.raises(DatabaseError, match="'no_such_db' does not exist") as info:
        await connect(missing)
    assert info.value.exit_code == 1
    with pytest.raises(DatabaseError, match="cannot reach") as info:
        await connect("postgresql://u:s3cret@/db?host=/nonexistent/dir&port=5432")
    assert "s3cret" not in info.value.message and "\n" not in info.value.message
    with pytest.raises(DatabaseError, match="login refused") as info:
        await connect(db_url.replace("postgres@", "nobody_role_xyz:pw@", 1))
    assert ":pw@" not in info.value.message
