"""Names and strings written into SQL text, quoted the one way PostgreSQL reads them.

Most SQL here passes values as parameters; these are for what a parameter cannot carry:
a schema or table name (a user may name their DBOS schema `"my schema"`), and the
literals inside DDL that PostgreSQL takes no parameters for (trigger functions).
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
