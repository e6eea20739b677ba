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
                "WHERE n.nspname = 'limbo_tui' OR p.proname = 'notify_change'"
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
            "DROP TRIGGER limbo_tui_notify ON dbos.workflow_status;"
            "CREATE TRIGGER limbo_tui_notify AFTER INSERT OR UPDATE OR DELETE "
            "ON dbos.workflow_status FOR EACH ROW EXECUTE FUNCTION limbo_tui.notify_change('')"
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
        assert _traces(dbos_url) == {"schema": 1, "functions": 1, "triggers": 2}
    finally:
        await a.close()
        await b.close()


async def test_status_outdated_then_reinstall(dbos_url: str) -> None:
    conn = await connect(dbos_url)
    try:
        await triggers.install(conn, "dbos")
        await conn.execute("COMMENT ON FUNCTION limbo_tui.notify_change() IS 'limbo-tui v0'")
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
        assert await triggers.uninstall(conn, "dbos") is True
        assert (await triggers.status(conn, "dbos")).state == "not-installed"
        assert await triggers.uninstall(conn, "dbos") is False
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
