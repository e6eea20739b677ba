"""NOTIFY source: LISTEN on limbo-tui's trigger channel (pg/triggers.py) on a connection
of its own (never pooled, never in a transaction: a pool's reset would UNLISTEN).

Liveness is proven end to end, never by `SELECT 1`: a self-addressed `ping|<token>` sent
from the feed's other connection must come back on this one within PROOF_TIMEOUT_S.
Behind a transaction pooler (PgBouncer) LISTEN lands on a server connection we do not
keep, so the ping never returns and the feed falls back to polling and says why.

The queue guard: the triggers stop notifying above triggers.QUEUE_LIMIT of the server's
NOTIFY queue (a stopped listener anywhere holds its tail); prove() sees the same usage
and fails, so the feed polls until the queue drains instead of trusting a silent channel.
`pause()` / `resume()` UNLISTEN and LISTEN again around a suspend (SIGTSTP), so that a
stopped limbo-tui never holds the queue's tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import asyncpg

from limbo_tui.pg import triggers
from limbo_tui.pg.sources import Changes, SourceFailed

PROOF_TIMEOUT_S = 2.0
PING = "ping|"


def parse_payload(payload: str) -> tuple[str, str, str, str] | None:
    """('w'|'o', op, status-or-function-id, workflow id), or None for resync / unknown."""
    parts = payload.split("|", 3)
    if len(parts) != 4 or parts[0] not in ("w", "o") or parts[1] not in ("I", "U", "D"):
        return None
    kind, op, extra, wid = parts
    if kind == "o" and not extra.lstrip("-").isdigit():
        return None
    return kind, op, extra, wid


def parse_batch(payload: str) -> Changes | None:
    """A statement's payload 'n|' + entries `w<len>:<id>` / `o<fid>,<len>:<id>`; None when
    it is not one (then the caller reads it as a single-row payload or a resync)."""
    if not payload.startswith("n|"):
        return None
    out = Changes()
    i, n = 2, len(payload)
    try:
        while i < n:
            kind = payload[i]
            i += 1
            fid = 0
            if kind == "o":
                comma = payload.index(",", i)
                fid = int(payload[i:comma])
                i = comma + 1
            elif kind != "w":
                return Changes(resync=True)
            colon = payload.index(":", i)
            length = int(payload[i:colon])
            wid = payload[colon + 1 : colon + 1 + length]
            if len(wid) != length:
                return Changes(resync=True)
            i = colon + 1 + length
            if kind == "w":
                out.workflows.add(wid)
            else:
                out.steps.add((wid, fid))
    except ValueError:
        return Changes(resync=True)
    return out


class NotifySource:
    kind = "notify"

    def __init__(self, listen: asyncpg.Connection, query: asyncpg.Connection, schema: str) -> None:
        self._listen = listen
        self._query = query
        self._schema = schema
        self.channel = triggers.channel_name(schema)
        self._pending = Changes()
        self._wake = asyncio.Event()
        self._pings: dict[str, asyncio.Future[None]] = {}
        self.events = 0
        self._listening = False

    async def start(self) -> None:
        await self._listen.add_listener(self.channel, self._on_notify)
        self._listening = True
        await self.prove()

    async def changes(self, timeout: float) -> Changes:
        if not self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        out, self._pending = self._pending, Changes()
        return out

    async def prove(self) -> None:
        usage = await self._query.fetchval("SELECT pg_notification_queue_usage()")
        if usage is not None and usage >= triggers.QUEUE_LIMIT:
            raise SourceFailed(
                f"NOTIFY queue {usage:.0%} full (a stopped listener?): triggers are silent"
            )
        token = secrets.token_hex(8)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[token] = done
        try:
            await self._query.execute("SELECT pg_notify($1, $2)", self.channel, PING + token)
            await asyncio.wait_for(done, PROOF_TIMEOUT_S)
        except TimeoutError:
            raise SourceFailed("LISTEN does not reach us (a transaction pooler?)") from None
        finally:
            self._pings.pop(token, None)

    def describe(self) -> str:
        return "via notify"

    async def pause(self) -> None:
        """Stop receiving (before a suspend): the server no longer queues for us."""
        if self._listening:
            self._listening = False
            await self._listen.remove_listener(self.channel, self._on_notify)

    async def resume(self) -> None:
        if not self._listening:
            await self._listen.add_listener(self.channel, self._on_notify)
            self._listening = True
            self._pending.resync = True  # what happened meanwhile was not heard
            self._wake.set()

    async def close(self) -> None:
        return None  # the connection belongs to the feed

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(PING):
            done = self._pings.get(payload[len(PING) :])
            if done is not None and not done.done():
                done.set_result(None)
            return
        self.events += 1
        batch = parse_batch(payload)
        if batch is not None:
            self._pending.merge(batch)
        else:
            parsed = parse_payload(payload)
            if parsed is None:
                self._pending.resync = True
            else:
                kind, _op, extra, wid = parsed
                if kind == "w":
                    self._pending.workflows.add(wid)
                else:
                    self._pending.steps.add((wid, int(extra)))
        self._wake.set()
