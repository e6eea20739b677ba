"""Databases limbo-tui makes and drops whole on a server it administers (a lab's
comparison databases; the tests' and the benchmarks' copies of a DBOS template): one
psycopg session on the server's admin URL, the names quoted as identifiers. Never on a
database a user named: those are only read, or written through DBOS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql


def create_database(
    admin_url: str, name: str, *, template: str | None = None, replace: bool = False
) -> None:
    """CREATE DATABASE name (a copy of `template`: milliseconds, where DBOS's migrations
    take seconds); replace: one left by an earlier run is dropped first."""
    import psycopg
    from psycopg import sql

    create: sql.Composed = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if replace:
            conn.execute(_drop(name))
        conn.execute(create)


def drop_database(admin_url: str, name: str) -> None:
    """DROP DATABASE IF EXISTS name, its sessions ended (WITH (FORCE))."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(_drop(name))


def _drop(name: str) -> sql.Composed:
    from psycopg import sql

    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
