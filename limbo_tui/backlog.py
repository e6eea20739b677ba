"""The true size of what is in the database, beside what is loaded: one owner for how the
header, `snapshot` and `snapshot --json` state totals (pure: reads a WorkflowGraph).

A backlog larger than a snapshot loads (pg/queries.MAX_LIVE rows per status) is never cut
silently: its group says how many there are, how many are loaded, and the oldest and
newest creation time. In the tree a queue's large ENQUEUED backlog is one summarized line
(group_roots), opened a page at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from limbo_tui.model import (
    ENQUEUED,
    LIVE_STATUSES,
    ChildrenTotal,
    GroupTotal,
    Row,
    Totals,
    Workflow,
    WorkflowGraph,
)

Iso = Callable[[int | None], str | None]


def group_json(graph: WorkflowGraph, group: GroupTotal, iso: Iso) -> dict[str, Any]:
    return {
        "status": group.status,
        "queue": group.queue,
        "count": group.count,
        "loaded": graph.loaded_in(group),
        "oldest_created_at": iso(group.oldest_ms),
        "newest_created_at": iso(group.newest_ms),
    }


def totals_json(graph: WorkflowGraph, iso: Iso) -> dict[str, Any] | None:
    """`totals` of snapshot --json (times written by `iso`, the JSON's one format); None
    when the database was not counted."""
    totals = graph.totals
    if totals is None:
        return None
    return {
        # False for a moment after a row could not be placed (see model.Totals).
        "exact": totals.exact,
        "workflows": totals.workflows,
        "loaded": len(graph.workflows),
        "unfinished": {s: totals.unfinished(s) for s in LIVE_STATUSES},
        "groups": [group_json(graph, g, iso) for g in totals.groups],
        # Parents loaded by their first children: their children as counted.
        "families": [
            {
                "parent_id": f.parent_id,
                "children": f.count,
                "loaded": sum(1 for c in graph.children(f.parent_id) if c in graph.workflows),
                "by_status": dict(f.by_status),
                "oldest_created_at": iso(f.oldest_ms),
                "newest_created_at": iso(f.newest_ms),
            }
            for f in totals.families
        ],
    }


def partial_groups(graph: WorkflowGraph) -> list[GroupTotal]:
    """The groups with more workflows in the database than in the graph."""
    totals = graph.totals
    if totals is None:
        return []
    return [g for g in totals.groups if graph.loaded_in(g) < g.count]


def totals_line(graph: WorkflowGraph) -> str:
    """E.g. `1,000,000 workflows: 500,000 ENQUEUED (20,000 loaded), 12 PENDING`."""
    totals = graph.totals
    if totals is None:
        return f"{len(graph.workflows):,} workflows loaded"
    parts = []
    for status in LIVE_STATUSES:
        count = totals.unfinished(status)
        if not count:
            continue
        loaded = graph.loaded(status)
        shown = f" ({loaded:,} loaded)" if loaded < count else ""
        parts.append(f"{count:,} {status}{shown}")
    about = "" if totals.exact else "≈"
    line = f"{about}{totals.workflows:,} workflows"
    return f"{line}: {', '.join(parts)}" if parts else line


def needs_recount(
    graph_totals_counted_at_ms: int | None,
    arrived: Iterable[Workflow],
    removed_unknown: int,
    known: Container[str],
) -> bool:
    """Whether a batch holds a row the graph cannot place in the totals by itself: a
    workflow never loaded that existed at the count (created before it), or a deletion of
    one. Then the feed counts again (at most once a second); otherwise the graph's own
    bookkeeping stays exact."""
    if removed_unknown:
        return True
    for wf in arrived:
        if wf.id in known:
            continue
        created = wf.created_at_ms
        if graph_totals_counted_at_ms is None or created is None:
            return True
        if created <= graph_totals_counted_at_ms:
            return True
    return False


# A queue with this many ENQUEUED roots (loaded, or counted in the database) folds them
# into one summarized line; opened, it shows them a page at a time (newest first).
GROUP_MIN = 200
PAGE = 100
# The rows of a summarized backlog a snapshot loads (its first pages); the next pages are
# fetched from the database when the user reaches them (pg/queries.backlog_page).
FIRST_LOADED = 2 * PAGE
# The rest of the live work (paged_live) the TUI's snapshot loads, newest first, with
# their families: a few screens of the tree. The older live families are counted in the
# header and read a page (PAGE rows) at a time from the tree's last line
# (pg/queries.live_page), so that the first paint of a database with thousands of live
# families does not wait for all of them.
LIVE_FIRST = 2 * PAGE


def summarized_queues(totals: Totals) -> frozenset[str | None]:
    """The queues whose ENQUEUED backlog a snapshot loads by its first pages only."""
    return frozenset(
        g.queue for g in totals.groups if g.status == ENQUEUED and g.count >= GROUP_MIN
    )


def paged_live(wf: Workflow, summarized: Container[str | None]) -> bool:
    """Live work outside the summarized backlogs: what live_first / live_page count."""
    if wf.status == ENQUEUED:
        return wf.queue not in summarized
    return wf.status in LIVE_STATUSES


def live_page_end(
    rows: Iterable[Row],
    summarized: Container[str | None],
    n: int,
    older_than: tuple[int, str] | None = None,
) -> tuple[int, str] | None:
    """Where the next page of live families starts, after a read of the newest `n` rows of
    paged_live (older than `older_than`) and their families: the (created_at, id) of the
    n-th newest such row read. The families may bring older paged_live rows too, never
    newer ones than the n-th (those were read), so it is the last row the read asked for.
    None: fewer than `n` (nothing older is left), or that row has no creation time."""
    live = [r for r in rows if isinstance(r, Workflow) and paged_live(r, summarized)]
    keys = sorted(
        (
            (r.created_at_ms, r.id)
            for r in live
            if r.created_at_ms is not None
            and (older_than is None or (r.created_at_ms, r.id) < older_than)
        ),
        reverse=True,
    )
    missing = 0 if older_than is not None else sum(1 for r in live if r.created_at_ms is None)
    # Rows without a creation time come first in a descending read (NULLS FIRST).
    at = n - 1 - missing
    if n <= 0 or at < 0 or len(keys) <= at:
        return None
    created, wid = keys[at]
    assert created is not None
    return created, wid


def children_page_end(
    rows: Iterable[Row], parent_id: str, n: int, after: tuple[int, str] | None = None
) -> tuple[int, str] | None:
    """Where the next page of a parent's children starts, after a read of its first `n`
    children (after `after`), oldest first: the (created_at, id) of the n-th such child
    read (the read brings every child before it; others only after). None: fewer."""
    keys = sorted(
        (r.created_at_ms, r.id)
        for r in rows
        if isinstance(r, Workflow)
        and r.parent_id == parent_id
        and r.created_at_ms is not None
        and (after is None or (r.created_at_ms, r.id) > after)
    )
    if n <= 0 or len(keys) < n:
        return None
    created, wid = keys[n - 1]
    assert created is not None
    return created, wid


def children_not_loaded(graph: WorkflowGraph, parent_id: str) -> ChildrenTotal | None:
    """The parent's children as counted, when the database holds more than are loaded."""
    totals = graph.totals
    counted = totals.children(parent_id) if totals is not None else None
    if counted is None:
        return None
    loaded = sum(1 for c in graph.children(parent_id) if c in graph.workflows)
    return counted if counted.count > loaded else None


def live_not_loaded(graph: WorkflowGraph) -> int:
    """The live workflows outside the summarized backlogs the database holds and the
    graph does not (older live families a page at a time; 0 without totals)."""
    totals = graph.totals
    if totals is None:
        return 0
    summarized = summarized_queues(totals)
    return sum(
        max(0, g.count - graph.loaded_in(g))
        for g in totals.groups
        if g.status != ENQUEUED or g.queue not in summarized
    )


@dataclass(frozen=True)
class RootGroup:
    """A queue's ENQUEUED backlog as one line of the tree: its loaded members (newest
    first) and, from the totals, how many the database holds."""

    status: str
    queue: str
    members: tuple[str, ...]
    total: GroupTotal | None

    @property
    def not_loaded(self) -> int:
        """How many of the group's workflows only the database holds."""
        return max(0, self.total.count - len(self.members)) if self.total is not None else 0


def older_than(graph: WorkflowGraph, group: RootGroup) -> tuple[int, str] | None:
    """Where the next page of a group starts in the database: (created_at, id) of its
    oldest loaded member, in the order snapshots and pages load them (newest first,
    ties by id, descending); None when no member has a creation time."""
    keys = [
        (wf.created_at_ms, wf.id)
        for wf in (graph.workflows.get(wid) for wid in group.members)
        if wf is not None and wf.created_at_ms is not None
    ]
    return min(keys) if keys else None


def group_roots(
    graph: WorkflowGraph,
    roots: Sequence[str],
    keep_apart: Container[str],
    *,
    filtered: bool = False,
) -> list[str | RootGroup]:
    """The tree's top level: `roots` in their order, where the ENQUEUED roots of a queue
    that has at least GROUP_MIN of them, loaded or (unless a filter chose `roots`) counted
    in the database, become one RootGroup at the place of its newest member: a backlog
    loaded by its first pages stays one line while its loaded rows are dequeued. A root
    with children or in limbo (`keep_apart`) keeps its own line: folding must never hide
    what needs a look (the group's line counts its warnings)."""
    by_queue: dict[str, list[str]] = {}
    for wid in roots:
        wf = graph.workflows.get(wid)
        if (
            wf is not None
            and wf.status == ENQUEUED
            and wf.queue is not None
            and wid not in keep_apart
            and not graph.children(wid)
        ):
            by_queue.setdefault(wf.queue, []).append(wid)
    totals = graph.totals
    counted = frozenset() if filtered or totals is None else summarized_queues(totals)

    def folds(queue: str, ids: list[str]) -> bool:
        return len(ids) >= GROUP_MIN or queue in counted

    big = {q: ids for q, ids in by_queue.items() if folds(q, ids)}
    if not big:
        return list(roots)
    queue_of = {wid: q for q, ids in big.items() for wid in ids}
    out: list[str | RootGroup] = []
    for wid in roots:
        queue = queue_of.get(wid)
        if queue is None:
            out.append(wid)
        elif big[queue][0] == wid:
            total = totals.group(ENQUEUED, queue) if totals is not None else None
            out.append(RootGroup(ENQUEUED, queue, tuple(big[queue]), total))
    return out
