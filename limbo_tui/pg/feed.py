"""LiveFeed: the one loop that keeps a WorkflowGraph in step with the database.

A session: a query connection, one change source (pg/sources/), the snapshot, then a
loop that turns the source's Changes into batched fetches. The source is subscribed
before the snapshot (changes in between are fetched again, which is harmless; the other
order would lose them).

Which source (`_choose`):
  - [feed] source = "poll": delta polling, always;
  - [feed] source = "logical": a temporary logical replication slot when the preflight
    passes, else polling with the missing piece named;
  - "auto" (the default): NOTIFY when limbo-tui's triggers are installed; else, in the
    lab (the embedded database, or --lab) or with [feed] triggers = "auto", install them
    and use NOTIFY; else (a user's database: a monitor) delta polling, which writes
    nothing; with [feed] triggers = "ask" the state offers live push (`offer`), which
    the app's consent dialog turns into `install_triggers()`.
Every source proves it is alive by a round trip through itself (a self-addressed NOTIFY,
a slot that advances, a poll that returns); when that fails the feed falls back to
polling within PROOF_TIMEOUT_S and says why, and tries the better source again every
UPGRADE_EVERY_S without leaving the screen.

Trouble: a terminated connection (add_termination_listener), a failed proof or query
-> RECONNECTING with backoff -> a new session -> snapshot -> LIVE / POLLING.

Runs on the caller's asyncio loop (Textual's); no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import asyncpg

from limbo_tui.backlog import (
    FIRST_LOADED,
    LIVE_FIRST,
    PAGE,
    children_page_end,
    live_page_end,
    summarized_queues,
)
from limbo_tui.errors import LimboError, one_line
from limbo_tui.model import Row, StepRemoved, Totals, Workflow, WorkflowRemoved
from limbo_tui.pg import queries, triggers
from limbo_tui.pg.connect import close_quietly, connect, connect_checked
from limbo_tui.pg.recount import Recount
from limbo_tui.pg.sources import Changes, ChangeSource, SourceFailed
from limbo_tui.pg.sources.notify import NotifySource, parse_payload
from limbo_tui.pg.sources.polling import DeltaPoller
from limbo_tui.server_clock import ServerClock
from limbo_tui.settings import Settings

__all__ = ["FeedBatch", "FeedState", "LiveFeed", "parse_payload"]

FeedStateName = Literal["LIVE", "POLLING", "RECONNECTING", "DOWN"]

# Backoff between reconnect attempts (seconds); the last value repeats.
BACKOFF_S: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
# After this long without a connection the state says DOWN (retries go on).
DOWN_AFTER_S = 30.0
# While polling, a full snapshot this often (deletions, late commits; bounded).
FULL_RESYNC_S = 30.0
# While polling for want of a better source, try that source again this often.
UPGRADE_EVERY_S = 30.0
# Minimum time between two snapshots caused by resync notices.
RESYNC_MIN_S = 0.25
# Time constant of the events-per-second estimate.
RATE_TAU_S = 5.0
# A query or proof that takes longer than this means the connection is gone.
QUERY_TIMEOUT_S = 15.0
# A snapshot's second connection (queries.snapshot's `side`): past this, one reads it all.
SIDE_CONNECT_S = 3.0
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
    # The header's words for the source: "via notify", "every 0.2-2 s", ...
    source: str = ""
    # True when the user may switch on live push (install the triggers, after a confirm).
    offer: bool = False


T = TypeVar("T")


class _ConnectionLost(Exception):
    """Internal: leave the session and reconnect."""


class EventRate:
    """Exponentially decaying events-per-second estimate (both feeds' header rate)."""

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

    def shown(self) -> float:
        """As the header shows it: to a tenth, and 0 below that."""
        rate = round(self.value(), 1)
        return rate if rate >= 0.1 else 0.0


async def cancel_task(task: asyncio.Task[None] | None, wait_s: float = 0.3) -> None:
    """End a feed's loop: cancel it and give it `wait_s` to unwind (its errors are over)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, wait_s)


def deliver(callback: Callable[[T], None], value: T, what: str) -> None:
    """Hand a feed's consumer a batch or a state: a consumer that raises must not end the
    feed, so its error goes to the loop's exception handler."""
    try:
        callback(value)
    except Exception as exc:
        asyncio.get_running_loop().call_exception_handler(
            {"message": f"{what} callback failed", "exception": exc}
        )


async def reopen_with_backoff(
    reason: str,
    *,
    open_session: Callable[[], Awaitable[None]],
    close: Callable[[], Awaitable[None]],
    set_state: Callable[[FeedStateName, str], None],
    retry_on: tuple[type[Exception], ...] = (Exception,),
) -> None:
    """Try to open a session again until one opens, saying RECONNECTING (DOWN after
    DOWN_AFTER_S) with the last reason and the attempt; one loop for every feed."""
    lost_at = time.monotonic()
    attempt = 0
    while True:
        state: FeedStateName = (
            "DOWN" if time.monotonic() - lost_at >= DOWN_AFTER_S else "RECONNECTING"
        )
        set_state(state, f"{reason}; attempt {attempt + 1}")
        await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        attempt += 1
        try:
            await open_session()
            return
        except retry_on as exc:
            reason = one_line(exc)
            await close()


def _count(changes: Changes) -> int:
    return len(changes.workflows) + len(changes.steps) + len(changes.all_steps) or 1


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
        server_clock: ServerClock | None = None,
        page_live: bool = False,
    ) -> None:
        self.url = url
        # Measured at each snapshot and now and then at a heartbeat (server_clock.py).
        self._server_clock = server_clock
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
        self._query: asyncpg.Connection | None = None
        # The source's own connection (LISTEN, or the logical slot's session).
        self._side: asyncpg.Connection | None = None
        self._source: ChangeSource | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost: str | None = None
        self._rate = EventRate()
        self._known: set[str] = set()
        self._state: FeedState | None = None
        self._last_rate_report = 0.0
        self._last_snapshot = 0.0
        self._recount = Recount()
        # Per queue, the rows of its summarized backlog read page by page (load_page).
        self._opened: dict[str, int] = {}
        # The TUI's: a snapshot loads the newest live families (backlog.LIVE_FIRST rows of
        # paged_live, plus those read page by page since: load_families), and where the
        # next page starts, for the queues summarized at that snapshot.
        self._page_live = page_live
        self._live_opened = 0
        self._live_next: tuple[int, str] | None = None
        self._live_totals = Totals(workflows=0)
        # Per parent loaded by its first children, where its next page starts, and the
        # children read page by page since (every later snapshot loads them again).
        self._children_next: dict[str, tuple[int, str]] = {}
        self._children_read: dict[str, list[str]] = {}
        # Why we poll (None while a push source runs); kept across reconnects.
        self.polling_reason: str | None = None
        self._offer = False
        # Someone removed the triggers while we were LIVE (`limbo-tui triggers uninstall`
        # from another terminal): poll rather than install them again behind their back.
        self._triggers_removed = False
        # The user confirmed live push in this process: install even in monitor mode.
        self._consented = False
        self._upgrade_now = False
        # A push source that failed its proof, and when: not retried before UPGRADE_EVERY_S.
        self._failed_at: float | None = None
        # The poller kept while a better source is tried (its marks stay valid).
        self._spare: DeltaPoller | None = None

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
        """Fast and clean: cancel the loop, close every connection (< 0.5 s)."""
        task, self._task = self._task, None
        await cancel_task(task)
        await self._close(timeout=0.1)

    def events_per_s(self) -> float:
        return self._rate.value()

    async def load_page(self, queue: str, older_than: tuple[int, str]) -> list[Row]:
        """The next page of a summarized backlog (queries.backlog_page), read on a
        connection of its own beside the feed's: the graph takes only the rows it does not
        hold, and a change to one of them after this read is notified and fetched as any."""
        conn = await connect(self.url)
        try:
            rows = await asyncio.wait_for(
                queries.backlog_page(conn, self.schema, queue, older_than), QUERY_TIMEOUT_S
            )
        finally:
            await close_quietly(conn)
        # In the graph from now on: their next change places them in the totals exactly;
        # and in every later snapshot (a resync keeps what the user opened).
        read = {r.id for r in rows if isinstance(r, Workflow)}
        self._known |= read
        self._opened[queue] = self._opened.get(queue, 0) + len(read)
        return rows

    @property
    def pages_families(self) -> bool:
        return self._page_live

    async def load_families(self, parent: str | None = None) -> list[Row]:
        """The next page of live families (queries.live_page) past what the snapshot and
        the pages before loaded, or of `parent`'s children (queries.children_page), on a
        connection of its own as load_page; nothing when every one is loaded."""
        if parent is not None:
            return await self._load_children(parent)
        start = self._live_next
        if start is None:
            return []
        counted = self._live_totals
        conn = await connect(self.url)
        try:
            rows = await asyncio.wait_for(
                queries.live_page(conn, self.schema, start, counted, PAGE), QUERY_TIMEOUT_S
            )
        finally:
            await close_quietly(conn)
        if self._live_next == start:  # else a snapshot came in between: it says where
            self._live_next = live_page_end(rows, summarized_queues(counted), PAGE, start)
            self._live_opened += PAGE
        self._known |= {r.id for r in rows if isinstance(r, Workflow)}
        return rows

    async def _load_children(self, parent: str) -> list[Row]:
        after = self._children_next.get(parent)
        if after is None:
            return []
        conn = await connect(self.url)
        try:
            rows = await asyncio.wait_for(
                queries.children_page(conn, self.schema, parent, after, PAGE), QUERY_TIMEOUT_S
            )
        finally:
            await close_quietly(conn)
        if self._children_next.get(parent) == after:  # else a snapshot said where
            end = children_page_end(rows, parent, PAGE, after)
            if end is None:
                self._children_next.pop(parent, None)
            else:
                self._children_next[parent] = end
        read = [r.id for r in rows if isinstance(r, Workflow) and r.parent_id == parent]
        self._children_read.setdefault(parent, []).extend(read)
        self._known |= {r.id for r in rows if isinstance(r, Workflow)}
        return rows

    async def install_triggers(self, on_wait: Callable[[str], None] | None = None) -> str:
        """The user confirmed live push: install the triggers (on a connection of their
        own, with a short lock timeout) and switch to NOTIFY. Returns the one line to show;
        raises LimboError (TriggersUnavailable, LockBusy) with the reason."""
        if self.settings.read_only:
            raise LimboError("read-only: limbo-tui writes nothing to this database")
        conn = await connect_checked(self.url, self.schema)
        try:
            st = await triggers.install(conn, self.schema, on_wait=on_wait)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)
        self._consented = True
        self._triggers_removed = False
        self._failed_at = None
        self._upgrade_now = True
        return f"live push on: {st.detail}; remove with `limbo-tui triggers uninstall`"

    async def pause(self) -> None:
        """Before a suspend (SIGTSTP): stop receiving, so that a stopped limbo-tui holds
        no server resource that grows (the NOTIFY queue's tail)."""
        pause = getattr(self._source, "pause", None)
        if pause is not None:
            with contextlib.suppress(Exception):
                await pause()

    async def resume(self) -> None:
        resume = getattr(self._source, "resume", None)
        if resume is not None:
            with contextlib.suppress(Exception):
                await resume()

    # -- session -----------------------------------------------------------------------
    async def _open(self) -> None:
        self._lost = None
        self._query = await connect_checked(self.url, self.schema)
        self._query.add_termination_listener(self._on_terminated)

    async def _close(self, timeout: float = 0.5) -> None:
        await self._drop_source(timeout)
        conn, self._query = self._query, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.remove_termination_listener(self._on_terminated)
            await self._close_one(conn, timeout)

    async def _drop_source(self, timeout: float = 0.5) -> None:
        source, self._source = self._source, None
        if source is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(source.close(), timeout)
        side, self._side = self._side, None
        if side is not None:
            with contextlib.suppress(Exception):
                side.remove_termination_listener(self._on_terminated)
            await self._close_one(side, timeout)

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
        """Choose the source, subscribe, and deliver the snapshot."""
        await self._choose()
        await self._deliver_snapshot()
        self._announce()

    def _announce(self) -> None:
        assert self._source is not None
        if self.polling_reason is None:
            self._set_state("LIVE", self._source.describe())
        else:
            self._set_state("POLLING", f"{self._source.describe()}: {self.polling_reason}")

    async def _choose(self) -> None:
        """Start the best source that works here; a failed push source falls to polling."""
        want = self.settings.feed.source
        reason: str | None
        self._offer = False
        if want == "poll":
            reason = "[feed] source = poll"
        elif self._failed_at is not None and self.polling_reason is not None:
            reason = self.polling_reason
        else:
            try:
                if want == "logical":
                    await self._start_logical()
                else:
                    reason = await self._trigger_decision()
                    if reason is None:
                        await self._start_notify()
                if self._source is not None:
                    self.polling_reason = None
                    return
            except SourceFailed as exc:
                await self._drop_source(0.2)
                self._failed_at = time.monotonic()
                reason = exc.reason
        self.polling_reason = reason
        await self._start_polling()

    async def _start_polling(self) -> None:
        assert self._query is not None
        if self._spare is not None:
            self._source, self._spare = self._spare, None
            return
        feed = self.settings.feed
        poller = DeltaPoller(
            self._query,
            self.schema,
            min_interval_s=feed.poll_min_interval_s,
            max_interval_s=feed.poll_interval_s,
        )
        await poller.start()
        self._source = poller

    async def _start_notify(self) -> None:
        assert self._query is not None
        self._side = await connect(self.url)
        self._side.add_termination_listener(self._on_terminated)
        source = NotifySource(self._side, self._query, self.schema)
        self._source = source
        await source.start()

    async def _start_logical(self) -> None:
        from limbo_tui.pg.sources.logical import LogicalSource

        assert self._query is not None
        self._side = await connect(self.url)
        self._side.add_termination_listener(self._on_terminated)
        source = LogicalSource(self._side, self.schema, self.settings.feed.publication)
        self._source = source
        await source.start()

    def _may_install(self) -> bool:
        if self.settings.read_only:
            return False
        return self.settings.lab or self._consented or self.settings.feed.triggers == "auto"

    async def _trigger_decision(self) -> str | None:
        """None when the triggers are (now) in place: NOTIFY; else why the feed polls."""
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
        if status.state == "other-build" and (status.found_version or 0) > triggers.VERSION_NUMBER:
            return f"triggers replaced by another limbo-tui build ({status.detail})"
        if self.settings.read_only:
            what = "outdated" if status.state == "outdated" else "not installed"
            return f"read-only and triggers {what}"
        if not self._may_install():
            if self.settings.feed.triggers == "never":
                return "monitor, [feed] triggers = never"
            self._offer = True
            return "monitor, writes nothing (P: live push)"
        try:
            await triggers.install(self._query, self.schema)
        except triggers.TriggersUnavailable as exc:
            return exc.reason
        return None

    async def _deliver_snapshot(self) -> None:
        assert self._query is not None
        live_first = LIVE_FIRST + self._live_opened if self._page_live else None
        rows = await asyncio.wait_for(
            queries.snapshot(
                self._query,
                self.schema,
                self.settings.feed.finished_families,
                self._opened,
                side=lambda: connect(self.url, timeout=SIDE_CONNECT_S),
                live_first=live_first,
                also=[c for read in self._children_read.values() for c in read],
            ),
            QUERY_TIMEOUT_S * 4,
        )
        counted = next((r for r in reversed(rows) if isinstance(r, Totals)), None)
        self._children_next = {}
        keys = {r.id: (r.created_at_ms, r.id) for r in rows if isinstance(r, Workflow)}
        for f in counted.families if counted is not None else ():
            end = children_page_end(rows, f.parent_id, FIRST_LOADED)
            # Past the pages read since, loaded again with this snapshot.
            read = [k for c in self._children_read.get(f.parent_id, ()) if (k := keys.get(c))]
            ends = [e for e in [end, *read] if e is not None and e[0] is not None]
            if end is not None and ends:
                created, wid = max(ends)
                assert created is not None
                self._children_next[f.parent_id] = (created, wid)
        if live_first is not None:
            self._live_totals = counted or Totals(workflows=0)
            self._live_next = live_page_end(rows, summarized_queues(self._live_totals), live_first)
        if self._server_clock is not None:
            await asyncio.wait_for(self._server_clock.measure(self._query), QUERY_TIMEOUT_S)
        self._known = {r.id for r in rows if isinstance(r, Workflow)}
        self._last_snapshot = time.monotonic()
        self._recount.saw_snapshot(rows)
        self._emit(FeedBatch(rows, full=True))

    # -- callbacks from asyncpg ----------------------------------------------------------
    def _on_terminated(self, _conn: object) -> None:
        if self._lost is None:
            self._lost = "connection closed by the server"

    # -- main loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Connection trouble above all, but also a SQL error after DBOS migrated
                # the schema under us: a fresh session re-probes the columns. A monitor
                # keeps trying (and says why) rather than dying silently.
                await self._reconnect(await self._explain_loss(self._lost or one_line(exc)))

    async def _explain_loss(self, reason: str) -> str:
        """A source whose own session ended while the query connection lives may know why
        (a logical slot invalidated by the server); else the reason stays as it is."""
        explain = getattr(self._source, "explain_loss", None)
        query = self._query
        if explain is None or query is None or query.is_closed():
            return reason
        try:
            said = await asyncio.wait_for(explain(query), 2.0)
        except Exception:
            return reason  # the server itself is gone: the connection's reason says it
        return said or reason

    async def _loop(self) -> None:
        heartbeat = self.settings.feed.heartbeat_s
        next_beat = time.monotonic() + heartbeat
        coalesce_s = self.settings.feed.coalesce_ms / 1000
        # When the last fetch began: at most one fetch per coalescing window.
        last_fetch = -math.inf
        while True:
            self._check_lost()
            source = self._source
            assert source is not None
            timeout = max(0.0, min(next_beat - time.monotonic(), 1.0))
            try:
                changes = await asyncio.wait_for(source.changes(timeout), QUERY_TIMEOUT_S)
            except SourceFailed as exc:
                await self._fall_back(exc.reason)
                continue
            self._check_lost()
            now = time.monotonic()
            if now >= next_beat:
                await self._heartbeat()
                next_beat = time.monotonic() + heartbeat
            if changes:
                self._rate.add(_count(changes))
                wait = last_fetch + coalesce_s - time.monotonic()
                if source.kind == "notify" and wait > 0:
                    # A lone change is fetched at once. In a burst (the last fetch began
                    # moments ago) a change waits for the rest of that fetch's window
                    # only, not a whole window of its own: a DBOS step's several writes
                    # still cost one fetch, and no change waits longer than the window.
                    await asyncio.sleep(wait)
                    self._check_lost()
                    changes.merge(await source.changes(0))
                last_fetch = time.monotonic()
                await self._flush(changes)
            # The true totals, counted again when a batch held a row the graph cannot place.
            assert self._query is not None
            recounted = await self._recount.rows(self._query, self.schema)
            if recounted:
                self._emit(FeedBatch(recounted, full=False))
            if self.polling_reason is not None:
                await self._while_polling()
            self._report_rate()

    async def _while_polling(self) -> None:
        """Polling: a bounded full snapshot now and then, and the better source back."""
        now = time.monotonic()
        if self._upgrade_now or (
            self.settings.feed.source != "poll"
            and (self._failed_at is None or now - self._failed_at >= UPGRADE_EVERY_S)
            and now - self._last_snapshot >= UPGRADE_EVERY_S
        ):
            self._upgrade_now = False
            await self._try_upgrade()
            if self.polling_reason is None:
                return
        if time.monotonic() - self._last_snapshot >= FULL_RESYNC_S:
            await self._deliver_snapshot()

    async def _try_upgrade(self) -> None:
        """Try the better source without leaving the screen: on success LIVE (after a
        snapshot taken behind the new subscription), else keep polling."""
        assert self._query is not None
        poller = self._source
        self._source = None
        self._spare = poller if isinstance(poller, DeltaPoller) else None
        self._failed_at = None
        await self._choose()
        self._spare = None
        if self.polling_reason is None:
            await self._deliver_snapshot()
        self._announce()

    async def _fall_back(self, reason: str) -> None:
        """The push source failed its proof: poll at once, say why."""
        await self._drop_source(0.2)
        self._failed_at = time.monotonic()
        self.polling_reason = reason
        await self._start_polling()
        await self._deliver_snapshot()
        self._announce()

    def _check_lost(self) -> None:
        if self._lost is not None:
            raise _ConnectionLost(self._lost)

    async def _heartbeat(self) -> None:
        """The source's own round trip; LIVE via notify also checks its triggers."""
        assert self._query is not None and self._source is not None
        # asyncpg sets no TCP keepalive: a silent network shows as a proof that hangs.
        timeout = max(1.0, min(5.0, self.settings.feed.heartbeat_s))
        try:
            await asyncio.wait_for(self._source.prove(), timeout)
        except SourceFailed as exc:
            await self._fall_back(exc.reason)
            return
        except CONNECTION_ERRORS as exc:
            raise _ConnectionLost(f"heartbeat failed: {one_line(exc)}") from None
        if self._server_clock is not None and self._server_clock.due():
            try:
                await asyncio.wait_for(self._server_clock.measure(self._query), timeout)
            except CONNECTION_ERRORS as exc:
                raise _ConnectionLost(f"heartbeat failed: {one_line(exc)}") from None
        if self._source.kind != "notify":
            return
        try:
            # LIVE relies on the triggers: if someone removed them, no notification will
            # ever come again and the screen would freeze while claiming to be live.
            st = await asyncio.wait_for(triggers.status(self._query, self.schema), 5.0)
        except CONNECTION_ERRORS as exc:
            raise _ConnectionLost(f"heartbeat failed: {one_line(exc)}") from None
        if st.state == "other-build":
            # Replaced, not removed: another limbo-tui build installed its own version.
            await self._fall_back(f"triggers replaced by another limbo-tui build ({st.detail})")
        elif not st.installed:
            self._triggers_removed = True
            await self._fall_back(
                "triggers were removed (limbo-tui triggers install to go LIVE again)"
            )

    async def _flush(self, pending: Changes) -> None:
        """One batched fetch of everything the source named."""
        assert self._query is not None
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
        step_owners = {wid for wid, _ in pending.steps} | pending.all_steps
        unseen = {wid for wid in step_owners if wid not in self._known}
        wanted = sorted(pending.workflows | unseen)
        found = await queries.fetch_workflows(conn, schema, wanted)
        found_ids = {w.id for w in found}
        rows: list[Row] = list(found)
        rows.extend(WorkflowRemoved(wid) for wid in wanted if wid not in found_ids)
        # A workflow seen for the first time (e.g. an old one resumed) brings its steps.
        new_ids = {w.id for w in found if w.id not in self._known}
        whole = sorted(new_ids | (pending.all_steps & (found_ids | self._known)))
        step_keys = set(pending.steps)
        if whole:
            steps = await queries.fetch_steps(conn, schema, whole)
            rows.extend(steps)
            done = set(whole)
            step_keys = {k for k in step_keys if k[0] not in done}
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

        async def open_session() -> None:
            if self._revive is not None:
                self._revive()
            await self._open()
            await self._begin_session()

        await reopen_with_backoff(
            reason,
            open_session=open_session,
            close=lambda: self._close(timeout=0.2),
            set_state=self._set_state,
        )

    # -- reporting ---------------------------------------------------------------------
    def _emit(self, batch: FeedBatch) -> None:
        deliver(self._on_batch, batch, "LiveFeed on_batch")

    def _set_state(self, state: FeedStateName, detail: str) -> None:
        live = state in ("LIVE", "POLLING") and self._source is not None
        self._state = FeedState(
            state,
            detail,
            self._rate.shown(),
            self._alarm,
            source=self._source.describe() if live and self._source else "",
            offer=self._offer and state == "POLLING",
        )
        self._last_rate_report = time.monotonic()
        deliver(self._on_state, self._state, "LiveFeed on_state")

    def _report_rate(self) -> None:
        """Re-announce the current state when events/s, the alarm or the source's words
        changed (at most once a second)."""
        if self._state is None or time.monotonic() - self._last_rate_report < 1.0:
            return
        if self._disk_problem is not None:
            self._alarm = self._disk_problem() or ""
        words = self._source.describe() if self._source is not None else ""
        if (
            self._rate.shown() != self._state.events_per_s
            or self._alarm != self._state.alarm
            or words != self._state.source
        ):
            self._set_state(self._state.state, self._state.detail)
