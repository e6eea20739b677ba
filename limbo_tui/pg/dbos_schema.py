"""Which DBOS releases wrote a system database: its schema version and what it maps to.

DBOS (2.x and 3.x alike) keeps one row in `<schema>.dbos_migrations(version)`: the number
of its own migrations applied. Each release ships a fixed list, so the version names a
range of releases. The table below was read from each release's `dbos/_migration.py`
(len(get_dbos_migrations(...))) for every release from 2.8.0 to 3.4.0; a release that
added no migration shares its predecessor's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from limbo_tui.pg.sql_text import quote_ident

if TYPE_CHECKING:
    import asyncpg
    import psycopg

# (schema version, first release, last minor with that version).
SCHEMA_RELEASES: tuple[tuple[int, str, str], ...] = (
    (7, "2.8.0", "2.10"),
    (8, "2.11.0", "2.12"),
    (10, "2.13.0", "2.13"),
    (13, "2.14.0", "2.14"),
    (15, "2.15.0", "2.15"),
    (18, "2.16.0", "2.16"),
    (19, "2.17.0", "2.19"),
    (35, "2.20.0", "2.22"),
    (39, "2.23.0", "2.24"),
    (41, "2.25.0", "2.26"),
    (42, "2.27.0", "2.27"),
    (44, "2.28.0", "2.28"),
    (47, "2.29.0", "2.29"),
    (107, "2.30.0", "2.30"),
    (108, "2.31.0", "2.31"),
    (114, "3.0.0", "3.0"),
    (122, "3.1.0", "3.1"),
    (123, "3.2.0", "3.3"),
    (125, "3.4.0", "3.4"),
)


def _minor(release: str) -> tuple[int, int]:
    major, minor = release.split(".")[:2]
    return int(major), int(minor)


@dataclass(frozen=True)
class SchemaVersion:
    """A database's DBOS schema version and the releases that write exactly it."""

    version: int | None

    @property
    def row(self) -> tuple[int, str, str] | None:
        for row in SCHEMA_RELEASES:
            if row[0] == self.version:
                return row
        return None

    @property
    def first_release(self) -> str | None:
        """The oldest release of this schema: the one whose code acts on it."""
        row = self.row
        return row[1] if row else None

    def covers(self, release: str) -> bool:
        """True when `release` writes exactly this schema version."""
        row = self.row
        if row is None:
            return False
        return _minor(row[1]) <= _minor(release) <= _minor(row[2] + ".0")

    @property
    def releases(self) -> str:
        """'2.8-2.10', '3.4', or why none is known."""
        row = self.row
        if row is not None:
            first = ".".join(row[1].split(".")[:2])
            return first if first == row[2] else f"{first}-{row[2]}"
        if self.version is None:
            return "no migrations table"
        if self.version < SCHEMA_RELEASES[0][0]:
            return "older than 2.8: not supported"
        if self.version > SCHEMA_RELEASES[-1][0]:
            return f"newer than {SCHEMA_RELEASES[-1][2]}"
        return "unknown release"

    @property
    def label(self) -> str:
        """What the header shows: `dbos schema 7 (2.8-2.10)`."""
        shown = "?" if self.version is None else str(self.version)
        return f"dbos schema {shown} ({self.releases})"


_EXISTS = (
    "SELECT 1 FROM information_schema.tables "
    "WHERE table_schema = {} AND table_name = 'dbos_migrations'"
)


def _version_query(schema: str) -> str:
    return f"SELECT max(version) FROM {quote_ident(schema)}.dbos_migrations"


def read_schema_version(url: str, schema: str) -> SchemaVersion:
    """The schema version of the DBOS tables in `schema` (a read, nothing else)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        return read_with(conn, schema)


def read_with(conn: psycopg.Connection, schema: str) -> SchemaVersion:
    if conn.execute(_EXISTS.format("%s"), (schema,)).fetchone() is None:
        return SchemaVersion(None)
    row = conn.execute(_version_query(schema).encode()).fetchone()
    return SchemaVersion(int(row[0]) if row and row[0] is not None else None)


async def read_with_asyncpg(conn: asyncpg.Connection, schema: str) -> SchemaVersion:
    if await conn.fetchval(_EXISTS.format("$1"), schema) is None:
        return SchemaVersion(None)
    value = await conn.fetchval(_version_query(schema))
    return SchemaVersion(int(value) if value is not None else None)
