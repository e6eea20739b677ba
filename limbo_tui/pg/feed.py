"""LiveFeed: the one loop that keeps a WorkflowGraph in step with the database.

Normal path (LIVE): a dedicated asyncpg connection LISTENs on the trigger channel (never
in a transaction, never pooled: a pool's reset would UNLISTEN); a second connection runs
the queries. LISTEN comes first, then the snapshot (events between the two are fetched
again, which is harmless; the other order would lose them). Notifications name workflow
ids / step keys; they are coalesced for `coalesce_ms`, then fetched in one batch.

Trouble: a terminated connection (add_termination_listener), a failed heartbeat
(SELECT 1 with a timeout every `heartbeat_s`: asyncpg sets no TCP keepalive) or a failed
query -> RECONNECTING with backoff -> LISTEN -> full snapshot -> LIVE.

Fallback (POLLING): when the triggers are not installed and cannot be (read-only
setting, no privilege, replica), a cheap change probe runs every `poll_interval_s`; a
changed digest (or every FULL_RESYNC_S, to see deletions) brings a full snapshot.

Runs on the caller's asyncio loop (Textual's); no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from limbo_tui.errors import LimboError, one_line
from limbo_tui.model import Row, StepRemoved, Workflow, WorkflowRemoved
from limbo_tui.pg import queries, triggers
from limbo_tui.pg.connect import connect, connect_checked
from limbo_tui.pg.recount import Recount
from limbo_tui.settings import Settings

FeedStateName = Literal["LIVE", "POLLING", "RECONNECTING", "DOWN"]

# Backoff between reconnect attempts (seconds); the last value repeats.
BACKOFF_S: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
# After this long without a connection the state says DOWN (retries go on).
DOWN_AFTER_S = 30.0
# While polling, a full snapshot this often even with an unchanged probe (deletions).
FULL_RESYNC_S = 30.0
# Minimum time between two snapshots caused by resync notices.
RESYNC_MIN_S = 0.25
# Time constant of the events-per-second estimate.
RATE_TAU_S = 5.0
# Errors that mean "the connection is gone", as opposed to a bug or a SQL error.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionFailureError,
    LimboError,
)


@dataclass(frozen=True)
class FeedBatch:
    rows: list[Row]
    # True: a new snapshot, replace the graph with these rows.
    full: bool


@dataclass(frozen=True)
class FeedState:
    state: FeedStateName
    detail: str
    events_per_s: float = 0.0
    # A fact about the database's host that the state alone hides, e.g. the embedded
    # server's disk is full: the feed may be LIVE while every DBOS write fails.
    alarm: str = ""


@dataclass
class _Pending:
    workflows: set[str] = field(default_factory=set)
    steps: set[tuple[str, int]] = field(default_factory=set)
    resync: bool = False

    def __bool__(self) -> bool:
        return self.resync or bool(self.workflows) or bool(self.steps)


class _NewSession(Exception):
    """The session's mode no longer fits (triggers removed or installed): start afresh."""


class _ConnectionLost(Exception):
    """Internal: leave the session and reconnect."""


class _Rate:
    """Exponentially decaying events-per-second estimate."""

    def __init__(self, tau: float = RATE_TAU_S) -> None:
        self.tau = tau
        self._value = 0.0
        self._at = time.monotonic()

    def add(self, n: int = 1) -> None:
        now = time.monotonic()
        self._value = self._value * math.exp(-(now - self._at) / self.tau) + n / self.tau
        self._at = now

    def value(self) -> float:
        return self._value * math.exp(-(time.monotonic() - self._at) / self.tau)


def parse_payload(payload: str) -> tuple[str, str, str, str] | None:
    """('w'|'o', op, status-or-function-id, workflow id), or None for resync / unknown."""
    parts = payload.split("|", 3)
    if len(parts) != 4 or parts[0] not in ("w", "o") or parts[1] not in ("I", "U", "D"):
        return None
    kind, op, extra, wid = parts
    if kind == "o" and not extra.lstrip("-").isdigit():
        return None
    return kind, op, extra, wid


class LiveFeed:
    def __init__(
        self,
        url: str,
        settings: Settings,
        on_batch: Callable[[FeedBatch], None],
        on_state: Callable[[FeedState], None],
        *,
        revive: Callable[[], None] | None = None,
        disk_problem: Callable[[], str | None] | None = None,
    ) -> None:
        self.url = url
        # Called (on this loop's thread) before each reconnect attempt: the embedded
        # default passes "start the private server again if it is gone", so that a
        # second limbo-tui outlives the one that started the shared server.
        self._revive = revive
        # Asked at most once a second (the embedded default: a statvfs of its data dir).
        self._disk_problem = disk_problem
        self._alarm = ""
        self.settings = settings
        self.schema = settings.database.schema
        self.channel = triggers.channel_name(self.schema)
        self._on_batch = on_batch
        self._on_state = on_state
        self._listen: asyncpg.Connection | None = None
        self._query: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pending = _Pending()
        self._lost: str | None = None
        self._rate = _Rate()
        self._known: set[str] = set()
        self._state: FeedState | None = None
        self._last_rate_report = 0.0
        self._digest = ""
        self._last_snapshot = 0.0
        self._recount = Recount()
        # Why we poll (None while LIVE); kept across reconnects.
        self.polling_reason: str | None = None
        # Someone removed the triggers while we were LIVE (`limbo-tui triggers uninstall`
        # from another terminal): poll rather than install them again behind their back.
        self._triggers_removed = False

    # -- public ------------------------------------------------------------------------
    @property
    def state(self) -> FeedState | None:
        return self._state

    async def start(self) -> None:
        """Connect, snapshot, and go on in the background.

        The first connection's errors (unreachable, login refused, no DBOS schema) are
        raised as DatabaseError: nothing to monitor yet. Later losses only reconnect.
        """
        try:
            await self._open()
            await self._begin_session()
        except Exception as exc:
            await self._close()
            self._set_state("DOWN", one_line(exc))
            raise
        self._task = asyncio.get_running_loop().create_task(self._run(), name="limbo-feed")

    async def stop(self) -> None:
        """Fast and clean: cancel the loop, close both connections (< 0.5 s)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 0.3)
        await self._close(timeout=0.1)

    def events_per_s(self) -> float:
        return self._rate.value()

    # -- session -----------------------------------------------------------------------
    async def _open(self) -> None:
        self._lost = None
        self._pending = _Pending()
        self._wake.clear()
        self._query = await connect_checked(self.url, self.schema)
        try:
            self._listen = await connect(self.url)
        except BaseException:
            await self._close()
            raise
        for conn in (self._query, self._listen):
            conn.add_termination_listener(self._on_terminated)

    async def _close(self, timeout: float = 0.5) -> None:
        conns = [c for c in (self._listen, self._query) if c is not None]
        self._listen = self._query = None
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.remove_termination_listener(self._on_terminated)
        if conns:
            await asyncio.gather(*(self._close_one(c, timeout) for c in conns))

    @staticmethod
    async def _close_one(conn: asyncpg.Connection, timeout: float) -> None:
        if conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), timeout)
        except asyncio.CancelledError:
            conn.terminate()
            raise  # never swallow a cancellation: stop() relies on it
        except Exception:
            conn.terminate()  # a dead peer does not answer the polite goodbye

    async def _begin_session(self) -> None:
        """Choose LIVE or POLLING, LISTEN, and deliver the snapshot."""
        assert self._query is not None and self._listen is not None
        self.polling_reason = await self._trigger_decision()
        if self.polling_reason is None:
            await self._listen.add_listener(self.channel, self._on_notify)
        else:
            # Probe before the snapshot (like LISTEN before it): a change in between
            # shows as a new digest at the first poll instead of being lost.
            self._digest = await queries.probe_changes(self._query, self.schema)
        await self._deliver_snapshot()
        if self.polling_reason is None:
            self._set_state("LIVE", f"via notify on {self.channel}")
        else:
            every = self.settings.feed.poll_interval_s
            self._set_state("POLLING", f"every {every:g} s: {self.polling_reason}")

    async def _trigger_decision(self) -> str | None:
        """None when the triggers are in place (LIVE), else why the feed must poll."""
        assert self._query is not None
        if await self._query.fetchval("SELECT pg_is_in_recovery()"):
            # A hot standby can neither LISTEN nor see the primary's NOTIFYs.
            return "read-only replica (notifications do not reach standbys)"
        status = await triggers.status(self._query, self.schema)
        if status.installed:
            self._triggers_removed = False
            return None
        if self._triggers_removed:
            return "triggers were removed (limbo-tui triggers install to go LIVE again)"
        if self.settings.read_only:
            what = "outdated" if status.state == "outdated" else "not installed"
            return f"read-only and triggers {what} (limbo-tui triggers install)"
        try:
            await triggers.install(self._query, self.schema)
        except triggers.TriggersUnavailable as exc:
            return exc.reason
        return None

    async def _deliver_snapshot(self) -> None:
        assert self._query is not None
        # A resync supersedes everything queued so far.
        self._pending = _Pending()
        rows = await queries.snapshot(
            self._query, self.schema, self.settings.feed.finished_families
        )
        self._known = {r.id for r in rows if isinstance(r, Workflow)}
        self._last_snapshot = time.monotonic()
        self._recount.saw_snapshot(rows)
        self._emit(FeedBatch(rows, full=True))

    # -- callbacks from asyncpg ----------------------------------------------------------
    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._rate.add()
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

    def _on_terminated(self, _conn: object) -> None:
        if self._lost is None:
            self._lost = "connection closed by the server"
        self._wake.set()

    # -- main loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                if self.polling_reason is None:
                    await self._live_loop()
                else:
                    await self._poll_loop()
            except asyncio.CancelledError:
                raise
            except _NewSession as exc:
                await self._reconnect(one_line(exc))
            except Exception as exc:
                # Connection trouble above all, but also a SQL error after DBOS migrated
                # the schema under us: a fresh session re-probes the columns. A monitor
                # keeps trying (and says why) rather than dying silently.
                await self._reconnect(self._lost or one_line(exc))

    async def _live_loop(self) -> None:
        heartbeat = self.settings.feed.heartbeat_s
        next_beat = time.monotonic() + heartbeat
        coalesce_s = self.settings.feed.coalesce_ms / 1000
        last_flush = 0.0
        while True:
            self._check_lost()
            timeout = max(0.0, next_beat - time.monotonic())
            if not self._pending:
                # Wake at least once a second to refresh the events/s figure.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(timeout, 1.0))
            self._wake.clear()
            self._check_lost()
            self._report_rate()
            if time.monotonic() >= next_beat:
                await self._heartbeat()
                next_beat = time.monotonic() + heartbeat
            if self._pending:
                # A lone change is fetched at once. In a burst (the last fetch was moments
                # ago) wait a little, so that a DBOS step's several writes cost one fetch.
                if time.monotonic() - last_flush < coalesce_s:
                    await asyncio.sleep(coalesce_s)
                    self._check_lost()
                await self._flush()
                last_flush = time.monotonic()
            # The true totals, counted again when a batch held a row the graph cannot place.
            assert self._query is not None
            recounted = await self._recount.rows(self._query, self.schema)
            if recounted:
                self._emit(FeedBatch(recounted, full=False))

    async def _poll_loop(self) -> None:
        assert self._query is not None
        interval = self.settings.feed.poll_interval_s
        last_full = last_check = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            self._check_lost()
            new = await queries.probe_changes(self._query, self.schema)
            if time.monotonic() - last_check >= FULL_RESYNC_S:
                last_check = time.monotonic()
                # Triggers installed since (by `limbo-tui triggers install` or another
                # limbo-tui): go LIVE. The catalog query is cheap; a replica never has them.
                st = await triggers.status(self._query, self.schema)
                if st.installed and not await self._query.fetchval("SELECT pg_is_in_recovery()"):
                    raise _NewSession("triggers installed: going LIVE")
            if new != self._digest or time.monotonic() - last_full >= FULL_RESYNC_S:
                self._rate.add()
                self._digest = new  # taken before the snapshot: nothing slips between
                await self._deliver_snapshot()
                last_full = time.monotonic()
            self._report_rate()

    def _check_lost(self) -> None:
        if self._lost is not None:
            raise _ConnectionLost(self._lost)

    async def _heartbeat(self) -> None:
        assert self._listen is not None and self._query is not None
        timeout = max(1.0, min(5.0, self.settings.feed.heartbeat_s))
        try:
            await asyncio.wait_for(self._listen.fetchval("SELECT 1"), timeout)
            await asyncio.wait_for(self._query.fetchval("SELECT 1"), timeout)
            # LIVE relies on the triggers: if someone removed them, no notification will
            # ever come again and the screen would freeze while claiming to be live.
            st = await asyncio.wait_for(triggers.status(self._query, self.schema), timeout)
        except CONNECTION_ERRORS as exc:
            raise _ConnectionLost(f"heartbeat failed: {one_line(exc)}") from None
        if not st.installed:
            self._triggers_removed = True
            raise _NewSession(f"triggers {st.state}: {st.detail}")

    async def _flush(self) -> None:
        """One batched fetch of everything the queued notifications named."""
        assert self._query is not None
        pending, self._pending = self._pending, _Pending()
        if pending.resync:
            # A storm of resync notices (e.g. very long ids) must not become a storm of
            # snapshots: at most one per RESYNC_MIN_S, later notices are folded in.
            wait = self._last_snapshot + RESYNC_MIN_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self._check_lost()
            await self._deliver_snapshot()
            return
        conn, schema = self._query, self.schema
        # A step of a workflow never seen (outside the snapshot's scope) brings the
        # workflow and all its steps along, so the graph never holds orphan steps.
        unseen = {wid for wid, _ in pending.steps if wid not in self._known}
        wanted = sorted(pending.workflows | unseen)
        found = await queries.fetch_workflows(conn, schema, wanted)
        found_ids = {w.id for w in found}
        rows: list[Row] = list(found)
        rows.extend(WorkflowRemoved(wid) for wid in wanted if wid not in found_ids)
        # A workflow seen for the first time (e.g. an old one resumed) brings its steps.
        new_ids = [w.id for w in found if w.id not in self._known]
        step_keys = set(pending.steps)
        if new_ids:
            steps = await queries.fetch_steps(conn, schema, new_ids)
            rows.extend(steps)
            step_keys -= {(s.workflow_id, s.function_id) for s in steps}
        if step_keys:
            keys = sorted(step_keys)
            got = await queries.fetch_step_keys(conn, schema, keys)
            got_keys = {(s.workflow_id, s.function_id) for s in got}
            rows.extend(got)
            rows.extend(StepRemoved(w, f) for (w, f) in keys if (w, f) not in got_keys)
        gone_unknown = sum(1 for w in wanted if w not in found_ids and w not in self._known)
        self._recount.saw_batch(found, gone_unknown, self._known)
        self._known |= found_ids
        self._known -= {wid for wid in wanted if wid not in found_ids}
        if rows:
            self._emit(FeedBatch(rows, full=False))

    async def _reconnect(self, reason: str) -> None:
        await self._close(timeout=0.2)
        lost_at = time.monotonic()
        attempt = 0
        while True:
            state: FeedStateName = (
                "DOWN" if time.monotonic() - lost_at >= DOWN_AFTER_S else "RECONNECTING"
            )
            self._set_state(state, f"{reason}; attempt {attempt + 1}")
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1
            try:
                if self._revive is not None:
                    self._revive()
                await self._open()
                await self._begin_session()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = one_line(exc)
                await self._close(timeout=0.2)

    # -- reporting ---------------------------------------------------------------------
    def _emit(self, batch: FeedBatch) -> None:
        try:
            self._on_batch(batch)
        except Exception as exc:  # a broken consumer must not kill the feed
            asyncio.get_running_loop().call_exception_handler(
                {"message": "LiveFeed on_batch callback failed", "exception": exc}
            )

    def _set_state(self, state: FeedStateName, detail: str) -> None:
        self._state = FeedState(state, detail, self._rounded_rate(), self._alarm)
        self._last_rate_report = time.monotonic()
        try:
            self._on_state(self._state)
        except Exception as exc:
            asyncio.get_running_loop().call_exception_handler(
                {"message": "LiveFeed on_state callback failed", "exception": exc}
            )

    def _rounded_rate(self) -> float:
        rate = round(self._rate.value(), 1)
        return rate if rate >= 0.1 else 0.0

    def _report_rate(self) -> None:
        """Re-announce the current state when events/s or the alarm changed (at most once
        a second)."""
        if self._state is None or time.monotonic() - self._last_rate_report < 1.0:
            return
        if self._disk_problem is not None:
            self._alarm = self._disk_problem() or ""
        if self._rounded_rate() != self._state.events_per_s or self._alarm != self._state.alarm:
            self._set_state(self._state.state, self._state.detail)
