import psycopg


def test_dbos_url_has_the_dbos_tables(dbos_url: str) -> None:
    with psycopg.connect(dbos_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dbos'"
        ).fetchall()
    names = {r[0] for r in rows}
    assert {"workflow_status", "operation_outputs"} <= names


def test_db_url_is_empty_and_fresh(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE mine (x int)")
        conn.commit()
        n = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'dbos'"
        ).fetchone()
    assert n == (0,)
