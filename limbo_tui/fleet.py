"""Which executors and application versions are alive, and which queues are blocked.

Pure, computed from what the feed already sees (DBOS keeps no heartbeat): an executor's
activity is the newest write of any workflow it owns (row update, step start or end);
it is silent when that is older than the stalled threshold, or when limbo-tui knows it is
down (its own crashed worker). The version an executor runs is the app version of the
newest workflow it ran (ENQUEUED rows carry the version they ask for, not the one their
enqueuer runs). A queue with a global concurrency limit (dbos.queues) is blocked when
every slot is held by a PENDING workflow that makes no progress while work waits; one
with a per-worker limit only, when every live executor's slots are held so.

`fleet_of(graph, ...)` computes it from the whole graph; `FleetIndex` keeps the same
thing up to date from the ids a batch changed, for a live monitor. Both give equal
`Fleet`s (tests/test_diagnose_incremental.py). A Fleet holds only what the sentences
of the rules say, so that it changes rarely: the silent executors with their last write,
the live ones with their version, the blocked queues with holders and waiting count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from limbo_tui import model
from limbo_tui.model import SLEEP_STEP, Workflow, WorkflowGraph
from limbo_tui.settings import LimboSettings


@dataclass(frozen=True)
class SilentExecutor:
    last_write_ms: int | None
    # The app version it last ran, if known.
    version: str | None
    # limbo-tui knows it is down (not only silent).
    down: bool = False


@dataclass(frozen=True)
class BlockedQueue:
    # The slots held: the global limit, or per-worker limit x live executors holding them.
    concurrency: int
    # The PENDING workflows holding the slots, oldest first.
    holders: tuple[str, ...]
    waiting: int
    # Blocked by worker_concurrency on every live executor (not by a global limit).
    per_worker: bool = False


@dataclass(frozen=True)
class Fleet:
    silent: Mapping[str, SilentExecutor] = field(default_factory=dict)
    # Executors that wrote recently -> the version they run ("" unknown).
    live: Mapping[str, str] = field(default_factory=dict)
    blocked_queues: Mapping[str, BlockedQueue] = field(default_factory=dict)

    @cached_property
    def live_versions(self) -> frozenset[str]:
        # Read once per diagnosed workflow: computed once per Fleet.
        return frozenset(v for v in self.live.values() if v)

    def changed_queues(self, other: Fleet) -> set[str]:
        names = set(self.blocked_queues) | set(other.blocked_queues)
        return {n for n in names if self.blocked_queues.get(n) != other.blocked_queues.get(n)}


def first_ms_past(since_ms: int, threshold_ms: float) -> int:
    """The first instant (whole ms) at which `now - since_ms > threshold_ms` holds: the
    rules compare ages with a strict `>` against thresholds in float seconds."""
    return since_ms + math.floor(threshold_ms) + 1


class NextChange:
    """The earliest instant after `now_ms` among those noted: when something the clock
    decides may flip. Instants at or before now are past and ignored."""

    __slots__ = ("at_ms", "now_ms")

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.at_ms: int | None = None

    def at(self, instant_ms: int) -> None:
        if instant_ms > self.now_ms and (self.at_ms is None or instant_ms < self.at_ms):
            self.at_ms = instant_ms


def last_write_ms(graph: WorkflowGraph, workflow_id: str) -> int | None:
    """The newest write of a workflow: its row, a step's start or end. A DBOS.sleep row's
    completion is its projected wake-up time, not a write."""
    wf = graph.workflows.get(workflow_id)
    best: int | None = None
    if wf is not None:
        best = wf.updated_at_ms
        created = wf.created_at_ms
        if created is not None and (best is None or created > best):
            best = created
    for step in graph.steps.get(workflow_id, {}).values():
        started = step.started_at_ms
        if started is not None and (best is None or started > best):
            best = started
        done = step.completed_at_ms
        if done is not None and step.name != SLEEP_STEP and (best is None or done > best):
            best = done
    return best


def makes_no_progress(
    graph: WorkflowGraph,
    workflow_id: str,
    wf: Workflow,
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str],
) -> bool:
    """Its executor is known down, or nothing of it changed for the stalled threshold."""
    if wf.executor_id and wf.executor_id in down_executors:
        return True
    last = graph.last_progress_ms(workflow_id)
    return last is not None and now_ms - last > limbo.stalled_after_s * 1000


def _silent_after_ms(limbo: LimboSettings) -> float:
    return limbo.stalled_after_s * 1000


class _Newest:
    """The newest (time, value) among keyed entries, kept as entries come and go; the
    maximum is recomputed only when the entry holding it got older or left."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, str]] = {}
        self._best: tuple[int, str] | None = None
        self._stale = False

    def put(self, key: str, entry: tuple[int, str] | None) -> None:
        old = self.entries.pop(key, None)
        if entry is not None:
            self.entries[key] = entry
        if self._stale:
            return
        if entry is not None and (self._best is None or entry >= self._best):
            self._best = entry
        elif old is not None and old == self._best:
            self._stale = True

    def best(self) -> tuple[int, str] | None:
        if self._stale:
            self._best = max(self.entries.values(), default=None)
            self._stale = False
        return self._best


@dataclass(slots=True)
class _Seen:
    """What the index took from one workflow the last time it looked."""

    executor: str | None
    ran_version: str | None  # None: its row does not say what its executor runs
    write: int | None
    queue: str | None
    status: str


class FleetIndex:
    """Fleet facts kept up to date from changed workflow ids (see the module docstring)."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._activity: dict[str, _Newest] = {}
        self._versions: dict[str, _Newest] = {}
        # queue -> PENDING ids / ENQUEUED ids
        self._holding: dict[str, set[str]] = {}
        self._waiting: dict[str, set[str]] = {}

    def reset(self, graph: WorkflowGraph) -> None:
        for held in (self._seen, self._activity, self._versions, self._holding, self._waiting):
            held.clear()
        for wid, wf in graph.workflows.items():
            self._learn(graph, wid, wf)

    def update(self, graph: WorkflowGraph, changed: Iterable[str]) -> None:
        for wid in changed:
            self._forget(wid)
            wf = graph.workflows.get(wid)
            if wf is not None:
                self._learn(graph, wid, wf)

    def _forget(self, wid: str) -> None:
        seen = self._seen.pop(wid, None)
        if seen is None:
            return
        if seen.executor is not None:
            self._activity[seen.executor].put(wid, None)
            self._versions[seen.executor].put(wid, None)
        if seen.queue is not None:
            for by_queue in (self._holding, self._waiting):
                ids = by_queue.get(seen.queue)
                if ids is not None:
                    ids.discard(wid)
                    if not ids:
                        del by_queue[seen.queue]

    def _learn(self, graph: WorkflowGraph, wid: str, wf: Workflow) -> None:
        seen = _seen_of(graph, wid, wf)
        self._seen[wid] = seen
        if seen.executor is not None:
            entry = (seen.write, "") if seen.write is not None else None
            self._activity.setdefault(seen.executor, _Newest()).put(wid, entry)
            ran = None
            if seen.ran_version is not None and seen.write is not None:
                ran = (seen.write, seen.ran_version)
            self._versions.setdefault(seen.executor, _Newest()).put(wid, ran)
        if seen.queue is not None:
            if seen.status == model.PENDING:
                self._holding.setdefault(seen.queue, set()).add(wid)
            elif seen.status == model.ENQUEUED:
                self._waiting.setdefault(seen.queue, set()).add(wid)

    # -- reading -----------------------------------------------------------------------
    def executors(self) -> dict[str, tuple[int | None, str | None]]:
        """Every executor seen -> (its newest write, the version it last ran)."""
        out: dict[str, tuple[int | None, str | None]] = {}
        for ex, newest in self._activity.items():
            if not newest.entries:
                continue
            best = newest.best()
            ran = self._versions[ex].best()
            out[ex] = (best[0] if best else None, ran[1] if ran else None)
        return out

    def holders(self, queue: str) -> set[str]:
        return set(self._holding.get(queue, ()))

    def waiting(self, queue: str) -> set[str]:
        return set(self._waiting.get(queue, ()))

    def queue_names(self) -> set[str]:
        return set(self._holding) | set(self._waiting)

    def fleet(
        self,
        graph: WorkflowGraph,
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str] = frozenset(),
    ) -> Fleet:
        silent: dict[str, SilentExecutor] = {}
        live: dict[str, str] = {}
        quiet_ms = _silent_after_ms(limbo)
        for ex, (write, version) in self.executors().items():
            down = ex in down_executors
            if down or write is None or now_ms - write > quiet_ms:
                silent[ex] = SilentExecutor(write, version, down)
            else:
                live[ex] = version or ""
        blocked: dict[str, BlockedQueue] = {}
        for q in graph.registry.queues:
            holding = self._holding.get(q.name, set())
            waiting = len(self._waiting.get(q.name, ()))
            if not waiting or not holding:
                continue

            def stuck(ids: Iterable[str]) -> bool:
                return _all_stuck(graph, ids, now_ms, limbo, down_executors)

            if q.concurrency is not None and q.concurrency > 0:
                if len(holding) >= q.concurrency and stuck(holding):
                    order = _oldest_first(graph, holding)
                    blocked[q.name] = BlockedQueue(q.concurrency, order, waiting)
            elif q.worker_concurrency is not None and q.worker_concurrency > 0 and live:
                # DBOS counts a worker's slots in its own memory: a dead executor's PENDING
                # work frees nothing and takes nothing from the others. The queue is stuck
                # when every live executor has all its slots held by work without progress.
                per: dict[str, list[str]] = {}
                for h in holding:
                    per.setdefault(graph.workflows[h].executor_id or "", []).append(h)
                full = [per.get(ex, []) for ex in live]
                if all(len(ids) >= q.worker_concurrency and stuck(ids) for ids in full):
                    ids = [h for group in full for h in group]
                    slots = q.worker_concurrency * len(live)
                    order = _oldest_first(graph, ids)
                    blocked[q.name] = BlockedQueue(slots, order, waiting, True)
        return Fleet(silent, live, blocked)

    def next_change_ms(
        self,
        graph: WorkflowGraph,
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str] = frozenset(),
    ) -> int | None:
        """The first instant after now_ms at which fleet() may give another Fleet by the
        clock alone (the graph and the down executors as they are): a live executor going
        silent, or the last holder of a queue's slots ceasing to make progress. Neither
        flips back with time. None: never."""
        due = NextChange(now_ms)
        quiet_ms = _silent_after_ms(limbo)
        for ex, (write, _version) in self.executors().items():
            if ex not in down_executors and write is not None:
                due.at(first_ms_past(write, quiet_ms))
        for q in graph.registry.queues:
            holding = self._holding.get(q.name)
            if not holding or not self._waiting.get(q.name):
                continue
            # Blocked once every holder (of a live executor, for a per-worker limit) is
            # stuck: at the latest of their instants, unless one never will be.
            per_worker = q.concurrency is None or q.concurrency <= 0
            latest: int | None = None
            for h in holding:
                wf = graph.workflows[h]
                if wf.executor_id and wf.executor_id in down_executors:
                    continue
                last = graph.last_progress_ms(h)
                if last is None:
                    if per_worker:
                        continue
                    latest = None
                    break
                stuck_at = first_ms_past(last, limbo.stalled_after_s * 1000)
                if stuck_at <= now_ms:
                    continue
                if per_worker:
                    # Any executor's group may be the last to get stuck.
                    due.at(stuck_at)
                elif latest is None or stuck_at > latest:
                    latest = stuck_at
            if latest is not None:
                due.at(latest)
        return due.at_ms


def _all_stuck(
    graph: WorkflowGraph,
    ids: Iterable[str],
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str],
) -> bool:
    return all(
        makes_no_progress(graph, h, graph.workflows[h], now_ms, limbo, down_executors) for h in ids
    )


def _oldest_first(graph: WorkflowGraph, ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(ids, key=lambda h: (graph.workflows[h].created_at_ms or 0, h)))


def _seen_of(graph: WorkflowGraph, wid: str, wf: Workflow) -> _Seen:
    status = wf.status if isinstance(wf.status, str) else ""
    ran = None if status in model.QUEUED_STATUSES else (wf.app_version or "")
    executor = wf.executor_id or None
    return _Seen(
        executor=executor,
        ran_version=ran,
        # Only an executor's activity reads it (a backlog's rows often name none).
        write=last_write_ms(graph, wid) if executor is not None else None,
        queue=wf.queue or None,
        status=status,
    )


def fleet_of(
    graph: WorkflowGraph,
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str] = frozenset(),
) -> Fleet:
    """The Fleet of the whole graph (what FleetIndex gives after seeing every workflow)."""
    index = FleetIndex()
    index.update(graph, graph.workflows)
    return index.fleet(graph, now_ms, limbo, down_executors)
