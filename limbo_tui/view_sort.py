"""How the tree orders its families (top-level workflows), kept as rows change (pure).

`o` walks SORT_CYCLE: newest first (the graph's own order), then by status (the ones
that need a look first), by age (oldest first) and by recoveries (most first); `O`
reverses whichever is on. Children stay in call order under their parent: that order
is the story of the run.

RootOrder keeps the families sorted as batches arrive: a batch re-keys only the
families it names and moves each into place (a bisection and one list insert), so a
burst of changes never re-sorts everything; a new sort key sorts once.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from limbo_tui import model


class SortKey(Enum):
    NEWEST = "newest first"
    STATUS = "status"
    AGE = "age"
    RECOVERIES = "recoveries"


SORT_CYCLE: tuple[SortKey, ...] = (SortKey.NEWEST, SortKey.STATUS, SortKey.AGE, SortKey.RECOVERIES)

# Status order, the ones that need a look first: dead-lettered, failed, then the work
# in flight, then what ended as asked.
STATUS_RANK: dict[str, int] = {
    model.MAX_RECOVERY_ATTEMPTS_EXCEEDED: 0,
    model.ERROR: 1,
    model.PENDING: 2,
    model.ENQUEUED: 3,
    model.DELAYED: 4,
    model.CANCELLED: 6,
    model.SUCCESS: 7,
}
UNKNOWN_STATUS_RANK = 5  # a status limbo-tui does not know: with the unfinished work

# The direction as the header shows it beside the column's title: ↓ the natural way
# (most needing a look / oldest / most recovered first), ↑ reversed.
DOWN, UP = "↓", "↑"


@dataclass(frozen=True)
class Sort:
    key: SortKey = SortKey.NEWEST
    reverse: bool = False

    def next(self) -> Sort:
        """The next key of the cycle, the natural way round."""
        i = SORT_CYCLE.index(self.key)
        return Sort(SORT_CYCLE[(i + 1) % len(SORT_CYCLE)])

    def reversed(self) -> Sort:
        """The other way round; the default (newest first) turned is oldest first,
        which is the age sort."""
        if self.key is SortKey.NEWEST:
            return Sort(SortKey.AGE, self.reverse)
        return replace(self, reverse=not self.reverse)

    @property
    def arrow(self) -> str:
        return UP if self.reverse else DOWN

    def describe(self) -> str:
        """In words, for a notice: 'sorted by age, oldest first'."""
        natural = {
            SortKey.NEWEST: ("newest first", "oldest first"),
            SortKey.STATUS: ("by status, dead and failed first", "by status, succeeded first"),
            SortKey.AGE: ("by age, oldest first", "by age, newest first"),
            SortKey.RECOVERIES: ("by recoveries, most first", "by recoveries, fewest first"),
        }[self.key]
        return "sorted " + natural[1 if self.reverse else 0]


# A family's place: its sort value, then newest first among equals, then its id.
_Key = tuple[int, int, str]


def sort_value(key: SortKey, wf: model.Workflow) -> int:
    if key is SortKey.STATUS:
        return STATUS_RANK.get(wf.status, UNKNOWN_STATUS_RANK)
    if key is SortKey.AGE:
        return wf.created_at_ms or 0
    if key is SortKey.RECOVERIES:
        attempts = wf.recovery_attempts
        return -(attempts if isinstance(attempts, int) else 0)
    return -(wf.created_at_ms or 0)


class RootOrder:
    """The graph's roots in a Sort's order, kept incrementally."""

    def __init__(self) -> None:
        self._sort_key: SortKey | None = None
        self._key_of: dict[str, _Key] = {}
        self._sorted: list[_Key] = []
        self.resorts = 0  # full sorts so far (a burst must not add any)

    def _key(self, key: SortKey, wf: model.Workflow) -> _Key:
        return (sort_value(key, wf), -(wf.created_at_ms or 0), wf.id)

    def ordered(self, graph: model.WorkflowGraph, sort: Sort, changed: Iterable[str]) -> list[str]:
        """graph.roots() in `sort`'s order; `changed`: the ids whose rows changed since
        the last call (their families move to their new place)."""
        roots = graph.roots()
        if sort.key is SortKey.NEWEST:
            self._sort_key = None  # the graph keeps this order itself
            return list(reversed(roots)) if sort.reverse else roots
        changed = [w for w in changed if w in self._key_of]
        if sort.key is not self._sort_key or len(changed) > len(self._key_of) // 4 + 16:
            # A new key, or a batch that moves a large share (a snapshot): one sort.
            self._sort_key = sort.key
            self._key_of = {
                r: self._key(sort.key, wf) for r in roots if (wf := graph.get(r)) is not None
            }
            self._sorted = sorted(self._key_of.values())
            self.resorts += 1
        else:
            current = set(roots)
            for wid in [w for w in self._key_of if w not in current]:
                self._drop(wid)
            for wid in roots:
                if wid not in self._key_of:
                    self._put(graph, sort.key, wid)
            for wid in changed:
                if wid in current and wid in self._key_of:
                    self._drop(wid)
                    self._put(graph, sort.key, wid)
        ids = [k[2] for k in self._sorted]
        return list(reversed(ids)) if sort.reverse else ids

    def _drop(self, wid: str) -> None:
        old = self._key_of.pop(wid)
        del self._sorted[bisect_left(self._sorted, old)]

    def _put(self, graph: model.WorkflowGraph, key: SortKey, wid: str) -> None:
        wf = graph.get(wid)
        if wf is None:
            return
        new = self._key(key, wf)
        self._key_of[wid] = new
        insort(self._sorted, new)
