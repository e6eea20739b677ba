"""Each queue as the queue view and `snapshot --json` show it (pure, plain data).

Per queue: its settings from dbos.queues (concurrency, worker concurrency, rate limit,
priority, partitions) where DBOS registered them, the PENDING and ENQUEUED work by
executor (and the true totals when the snapshot counted them), the oldest wait, the
deduplication ids held with their holders and ages, and whether it is blocked. Read from
a FleetIndex (per-queue sets kept as rows arrive), so building it costs the size of the
queues' live work, never a scan of the graph.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from limbo_tui import model
from limbo_tui.fleet import BlockedQueue, Fleet, FleetIndex
from limbo_tui.model import WorkflowGraph
from limbo_tui.registry import QueueSettings


@dataclass(frozen=True)
class HeldDedup:
    dedup_id: str
    holder: str
    status: str
    # How long it has held it (since its creation), when known.
    age_ms: int | None


@dataclass(frozen=True)
class QueueView:
    name: str
    settings: QueueSettings | None
    # executor id ("" unknown) -> count, most first.
    pending_by_executor: tuple[tuple[str, int], ...]
    enqueued_by_executor: tuple[tuple[str, int], ...]
    # app version ("" any) -> count: which workers can dequeue the waiting work.
    enqueued_by_version: tuple[tuple[str, int], ...]
    pending: int
    enqueued: int
    # The oldest ENQUEUED workflow's wait so far (since its last update), when known.
    oldest_wait_ms: int | None
    held: tuple[HeldDedup, ...]
    blocked: BlockedQueue | None

    @property
    def limits_text(self) -> str:
        s = self.settings
        if s is None:
            return "not registered"
        parts = []
        if s.concurrency is not None:
            parts.append(f"concurrency {s.concurrency}")
        if s.worker_concurrency is not None:
            parts.append(f"per worker {s.worker_concurrency}")
        if s.rate_limit_max is not None:
            period = s.rate_limit_period_s
            per = f"/{period:g}s" if period else ""
            parts.append(f"rate {s.rate_limit_max}{per}")
        if s.priority_enabled:
            parts.append("priority")
        if s.partitioned:
            parts.append("partitioned")
        return ", ".join(parts) or "no limits"

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "name": self.name,
            "registered": s is not None,
            "concurrency": s.concurrency if s else None,
            "worker_concurrency": s.worker_concurrency if s else None,
            "rate_limit_max": s.rate_limit_max if s else None,
            "rate_limit_period_s": s.rate_limit_period_s if s else None,
            "priority_enabled": s.priority_enabled if s else None,
            "partitioned": s.partitioned if s else None,
            "pending": self.pending,
            "enqueued": self.enqueued,
            "pending_by_executor": dict(self.pending_by_executor),
            "enqueued_by_executor": dict(self.enqueued_by_executor),
            "enqueued_by_version": dict(self.enqueued_by_version),
            "oldest_wait_ms": self.oldest_wait_ms,
            "dedup_held": [
                {"dedup_id": h.dedup_id, "holder": h.holder, "status": h.status, "age_ms": h.age_ms}
                for h in self.held
            ],
            "blocked": self.blocked is not None,
            "blocked_by": list(self.blocked.holders) if self.blocked else [],
        }


def queue_views(
    graph: WorkflowGraph, index: FleetIndex, fleet: Fleet, now_ms: int
) -> list[QueueView]:
    """Every queue that DBOS registered or that loaded live work names, by name."""
    names = index.queue_names() | {q.name for q in graph.registry.queues}
    return [_view(graph, index, fleet, name, now_ms) for name in sorted(names)]


def _view(
    graph: WorkflowGraph, index: FleetIndex, fleet: Fleet, name: str, now_ms: int
) -> QueueView:
    holding = index.holders(name)
    waiting = index.waiting(name)
    pending_by = Counter(graph.workflows[w].executor_id or "" for w in holding)
    enqueued_by = Counter(graph.workflows[w].executor_id or "" for w in waiting)
    by_version = Counter(graph.workflows[w].app_version or "" for w in waiting)
    oldest: int | None = None
    for wid in waiting:
        wf = graph.workflows[wid]
        since = wf.updated_at_ms if wf.updated_at_ms is not None else wf.created_at_ms
        if since is not None:
            wait = max(now_ms - since, 0)
            oldest = wait if oldest is None else max(oldest, wait)
    held: list[HeldDedup] = []
    for wid in holding | waiting:
        wf = graph.workflows[wid]
        if wf.dedup_id and wf.status in model.DEDUP_HOLDING_STATUSES:
            age = now_ms - wf.created_at_ms if wf.created_at_ms is not None else None
            held.append(HeldDedup(wf.dedup_id, wid, wf.status, age))
    held.sort(key=lambda h: (-(h.age_ms or 0), h.dedup_id, h.holder))
    pending, enqueued = len(holding), len(waiting)
    totals = graph.totals
    if totals is not None:
        # The snapshot counted them: a backlog larger than what is loaded shows its size.
        for status, loaded in ((model.PENDING, pending), (model.ENQUEUED, enqueued)):
            group = totals.group(status, name)
            if group is None:
                continue
            if group.count > loaded:
                if status == model.PENDING:
                    pending = group.count
                else:
                    enqueued = group.count
            if status == model.ENQUEUED and group.oldest_ms is not None:
                counted = max(now_ms - group.oldest_ms, 0)
                oldest = counted if oldest is None else max(oldest, counted)
    return QueueView(
        name=name,
        settings=graph.registry.queue(name),
        pending_by_executor=tuple(pending_by.most_common()),
        enqueued_by_executor=tuple(enqueued_by.most_common()),
        enqueued_by_version=tuple(by_version.most_common()),
        pending=pending,
        enqueued=enqueued,
        oldest_wait_ms=oldest,
        held=tuple(held),
        blocked=fleet.blocked_queues.get(name),
    )
