"""Diagnoses kept per workflow and brought up to date piecewise (the TUI and `watch`).

Diagnosing a graph of ~14k workflows costs ~30 ms: far too much for every repaint, or for
every second. The rules are local (diagnose.depends_on says what a change can reach), so a
repaint re-diagnoses the changed neighbourhood. What the clock alone changes is scheduled:
diagnosing a workflow also gives the first instant at which its diagnoses may differ (a
threshold passing, a wait's deadline, a duration in its sentence moving on), kept in a
heap, so that a tick re-diagnoses only the workflows whose instant has come. What the
rules read across workflows (which executors are silent, which versions live, which queues
blocked) is kept by a FleetIndex from the same changed ids, with its own next instant (an
executor going silent, a queue's last holder getting stuck); when the Fleet differs from
the one the held diagnoses were made with, what it can reach (diagnose.fleet_scope) is
re-diagnosed too. The result is always what diagnose() would say at that time
(tests/test_diagnose_incremental.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from limbo_tui.diagnose import (
    DEDUP_BLOCKED,
    LIMBO,
    WARNING,
    Diagnosis,
    LimboSummary,
    depends_on,
    diagnose_ids,
    fleet_scope,
    ordered,
    ticking_ids,
)
from limbo_tui.fleet import Fleet, FleetIndex
from limbo_tui.model import WorkflowGraph
from limbo_tui.registry import Registry
from limbo_tui.settings import LimboSettings


class LiveDiagnoses:
    """Diagnoses by workflow id, plus the counts the screen shows, kept in step."""

    def __init__(self) -> None:
        self._by_id: dict[str, list[Diagnosis]] = {}
        # Derived from _by_id, updated with it so that no repaint walks every diagnosis.
        self._limbo: set[str] = set()
        self._warning: set[str] = set()
        self._dedup_blocked = 0
        self._sorted: list[Diagnosis] | None = None
        # The executors known down when the unfinished workflows were last diagnosed.
        self._down: frozenset[str] = frozenset()
        self._index = FleetIndex()
        self._fleet = Fleet()
        self._registry = Registry()
        # When each workflow's diagnoses may next change by the clock alone, and the same
        # instants as a heap (an entry is live while _due still names it).
        self._due: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        # When the Fleet may next change by the clock alone (None: never).
        self._fleet_due: int | None = None
        # The clock and the limits the held diagnoses and instants were made with.
        self._now: int | None = None
        self._limits: LimboSettings | None = None

    # -- reading -----------------------------------------------------------------------
    def of(self, workflow_id: str) -> list[Diagnosis]:
        return list(self._by_id.get(workflow_id, ()))

    def ordered(self, graph: WorkflowGraph) -> list[Diagnosis]:
        """Every diagnosis held, in diagnose()'s order (sorted only when asked)."""
        if self._sorted is None:
            self._sorted = ordered(graph, (d for ds in self._by_id.values() for d in ds))
        return list(self._sorted)

    @property
    def fleet(self) -> Fleet:
        """The executors, versions and blocked queues the held diagnoses were made with."""
        return self._fleet

    def read_another_registry(self, graph: WorkflowGraph) -> bool:
        """The graph's registry (the DBOS release, queues, versions) is not the one the held
        diagnoses were made with: a Registry row alone changes no workflow's rows, yet the
        rules read it."""
        return graph.registry != self._registry

    @property
    def fleet_index(self) -> FleetIndex:
        return self._index

    @property
    def limbo_ids(self) -> frozenset[str]:
        return frozenset(self._limbo)

    @property
    def warning_ids(self) -> frozenset[str]:
        """Workflows with a warning (some may be in limbo too)."""
        return frozenset(self._warning)

    @property
    def summary(self) -> LimboSummary:
        return LimboSummary(
            in_limbo=len(self._limbo),
            dedup_blocked=self._dedup_blocked,
            warnings=len(self._warning - self._limbo),
        )

    def next_change_ms(self) -> int | None:
        """The first instant at which a held diagnosis or the Fleet may change by the
        clock alone (None: never, until rows change)."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        first = self._heap[0][0] if self._heap else None
        instants = [t for t in (first, self._fleet_due) if t is not None]
        return min(instants, default=None)

    # -- updating ----------------------------------------------------------------------
    def after_change(
        self,
        graph: WorkflowGraph,
        changed: Iterable[str],
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
    ) -> set[str]:
        """Re-diagnose what changed rows can reach, and what the clock changed by now;
        returns the ids whose diagnoses changed."""
        changed = set(changed)
        self._index.update(graph, changed)
        return self._update(
            graph, depends_on(graph, changed), now_ms, limbo, down_executors, changed
        )

    def after_tick(
        self,
        graph: WorkflowGraph,
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
    ) -> set[str]:
        """Time passed: re-diagnose the workflows whose next instant has come (and those the
        Fleet reaches if its own instant came). Returns the ids whose diagnoses changed."""
        return self._update(graph, set(), now_ms, limbo, down_executors, None)

    def redo_all(
        self,
        graph: WorkflowGraph,
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
    ) -> set[str]:
        """Everything (a new snapshot, new limits); forgets workflows no longer loaded."""
        self._index.reset(graph)
        every = set(graph.workflows) | set(self._by_id)
        return self._update(graph, every, now_ms, limbo, down_executors, every)

    def _update(
        self,
        graph: WorkflowGraph,
        ids: set[str],
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
        rows: set[str] | None,
    ) -> set[str]:
        """Re-diagnose `ids`, the workflows whose instant came and what the Fleet reaches;
        `rows`: the workflows whose rows changed (None: only time passed)."""
        stepped_back = self._now is not None and now_ms < self._now
        new_limits, new_down = limbo != self._limits, down_executors != self._down
        if new_limits:
            # Every threshold moved (and near-max-recovery reads the margin, whatever the
            # status): nothing held was made with these limits.
            ids.update(graph.workflows, self._by_id)
        elif stepped_back:
            # The clock stepped back (a new server offset): the instants ahead are wrong.
            ids.update(ticking_ids(graph))
        if new_down:
            # The worker went down or came back: orphaned / stuck read that, and only
            # for unfinished workflows.
            ids.update(ticking_ids(graph))
        ids.update(self._pop_due(now_ms))
        fleet_due = self._fleet_due
        if (
            rows is not None
            or new_limits
            or new_down
            or stepped_back
            or (fleet_due is not None and now_ms >= fleet_due)
        ):
            fleet = self._index.fleet(graph, now_ms, limbo, down_executors)
            ids |= fleet_scope(graph, self._fleet, fleet)
            for queue, blocked in fleet.blocked_queues.items():
                if rows and not rows.isdisjoint(blocked.holders[:2]):
                    # The sentences of a blocked queue's work name its first holders' idle
                    # time, which a late step row can change while the Fleet stays equal.
                    ids |= self._index.holders(queue) | self._index.waiting(queue)
            self._fleet_due = self._index.next_change_ms(graph, now_ms, limbo, down_executors)
        else:
            fleet = self._fleet
        if self.read_another_registry(graph):
            # The release changes sentences and the grace period of unfinished work.
            ids.update(ticking_ids(graph))
        self._fleet, self._registry = fleet, graph.registry
        self._down, self._limits, self._now = down_executors, limbo, now_ms
        return self._redo(graph, ids, now_ms, limbo, down_executors, fleet)

    def _pop_due(self, now_ms: int) -> set[str]:
        """The workflows whose instant has come (their entries leave the heap)."""
        due: set[str] = set()
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            at, wid = heapq.heappop(heap)
            if self._due.get(wid) == at:
                del self._due[wid]
                due.add(wid)
        return due

    def _redo(
        self,
        graph: WorkflowGraph,
        ids: set[str],
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
        fleet: Fleet,
    ) -> set[str]:
        fresh: dict[str, list[Diagnosis]] = {}
        instants: dict[str, int] = {}
        for d in diagnose_ids(graph, ids, now_ms, limbo, down_executors, fleet, instants):
            fresh.setdefault(d.workflow_id, []).append(d)
        changed: set[str] = set()
        for wid in ids:
            self._schedule(wid, instants.get(wid))
            new = fresh.get(wid)
            old = self._by_id.get(wid)
            if new is not None or old is not None:
                # The order reads the workflow's creation time, which may have changed
                # while its diagnoses did not: sort again when asked.
                self._sorted = None
            if new == old:
                continue
            changed.add(wid)
            if old is not None:
                self._count(old, -1)
                del self._by_id[wid]
            if new is not None:
                self._by_id[wid] = new
                self._count(new, +1)
        if len(self._heap) > 2 * len(self._due) + 64:
            # Entries replaced before their instant came: drop them in one pass.
            self._heap = [(t, w) for w, t in self._due.items()]
            heapq.heapify(self._heap)
        return changed

    def _schedule(self, wid: str, at_ms: int | None) -> None:
        if at_ms is None:
            self._due.pop(wid, None)
            return
        if self._due.get(wid) == at_ms:
            return
        self._due[wid] = at_ms
        heapq.heappush(self._heap, (at_ms, wid))

    def _count(self, diagnoses: list[Diagnosis], sign: int) -> None:
        severities = {d.severity for d in diagnoses}
        for severity, ids in ((LIMBO, self._limbo), (WARNING, self._warning)):
            if severity in severities:
                if sign > 0:
                    ids.add(diagnoses[0].workflow_id)
                else:
                    ids.discard(diagnoses[0].workflow_id)
        self._dedup_blocked += sign * sum(1 for d in diagnoses if d.kind == DEDUP_BLOCKED)
