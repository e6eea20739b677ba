"""NOTIFY triggers: payloads, never breaking a DBOS write, install / uninstall / status."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import psycopg
import pytest
from psycopg import sql

from limbo_tui.errors import DatabaseError, LimboError
from limbo_tui.pg import triggers
from limbo_tui.pg.connect import connect
from limbo_tui.pg.sources.notify import parse_batch


async def _listen(conn: asyncpg.Connection, channel: str) -> list[str]:
    got: list[str] = []
    await conn.add_listener(channel, lambda _c, _p, _ch, payload: got.append(payload))
    return got


async def _until(predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _traces(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            "schema": conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'limbo_tui'"
            ).fetchone()[0],  # type: ignore[index]
            "functions": conn.execute(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'limbo_tui' OR p.proname IN ('notify_change', 'notify_rows')"
            ).fetchone()[0],  # type: ignore[index]
            "triggers": conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'limbo_tui%'"
            ).fetchone()[0],  # type: ignore[index]
        }


def make_limited_role(url: str) -> str:
    """A login role that may read the DBOS tables but create nothing; returns its URL."""
    role = f"limbo_ro_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA dbos TO {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA dbos TO {}").format(sql.Identifier(role))
        )
    return url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


async def test_payloads_name_table_op_and_id(dbos_url: str) -> None:
    conn = await connect(dbos_url)
    writer = await connect(dbos_url)
    try:
        st = await triggers.install(conn, "dbos")
        assert st.installed and st.channel == "limbo_tui_dbos"
        got = await _listen(conn, st.channel)
        await writer.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
            "VALUES ('a|b', 'PENDING', 'n')"
        )
        await writer.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name) "
            "VALUES ('a|b', 3, 's')"
        )
        await writer.execute("UPDATE dbos.workflow_status SET status = 'SUCCESS'")
        await writer.execute("DELETE FROM dbos.operation_outputs")
        await writer.execute("DELETE FROM dbos.workflow_status")
        await _until(lambda: len(got) >= 5)
        assert got == [
            "w|I|PENDING|a|b",
            "o|I|3|a|b",
            "w|U|SUCCESS|a|b",
            "o|D|3|a|b",
            "w|D|SUCCESS|a|b",
        ]
    finally:
        await conn.close()
        await writer.close()


async def test_huge_id_degrades_to_resync_and_write_succeeds(dbos_url: str) -> None:
    conn = await connect(dbos_url)
    try:
        await triggers.install(conn, "dbos")
        got = await _listen(conn, triggers.channel_name("dbos"))
        huge = "w" * 10_000
        with psycopg.connect(dbos_url) as w:
            w.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES (%s, 'PENDING')",
                (huge,),
            )
        await _until(lambda: got)
        assert got == [triggers.RESYNC]
    finally:
        await conn.close()


async def test_failing_notify_never_aborts_the_writer(dbos_url: str) -> None:
    """Even when pg_notify itself throws (here: an empty channel name), the write commits."""
    conn = await connect(dbos_url)
    try:
        await triggers.install(conn, "dbos")
        await conn.execute(
            "DROP TRIGGER limbo_tui_notify_ins ON dbos.workflow_status;"
            "CREATE TRIGGER limbo_tui_notify_ins AFTER INSERT ON dbos.workflow_status "
            "REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows('')"
        )
        await conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('x', 'PENDING')"
        )
        assert await conn.fetchval("SELECT count(*) FROM dbos.workflow_status") == 1
        st = await triggers.status(conn, "dbos")
        assert st.state == "outdated" and "expected 'limbo_tui_dbos'" in st.detail
    finally:
        await conn.close()


async def test_install_is_idempotent_and_concurrent(dbos_url: str) -> None:
    a, b = await connect(dbos_url), await connect(dbos_url)
    try:
        assert (await triggers.status(a, "dbos")).state == "not-installed"
        s1, s2 = await asyncio.gather(triggers.install(a, "dbos"), triggers.install(b, "dbos"))
        assert s1.installed and s2.installed
        again = await triggers.install(a, "dbos")
        assert again.installed
        assert _traces(dbos_url) == {"schema": 1, "functions": 1, "triggers": 6}
    finally:
        await a.close()
        await b.close()


async def test_status_outdated_then_reinstall(dbos_url: str) -> None:
    conn = await connect(dbos_url)
    try:
        await triggers.install(conn, "dbos")
        await conn.execute("COMMENT ON FUNCTION limbo_tui.notify_rows() IS 'limbo-tui v0'")
        st = await triggers.status(conn, "dbos")
        assert st.state == "outdated" and "v0" in st.detail
        assert (await triggers.install(conn, "dbos")).installed
    finally:
        await conn.close()


async def test_uninstall_leaves_no_trace(dbos_url: str) -> None:
    before = _traces(dbos_url)
    conn = await connect(dbos_url)
    try:
        await triggers.install(conn, "dbos")
        assert await triggers.uninstall(conn, "dbos")
        assert (await triggers.status(conn, "dbos")).state == "not-installed"
        assert await triggers.uninstall(conn, "dbos") == []
    finally:
        await conn.close()
    assert before == _traces(dbos_url) == {"schema": 0, "functions": 0, "triggers": 0}


async def test_no_privilege_is_a_typed_error(dbos_url: str) -> None:
    limited = make_limited_role(dbos_url)
    conn = await connect(limited)
    try:
        with pytest.raises(triggers.TriggersUnavailable) as info:
            await triggers.install(conn, "dbos")
        assert info.value.reason == "no privilege to create triggers"
        assert info.value.exit_code == 1
    finally:
        await conn.close()
    assert _traces(dbos_url)["schema"] == 0


def test_cli_command_lines(dbos_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert triggers.run_triggers_command(dbos_url, "dbos", "status") == 0
    assert "not installed" in capsys.readouterr().out
    assert triggers.run_triggers_command(dbos_url, "dbos", "install") == 0
    assert capsys.readouterr().out.startswith("installed:")
    assert triggers.run_triggers_command(dbos_url, "dbos", "install") == 0
    assert capsys.readouterr().out.startswith("already installed:")
    assert triggers.run_triggers_command(dbos_url, "dbos", "status") == 0
    assert capsys.readouterr().out.startswith("installed:")
    assert triggers.run_triggers_command(dbos_url, "dbos", "uninstall") == 0
    out = capsys.readouterr().out
    assert out.startswith("uninstalled:") and out.count("\n") == 1


def test_cli_errors(db_url: str, dbos_url: str) -> None:
    with pytest.raises(DatabaseError, match="no dbos schema 'dbos'"):
        triggers.run_triggers_command(db_url, "dbos", "status")
    with pytest.raises(LimboError) as info:
        triggers.run_triggers_command(dbos_url, "bad-name", "status")
    assert info.value.exit_code == 2
    with pytest.raises(DatabaseError, match=r"no privilege|permission denied"):
        triggers.run_triggers_command(make_limited_role(dbos_url), "dbos", "install")


def test_channel_names_fit_postgres_limit() -> None:
    assert triggers.channel_name("dbos") == "limbo_tui_dbos"
    long = triggers.channel_name("s" * 63)
    assert len(long) <= 63 and long != triggers.channel_name("s" * 62 + "t")


async def test_one_notification_per_statement(dbos_url: str) -> None:
    """Several rows in one statement: one payload naming them all; none for no row."""
    conn = await connect(dbos_url)
    writer = await connect(dbos_url)
    try:
        st = await triggers.install(conn, "dbos")
        got = await _listen(conn, st.channel)
        await writer.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) "
            "VALUES ('a', 'ENQUEUED'), ('b:|x', 'ENQUEUED'), ('c', 'ENQUEUED')"
        )
        # DBOS's dequeue often matches nothing: that must cost no notification.
        await writer.execute("UPDATE dbos.workflow_status SET status = 'X' WHERE false")
        await writer.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id) "
            "VALUES ('a', 1), ('a', 2)"
        )
        await _until(lambda: len(got) >= 2)
        await asyncio.sleep(0.2)
        assert len(got) == 2
        first, second = (parse_batch(p) for p in got)
        assert first is not None and first.workflows == {"a", "b:|x", "c"}
        assert second is not None and second.steps == {("a", 1), ("a", 2)}
    finally:
        await conn.close()
        await writer.close()


async def test_triggers_go_silent_above_the_queue_limit(
    dbos_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard that keeps a stopped listener from filling the server's NOTIFY queue
    (limit 0: always "full"); the write itself goes through."""
    monkeypatch.setattr(triggers, "QUEUE_LIMIT", 0.0)
    conn = await connect(dbos_url)
    try:
        st = await triggers.install(conn, "dbos")
        got = await _listen(conn, st.channel)
        await conn.execute("SELECT pg_notify($1, 'probe')", st.channel)
        await _until(lambda: got == ["probe"])
        await conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('q', 'PENDING')"
        )
        await conn.execute("SELECT pg_notify($1, 'probe2')", st.channel)
        await _until(lambda: len(got) == 2)
        assert got == ["probe", "probe2"]
        assert await conn.fetchval("SELECT count(*) FROM dbos.workflow_status") == 1
    finally:
        await conn.close()


async def _holding_lock(url: str, sql_text: str) -> tuple[asyncpg.Connection, int]:
    """A connection inside an open transaction that ran `sql_text` (keeps its locks)."""
    holder = await connect(url)
    await holder.execute("BEGIN")
    await holder.execute(sql_text)
    return holder, holder.get_server_pid()


async def test_install_behind_an_open_write_transaction_never_stalls_writers(
    dbos_url: str,
) -> None:
    """Issue 10.6: CREATE TRIGGER behind an open write transaction used to wait in the
    lock queue, and every DBOS write queued behind it. Now it lets go, says who holds the
    lock, and retries; writers go on meanwhile."""
    setup = await connect(dbos_url)
    await setup.execute(
        "INSERT INTO dbos.workflow_status (workflow_uuid, status) "
        "VALUES ('held', 'PENDING'), ('other', 'PENDING')"
    )
    holder, pid = await _holding_lock(
        dbos_url, "UPDATE dbos.workflow_status SET status = 'PENDING' WHERE workflow_uuid = 'held'"
    )
    waits: list[str] = []
    installer = await connect(dbos_url)
    writer = await connect(dbos_url)
    try:
        task = asyncio.ensure_future(triggers.install(installer, "dbos", on_wait=waits.append))
        await _until(lambda: bool(waits), 10)
        assert waits[0] == f"waiting for a lock held by pid {pid}"
        # An unrelated DBOS write while the install waits: it must not queue behind it.
        await asyncio.wait_for(
            writer.execute(
                "UPDATE dbos.workflow_status SET status = 'SUCCESS' WHERE workflow_uuid = 'other'"
            ),
            triggers.RETRY_FOR_S,
        )
        assert not task.done()
        await holder.execute("COMMIT")
        assert (await task).installed
    finally:
        for c in (holder, installer, writer, setup):
            await c.close()


async def test_uninstall_behind_an_open_reader_never_blocks_selects(dbos_url: str) -> None:
    setup = await connect(dbos_url)
    await triggers.install(setup, "dbos")
    holder, pid = await _holding_lock(dbos_url, "SELECT count(*) FROM dbos.workflow_status")
    waits: list[str] = []
    remover = await connect(dbos_url)
    reader = await connect(dbos_url)
    try:
        task = asyncio.ensure_future(triggers.uninstall(remover, "dbos", on_wait=waits.append))
        await _until(lambda: bool(waits), 10)
        assert waits[0] == f"waiting for a lock held by pid {pid}"
        await asyncio.wait_for(
            reader.fetchval("SELECT count(*) FROM dbos.workflow_status"), triggers.RETRY_FOR_S
        )
        assert not task.done()
        await holder.execute("COMMIT")
        assert await task
        assert (await triggers.status(setup, "dbos")).state == "not-installed"
    finally:
        for c in (holder, remover, reader, setup):
            await c.close()


async def test_lock_held_for_good_is_a_one_line_error(dbos_url: str) -> None:
    holder, pid = await _holding_lock(dbos_url, "LOCK TABLE dbos.workflow_status")
    conn = await connect(dbos_url)
    try:
        with pytest.raises(triggers.LockBusy) as info:
            await triggers.install(conn, "dbos", retry_for_s=0.5)
        assert f"held by pid {pid}" in info.value.message and "\n" not in info.value.message
    finally:
        await holder.close()
        await conn.close()
    assert _traces(dbos_url)["schema"] == 0


async def test_uninstall_removes_the_worker_queue_rows_and_nothing_else(dbos_url: str) -> None:
    with psycopg.connect(dbos_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.queues (name, application_name) "
            "VALUES ('example-queue', 'limbo-tui'), ('users-queue', 'their-app')"
        )
        conn.execute(
            "INSERT INTO dbos.application_versions (version_id, version_name, application_name)"
            " VALUES ('v1', 'limbo-tui-demo-1', 'limbo-tui'), ('v2', 'their-1', 'their-app')"
        )
    c = await connect(dbos_url)
    try:
        await triggers.install(c, "dbos")
        removed = await triggers.uninstall(c, "dbos")
    finally:
        await c.close()
    assert any("1 queue rows" in r for r in removed), removed
    with psycopg.connect(dbos_url) as conn:
        queues = [r[0] for r in conn.execute("SELECT name FROM dbos.queues ORDER BY 1")]
        versions = [
            r[0] for r in conn.execute("SELECT version_name FROM dbos.application_versions")
        ]
    assert queues == ["users-queue"] and versions == ["their-1"]
    assert _traces(dbos_url) == {"schema": 0, "functions": 0, "triggers": 0}


async def test_another_builds_newer_triggers_are_left_in_place(
    dbos_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await connect(dbos_url)
    try:
        monkeypatch.setattr(triggers, "VERSION_NUMBER", 9)
        monkeypatch.setattr(triggers, "VERSION", "limbo-tui notify triggers v9")
        await triggers.install(conn, "dbos")
        monkeypatch.undo()
        st = await triggers.status(conn, "dbos")
        assert st.state == "other-build" and st.found_version == 9
        with pytest.raises(triggers.TriggersUnavailable) as info:
            await triggers.install(conn, "dbos")
        assert "newer limbo-tui build" in info.value.reason
    finally:
        await conn.close()
