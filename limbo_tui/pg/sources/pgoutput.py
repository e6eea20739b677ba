"""The logical source's reader for `pgoutput` (protocol 1) over a publication the user
made: `[feed] publication = "limbo_tui"` with, on PostgreSQL 15+,

  CREATE PUBLICATION limbo_tui FOR TABLE dbos.workflow_status (workflow_uuid),
    dbos.operation_outputs (workflow_uuid, function_id);

limbo-tui never creates it (on a user's database that is a write, so it is the user's
act); `publication_sql` is the statement the one-line hints quote. With a publication the
server formats only the changes of those two tables and only the key columns, where
test_decoding formats every column of every table's change.

Messages, as pg_logical_slot_get_binary_changes returns them (one per row): 'R' names a
relation (id, schema, table, columns), 'I' / 'U' / 'D' carry tuples of it ('N' new, 'K'
key, 'O' old), 'T' truncates (a resync); 'B', 'C', 'O', 'Y', 'M' carry nothing we need.
"""

from __future__ import annotations

import struct

from limbo_tui.pg.sources import Changes
from limbo_tui.pg.sql_text import quote_ident

# Relation id -> (schema, table, column names), learnt from 'R' messages.
Relations = dict[int, tuple[str, str, list[str]]]
# Two of every three messages are a transaction's BEGIN ('B') and COMMIT ('C'): told by
# their first byte, before any parsing (the reader's CPU per commit, bench.sources).
_NOTHING_FOR_US = frozenset(b"BCOYM")


def publication_sql(name: str, schema: str) -> str:
    s = quote_ident(schema)
    return (
        f"CREATE PUBLICATION {quote_ident(name)} FOR TABLE {s}.workflow_status "
        f"(workflow_uuid), {s}.operation_outputs (workflow_uuid, function_id)"
    )


_INTS = {
    1: struct.Struct(">b"),
    2: struct.Struct(">h"),
    4: struct.Struct(">i"),
    8: struct.Struct(">q"),
}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0

    def byte(self) -> str:
        if self.i >= len(self.data):
            self.i += 1
            return ""
        b = chr(self.data[self.i])
        self.i += 1
        return b

    def int(self, size: int) -> int:
        (v,) = _INTS[size].unpack_from(self.data, self.i)
        self.i += size
        return int(v)

    def string(self) -> str:
        end = self.data.index(b"\0", self.i)
        s = self.data[self.i : end].decode()
        self.i = end + 1
        return s

    def tuple(self) -> list[str | None]:
        values: list[str | None] = []
        for _ in range(self.int(2)):
            kind = self.byte()
            if kind in ("t", "b"):
                n = self.int(4)
                values.append(self.data[self.i : self.i + n].decode(errors="replace"))
                self.i += n
            else:  # 'n' null, 'u' an unchanged TOAST value
                values.append(None)
        return values


def parse_message(data: bytes, relations: Relations, schema: str) -> Changes | None:
    """One pgoutput message -> Changes, or None (no change of ours). 'R' fills relations."""
    if not data or data[0] in _NOTHING_FOR_US:
        return None
    r = _Reader(data)
    kind = r.byte()
    if kind == "R":
        relid, nsp, rel = r.int(4), r.string(), r.string()
        r.int(1)  # replica identity
        cols: list[str] = []
        for _ in range(r.int(2)):
            r.int(1)
            cols.append(r.string())
            r.int(4)
            r.int(4)
        relations[relid] = (nsp, rel, cols)
        return None
    if kind == "T":
        return Changes(resync=True)
    if kind not in ("I", "U", "D"):
        return None
    relid = r.int(4)
    known = relations.get(relid)
    if known is None:
        return Changes(resync=True)  # a change of a relation never described: be safe
    nsp, rel, cols = known
    if nsp != schema or rel not in ("workflow_status", "operation_outputs"):
        return None
    tuples: list[list[str | None]] = []
    while r.i < len(data):
        r.byte()  # 'N', 'K' or 'O'
        tuples.append(r.tuple())
    out = Changes()
    for values in tuples:
        row = dict(zip(cols, values, strict=False))
        wid = row.get("workflow_uuid")
        if wid is None:
            continue
        if rel == "workflow_status":
            out.workflows.add(wid)
        elif (fid := row.get("function_id")) is not None and fid.lstrip("-").isdigit():
            out.steps.add((wid, int(fid)))
        else:
            out.all_steps.add(wid)
    return out if out else Changes(resync=True)
