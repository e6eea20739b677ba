"""Diagnoses kept per workflow and brought up to date piecewise (the TUI and `watch`).

Diagnosing a graph of ~14k workflows costs ~30 ms: far too much for every repaint. The
rules are local (diagnose.depends_on says what a change can reach) and only unfinished
workflows can change with the clock (diagnose.ticking_ids), so the app re-diagnoses the
changed neighbourhood on a repaint and the unfinished workflows once a second. The
result is always what diagnose() would say for those workflows at that time
(tests/test_diagnose_incremental.py). What the rules read across workflows (which
executors are silent, which versions live, which queues blocked) is kept by a FleetIndex
from the same changed ids; when it differs from the last repaint's, what it can reach
(diagnose.fleet_scope) is re-diagnosed too.
"""

from __future__ import annotations

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

    # -- updating ----------------------------------------------------------------------
    def after_change(
        self,
        graph: WorkflowGraph,
        changed: Iterable[str],
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
    ) -> set[str]:
        """Re-diagnose what changed rows can reach; returns the ids whose diagnoses changed."""
        changed = set(changed)
        self._index.update(graph, changed)
        ids = depends_on(graph, changed)
        if down_executors != self._down:
            # The worker went down or came back: orphaned / stuck read that, and only
            # for unfinished workflows.
            ids.update(ticking_ids(graph))
        return self._redo(graph, ids, now_ms, limbo, down_executors)

    def after_tick(
        self,
        graph: WorkflowGraph,
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
    ) -> set[str]:
        """Time passed: re-diagnose what the clock can change (the unfinished workflows).
        Returns the ids whose diagnoses changed."""
        return self._redo(graph, ticking_ids(graph), now_ms, limbo, down_executors)

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
        return self._redo(graph, every, now_ms, limbo, down_executors)

    def _redo(
        self,
        graph: WorkflowGraph,
        ids: Iterable[str],
        now_ms: int,
        limbo: LimboSettings,
        down_executors: frozenset[str],
    ) -> set[str]:
        fleet = self._index.fleet(graph, now_ms, limbo, down_executors)
        wanted = set(ids) | fleet_scope(graph, self._fleet, fleet)
        if graph.registry != self._registry:
            # The release changes sentences and the grace period of unfinished work.
            wanted.update(ticking_ids(graph))
        self._fleet, self._registry = fleet, graph.registry
        ids = list(wanted)
        self._down = down_executors
        fresh: dict[str, list[Diagnosis]] = {}
        for d in diagnose_ids(graph, ids, now_ms, limbo, down_executors, fleet):
            fresh.setdefault(d.workflow_id, []).append(d)
        changed: set[str] = set()
        for wid in ids:
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
        return changed

    def _count(self, diagnoses: list[Diagnosis], sign: int) -> None:
        severities = {d.severity for d in diagnoses}
        for severity, ids in ((LIMBO, self._limbo), (WARNING, self._warning)):
            if severity in severities:
                if sign > 0:
                    ids.add(diagnoses[0].workflow_id)
                else:
                    ids.discard(diagnoses[0].workflow_id)
        self._dedup_blocked += sign * sum(1 for d in diagnoses if d.kind == DEDUP_BLOCKED)
