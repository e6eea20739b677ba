"""DBOS 3.x SQLite system databases: read-only reads (reader), a change source that
watches the file itself (changes), and the live feed built on them (feed)."""
