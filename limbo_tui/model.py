"""What limbo-tui knows about workflows: plain data, no I/O.

Rows come in from the database (pg/queries.py builds them) and are applied to a
WorkflowGraph, which keeps the parent/child tree, the steps of each workflow and their
counters. diagnose.py reads the graph; the UI and the scripting commands render it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from limbo_tui.registry import Registry

# The one list of DBOS workflow statuses. Unknown strings from the database are kept as
# they are and treated as "not finished" so that nothing is silently hidden.
PENDING = "PENDING"
ENQUEUED = "ENQUEUED"
DELAYED = "DELAYED"
SUCCESS = "SUCCESS"
ERROR = "ERROR"
CANCELLED = "CANCELLED"
MAX_RECOVERY_ATTEMPTS_EXCEEDED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"

STATUSES: tuple[str, ...] = (
    PENDING,
    ENQUEUED,
    DELAYED,
    SUCCESS,
    ERROR,
    CANCELLED,
    MAX_RECOVERY_ATTEMPTS_EXCEEDED,
)
# The status groups: every module asks these (and is_finished) rather than listing
# statuses of its own.
# Unfinished work, in the order totals name it (the snapshot loads all of these).
LIVE_STATUSES: tuple[str, ...] = (PENDING, ENQUEUED, DELAYED)
FINISHED_STATUSES: frozenset[str] = frozenset(STATUSES) - frozenset(LIVE_STATUSES)
# A child in one of these states will never answer its parent.
DEAD_STATUSES: frozenset[str] = frozenset({ERROR, CANCELLED, MAX_RECOVERY_ATTEMPTS_EXCEEDED})
# DBOS keeps a workflow's deduplication id reserved while it is in one of these states.
DEDUP_HOLDING_STATUSES: frozenset[str] = frozenset({PENDING, ENQUEUED, DELAYED})
# Not dequeued yet: such a row names the version it asks for, not one an executor ran.
QUEUED_STATUSES: frozenset[str] = frozenset({ENQUEUED, DELAYED})
# Work an executor should be moving now: running or recovering it (PENDING), dequeuing
# it (ENQUEUED); a DELAYED one waits for its own time first. Only these can be late.
NEEDS_EXECUTOR_STATUSES: frozenset[str] = frozenset({PENDING, ENQUEUED})
# Completed with an output or an error: DBOS neither cancels nor resumes these (it does
# resume CANCELLED and MAX_RECOVERY_ATTEMPTS_EXCEEDED ones); fork makes a new workflow.
COMPLETED_STATUSES: frozenset[str] = frozenset({SUCCESS, ERROR})

# DBOS writes this step row when a parent waits for a child's result.
GET_RESULT_STEP = "DBOS.getResult"
# Rows DBOS writes for its own waits (waits.py reads them): bookkeeping, not steps.
SLEEP_STEP = "DBOS.sleep"
RECV_STEP = "DBOS.recv"
GET_EVENT_STEP = "DBOS.getEvent"
WAIT_STEPS: frozenset[str] = frozenset({SLEEP_STEP, RECV_STEP, GET_EVENT_STEP})


def _follow_children(
    totals: Totals, old: Workflow | None, new: Workflow | None, exact: bool
) -> tuple[tuple[ChildrenTotal, ...], bool]:
    """Totals.families after one row changed (old -> new; None: absent), and whether they
    are still exact: a child never loaded that existed at the count changed, or a row
    never loaded went, and which status it left cannot be told (the next count says)."""
    if not totals.families:
        return totals.families, exact
    by_parent = {f.parent_id: f for f in totals.families}
    if old is None and (new is None or not _created_after(new, totals.counted_at_ms)):
        if new is None or new.parent_id in by_parent:
            return totals.families, False
        return totals.families, exact
    for row, step in ((old, -1), (new, 1)):
        if row is None or row.parent_id not in by_parent:
            continue
        f = by_parent[row.parent_id]
        statuses = dict(f.by_status)
        statuses[row.status] = statuses.get(row.status, 0) + step
        oldest, newest = f.oldest_ms, f.newest_ms
        created = row.created_at_ms
        if step > 0 and created is not None:
            oldest = created if oldest is None else min(oldest, created)
            newest = created if newest is None else max(newest, created)
        by_parent[f.parent_id] = ChildrenTotal(
            f.parent_id,
            f.count + step,
            tuple(sorted((s, n) for s, n in statuses.items() if n > 0)),
            oldest,
            newest,
        )
    return tuple(by_parent.values()), exact


def _created_after(wf: Workflow, ms: int | None) -> bool:
    return ms is not None and wf.created_at_ms is not None and wf.created_at_ms > ms


def short_id(workflow_id: str, parent_id: str | None = None, *, under_parent: bool = False) -> str:
    """The one short form of an id: a uuid's first 8 characters (ids of up to 12 are kept
    whole). DBOS names a child `<parent id>-<n>`: its short form keeps the `-<n>`, after
    the parent's short id, or after "…" where it is shown under its parent (the tree)."""
    if parent_id and workflow_id.startswith(parent_id) and len(workflow_id) > len(parent_id):
        tail = workflow_id[len(parent_id) :][:12]
        return ("…" if under_parent else short_id(parent_id)) + tail
    return workflow_id if len(workflow_id) <= 12 else workflow_id[:8]


def is_finished(status: str | None) -> bool:
    return status in FINISHED_STATUSES


@dataclass(frozen=True)
class Step:
    """One row of operation_outputs: a completed step, or a child call / wait."""

    workflow_id: str
    function_id: int
    name: str
    child_workflow_id: str | None = None
    # True when the step recorded an error (its final attempt failed).
    failed: bool = False
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    # Raw stored text of the output / error and its serialization; decoded only for display
    # by stored_values.py.
    output: str | None = None
    error: str | None = None
    serialization: str | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.started_at_ms is None or self.completed_at_ms is None:
            return None
        return self.completed_at_ms - self.started_at_ms

    @property
    def is_child_call(self) -> bool:
        return bool(self.child_workflow_id) and self.name != GET_RESULT_STEP

    @property
    def is_get_result(self) -> bool:
        return self.name == GET_RESULT_STEP


@dataclass(frozen=True)
class Workflow:
    """One row of workflow_status, as limbo-tui reads it (timestamps in epoch ms)."""

    id: str
    status: str
    name: str = ""
    class_name: str | None = None
    parent_id: str | None = None
    queue: str | None = None
    dedup_id: str | None = None
    executor_id: str | None = None
    app_version: str | None = None
    recovery_attempts: int = 0
    created_at_ms: int | None = None
    updated_at_ms: int | None = None
    forked_from: str | None = None
    priority: int | None = None
    timeout_ms: int | None = None
    deadline_ms: int | None = None
    # Raw stored inputs / output / error (3.x keeps them in side tables; readers coalesce).
    inputs: str | None = None
    output: str | None = None
    error: str | None = None
    serialization: str | None = None
    # Not in the database (DBOS stores none); a row that carries one (a test, a replay)
    # wins over WorkflowGraph.registered and [limits].
    max_recovery_attempts: int | None = None

    @property
    def finished(self) -> bool:
        return is_finished(self.status)


@dataclass(frozen=True)
class WorkflowRemoved:
    """A workflow_status row was deleted."""

    id: str


@dataclass(frozen=True)
class StepRemoved:
    """An operation_outputs row was deleted (fork or delete_workflow)."""

    workflow_id: str
    function_id: int


@dataclass(frozen=True)
class GroupTotal:
    """The unfinished workflows of one status on one queue (None: not queued) as counted
    in the database: a backlog's true size, however few of its rows are loaded."""

    status: str
    queue: str | None
    count: int
    oldest_ms: int | None = None
    newest_ms: int | None = None


@dataclass(frozen=True)
class ChildrenTotal:
    """The children of one parent as counted in the database (parent_workflow_id), for a
    parent a snapshot loads by its first children only: how many, by status (sorted by
    status), and the oldest and newest creation time."""

    parent_id: str
    count: int
    by_status: tuple[tuple[str, int], ...] = ()
    oldest_ms: int | None = None
    newest_ms: int | None = None


# Where a workflow's max_recovery_attempts is known from (WorkflowGraph.known_max).
MaxSource = Literal["row", "worker", "config"]
MAX_FROM_ROW: MaxSource = "row"
MAX_FROM_WORKER: MaxSource = "worker"
MAX_FROM_CONFIG: MaxSource = "config"


@dataclass(frozen=True)
class RegisteredMax:
    """The max_recovery_attempts a workflow was dispatched with: what the function was
    registered with in the worker (executor_id) that dispatched it, seen at the dispatch
    that made recovery_attempts this count."""

    max_recovery_attempts: int
    recovery_attempts: int
    executor_id: str


@dataclass(frozen=True)
class Totals:
    """True counts, read in one transaction: every workflow_status row, and the unfinished
    ones by status and queue. The graph holds only part of a large backlog; these say
    how large it is. Between two counts the graph keeps them up to date from the rows it
    is given (WorkflowGraph._follow_totals); `exact` turns False when a row could not be
    placed (a workflow never loaded changed while a group was only partly loaded) until
    the next count."""

    workflows: int
    groups: tuple[GroupTotal, ...] = ()
    # The database's clock when counted (epoch ms): a workflow created later is new.
    counted_at_ms: int | None = None
    exact: bool = True
    # The parents loaded by their first children only, their children counted.
    families: tuple[ChildrenTotal, ...] = ()

    def unfinished(self, status: str | None = None) -> int:
        return sum(g.count for g in self.groups if status is None or g.status == status)

    def group(self, status: str, queue: str | None) -> GroupTotal | None:
        for g in self.groups:
            if g.status == status and g.queue == queue:
                return g
        return None

    def children(self, parent_id: str) -> ChildrenTotal | None:
        for f in self.families:
            if f.parent_id == parent_id:
                return f
        return None


# A Totals or a Registry row (queues, application versions, the DBOS release) replaces
# the graph's.
Row = Workflow | Step | WorkflowRemoved | StepRemoved | Totals | Registry


@dataclass
class StepCounts:
    """Counters derived from a workflow's steps (computed on demand by the graph)."""

    steps_completed: int = 0
    steps_failed: int = 0


# Sort key of a child inside its parent's list: children the parent called come first,
# in call order (function id); children known only from their parent_workflow_id follow,
# by creation time. The child id breaks ties so the order never depends on arrival.
_ChildKey = tuple[int, float]
_UNKNOWN_TIME = float("inf")
# Sort key of a root, ascending: roots() lists them newest first.
_RootKey = tuple[int, str]


@dataclass
class WorkflowGraph:
    """The live picture: workflows by id, their steps and the parent/child tree.

    apply() is the only way in; it returns the ids whose line on screen may have changed
    (the workflow itself, its old and new parent when it moved, and its parent when its
    status changed, since the parent's limbo marking depends on it).

    Rows are upserts and every derived structure (links, child order) is recomputed from
    the rows currently held, never from their history: applying any interleaving of rows
    gives the same graph as replace_all() of the final state. Equality (==) compares
    that state.
    """

    workflows: dict[str, Workflow] = field(default_factory=dict)
    # workflow id -> function id -> step; a workflow without steps has no entry.
    steps: dict[str, dict[int, Step]] = field(default_factory=dict)
    # Known max_recovery_attempts by workflow name: the user's config [limits].
    limits: dict[str, int] = field(default_factory=dict)
    # The max_recovery_attempts each workflow was dispatched with, as limbo-tui's own
    # worker registered its function then (DBOS stores none). A memory of what was seen,
    # not row state, so never compared: see worker_registered().
    registered: dict[str, RegisteredMax] = field(default_factory=dict, compare=False, repr=False)
    # The running worker: its executor id and {workflow name: max} as it registered them.
    _worker: tuple[str, dict[str, int]] | None = field(default=None, compare=False, repr=False)
    # Learned since take_learned() last looked (to be remembered beyond this session).
    _learned: dict[str, RegisteredMax] = field(default_factory=dict, compare=False, repr=False)
    # What the database says about its release, queues and versions (the snapshot's).
    registry: Registry = field(default_factory=Registry)
    # child id -> parent id -> function ids of the parent's call steps naming the child.
    _calls: dict[str, dict[str, set[int]]] = field(default_factory=dict)
    _parent_of: dict[str, str] = field(default_factory=dict)
    # parent id -> child id -> sort key; a parent without children has no entry.
    _kids: dict[str, dict[str, _ChildKey]] = field(default_factory=dict)
    # Sorted child lists, rebuilt lazily: a snapshot of a parent with thousands of
    # children must not re-sort on every row.
    _sorted: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)
    # The roots, kept up to date as rows arrive (a live tree asks for them on every
    # repaint): root id -> its key, the keys in ascending order, and the ids whose root
    # status may have changed since roots() last looked. All derived, never compared.
    _roots: dict[str, _RootKey] = field(default_factory=dict, compare=False, repr=False)
    _root_order: list[_RootKey] = field(default_factory=list, compare=False, repr=False)
    _roots_unsure: set[str] = field(default_factory=set, compare=False, repr=False)
    # The database's true counts, as last read (None until a snapshot brings them), and
    # how many loaded workflows each (status, queue) has (kept as rows arrive).
    totals: Totals | None = field(default=None, compare=False, repr=False)
    _loaded_by_group: dict[tuple[str, str | None], int] = field(
        default_factory=dict, compare=False, repr=False
    )

    # -- reading ---------------------------------------------------------------------
    def get(self, workflow_id: str) -> Workflow | None:
        return self.workflows.get(workflow_id)

    def parent_of(self, workflow_id: str) -> str | None:
        return self._parent_of.get(workflow_id)

    def known_ids(self) -> set[str]:
        """Every id the graph knows: its rows and the children named, loaded or not."""
        return self.workflows.keys() | self._parent_of.keys()

    def children(self, workflow_id: str) -> list[str]:
        """Child ids in call order; ids may not be loaded (no row in `workflows`)."""
        cached = self._sorted.get(workflow_id)
        if cached is None:
            kids = self._kids.get(workflow_id)
            if not kids:
                return []
            cached = sorted(kids, key=lambda c: (kids[c], c))
            self._sorted[workflow_id] = cached
        return list(cached)

    def root_of(self, workflow_id: str) -> str:
        """The top of workflow_id's tree, walking up through loaded parents only.

        Parent links can form a cycle in corrupt or hand-edited data; the cycle is then
        entered at its smallest id, the same one roots() lists.
        """
        path: list[str] = [workflow_id]
        on_path = {workflow_id}
        node = workflow_id
        while (parent := self._parent_of.get(node)) is not None and parent in self.workflows:
            if parent in on_path:
                return min(path[path.index(parent) :])
            path.append(parent)
            on_path.add(parent)
            node = parent
        return node

    def roots(self) -> list[str]:
        """Tops of the loaded trees, most recently created first.

        A workflow whose parent is not loaded is a root; so is one id of each parent-link
        cycle, so that no loaded workflow ever disappears from the tree.
        """
        unsure, self._roots_unsure = self._roots_unsure, set()
        if len(unsure) > len(self._roots) // 4 + 16:
            # A snapshot (or a large share of the graph) changed: one sort beats inserts.
            self._roots = {w: self._root_key(w) for w in self.workflows if self.root_of(w) == w}
            self._root_order = sorted(self._roots.values())
        else:
            for wid in unsure:
                old = self._roots.pop(wid, None)
                if old is not None:
                    del self._root_order[bisect_left(self._root_order, old)]
                if wid in self.workflows and self.root_of(wid) == wid:
                    key = self._root_key(wid)
                    self._roots[wid] = key
                    insort(self._root_order, key)
        return [wid for _, wid in reversed(self._root_order)]

    def _root_key(self, wid: str) -> _RootKey:
        return (self.workflows[wid].created_at_ms or 0, wid)

    def _doubt_roots_around(self, wid: str) -> None:
        """wid's row came or went, or its link moved: the root status of wid, of its
        children (their parent's loaded state) and of a parent-link cycle through wid
        (whose smallest loaded id is its root) may have changed. Called before and after
        the change, so that a cycle being made or broken is seen both ways."""
        unsure = self._roots_unsure
        unsure.add(wid)
        unsure.update(self._kids.get(wid, ()))
        seen = {wid}
        node = self._parent_of.get(wid)
        while node is not None and node not in seen:
            seen.add(node)
            node = self._parent_of.get(node)
        if node == wid:  # wid is on a cycle: every member may change
            unsure.update(seen)

    def steps_of(self, workflow_id: str) -> list[Step]:
        return [s for _, s in sorted(self.steps.get(workflow_id, {}).items())]

    def step_counts(self, workflow_id: str) -> StepCounts:
        fam = StepCounts()
        for step in self.steps.get(workflow_id, {}).values():
            if step.is_get_result or step.is_child_call or step.name in WAIT_STEPS:
                continue
            if step.failed:
                fam.steps_failed += 1
            else:
                fam.steps_completed += 1
        return fam

    def max_recovery_attempts(self, workflow_id: str) -> int | None:
        return self.known_max(workflow_id)[0]

    def known_max(self, workflow_id: str) -> tuple[int | None, MaxSource | None]:
        """The workflow's max_recovery_attempts and where it is known from: the row, what
        the worker that dispatched it registered, or the user's [limits]; (None, None)."""
        wf = self.workflows.get(workflow_id)
        if wf is None:
            return None, None
        if wf.max_recovery_attempts is not None:
            return wf.max_recovery_attempts, MAX_FROM_ROW
        seen = self.registered.get(workflow_id)
        if seen is not None:
            return seen.max_recovery_attempts, MAX_FROM_WORKER
        if wf.name in self.limits:
            return self.limits[wf.name], MAX_FROM_CONFIG
        return None, None

    def family(self, workflow_id: str) -> list[str]:
        """The root of workflow_id's tree and every descendant, depth first (each once)."""
        out: list[str] = []
        stack = [self.root_of(workflow_id)]
        visited: set[str] = set()
        while stack:
            wid = stack.pop()
            if wid in visited:
                continue
            visited.add(wid)
            out.append(wid)
            stack.extend(reversed(self.children(wid)))
        return out

    def unanswered_children(self, workflow_id: str) -> list[str]:
        """Children whose outcome workflow_id has not recorded, in call order.

        A child call writes a step row naming the child; waiting on it writes a later
        `DBOS.getResult` row naming it again. A child linked only by its
        parent_workflow_id counts as answered once any getResult row names it.
        """
        first_call: dict[str, int] = {}
        results: dict[str, int] = {}
        for fid, step in self.steps.get(workflow_id, {}).items():
            child = step.child_workflow_id
            if not child:
                continue
            if step.is_get_result:
                results[child] = max(results.get(child, fid), fid)
            elif fid < first_call.get(child, fid + 1):
                first_call[child] = fid
        out: list[str] = []
        for child in self.children(workflow_id):
            answered_at = results.get(child)
            call = first_call.get(child)
            if answered_at is None or (call is not None and answered_at < call):
                out.append(child)
        return out

    def last_progress_ms(self, workflow_id: str) -> int | None:
        """The newest sign of life: the row's update time or a step's completion."""
        wf = self.workflows.get(workflow_id)
        times: list[int] = []
        if wf is not None:
            times += [t for t in (wf.updated_at_ms, wf.created_at_ms) if t is not None]
        for step in self.steps.get(workflow_id, {}).values():
            times += [t for t in (step.completed_at_ms, step.started_at_ms) if t is not None]
        return max(times, default=None)

    # -- writing ---------------------------------------------------------------------
    def apply(self, rows: Iterable[Row]) -> set[str]:
        return self._apply(rows, live=True)

    def _apply(self, rows: Iterable[Row], live: bool) -> set[str]:
        changed: set[str] = set()
        for row in rows:
            if isinstance(row, Workflow):
                changed |= self._put_workflow(row) | self._learn(row, live)
            elif isinstance(row, Step):
                changed |= self._put_step(row)
            elif isinstance(row, WorkflowRemoved):
                changed |= self._remove_workflow(row.id)
            elif isinstance(row, StepRemoved):
                changed |= self._remove_step(row.workflow_id, row.function_id)
            elif isinstance(row, Totals):
                # A parent whose children were counted anew reads otherwise (its line
                # and its "more" line), though none of its rows came.
                before = {f.parent_id: f for f in self.totals.families} if self.totals else {}
                now = {f.parent_id: f for f in row.families}
                changed |= {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
                self.totals = row
            elif isinstance(row, Registry):
                # No line changes with it; the rules compare what they read of it.
                self.registry = row
        return changed

    def add_counted(self, rows: Iterable[Row]) -> set[str]:
        """Rows read on demand that the totals counted already (a page of a backlog): the
        workflows not in the graph yet, with their steps, the totals untouched. A row the
        graph holds came from the feed, which is never older than the page."""
        fresh = {r.id for r in rows if isinstance(r, Workflow) and r.id not in self.workflows}
        taken = [
            r
            for r in rows
            if (isinstance(r, Workflow) and r.id in fresh)
            or (isinstance(r, Step) and r.workflow_id in fresh)
        ]
        totals, self.totals = self.totals, None
        try:
            return self._apply(taken, live=False)
        finally:
            self.totals = totals

    def replace_all(self, rows: Iterable[Row]) -> set[str]:
        """Swap in a fresh snapshot; returns every id that was or is in the graph."""
        before = set(self.workflows) | set(self._parent_of) | set(self._kids)
        self.workflows.clear()
        self.registry = Registry()
        self.steps.clear()
        self._calls.clear()
        self._parent_of.clear()
        self._kids.clear()
        self._sorted.clear()
        self._roots.clear()
        self._root_order.clear()
        self._roots_unsure.clear()
        self._loaded_by_group.clear()
        self.totals = None
        changed = self._apply(rows, live=False)
        return before | changed | set(self.workflows)

    def with_limits(self, limits: Mapping[str, int]) -> WorkflowGraph:
        self.limits = dict(limits)
        return self

    def remember(self, registered: Mapping[str, RegisteredMax]) -> None:
        """What earlier sessions saw (the lab database keeps it); never overrides what
        this one saw since."""
        for wid, seen in registered.items():
            self.registered.setdefault(wid, seen)

    def worker_registered(self, executor_id: str | None, limits: Mapping[str, int]) -> set[str]:
        """limbo-tui's worker runs as executor_id with these registrations (None: no
        worker of ours runs). From now on each workflow seen dispatched by it keeps the
        max it was dispatched with; returns the ids whose max changed."""
        self._worker = (executor_id, dict(limits)) if executor_id else None
        return {wid for wf in list(self.workflows.values()) for wid in self._learn(wf, True)}

    def take_learned(self) -> dict[str, RegisteredMax]:
        """The maxima learned since the last call (for the lab database to keep)."""
        learned, self._learned = self._learned, {}
        return learned

    def _learn(self, wf: Workflow, live: bool) -> set[str]:
        """Record the max of a workflow our worker dispatches: one it runs (PENDING), or,
        in a live batch, one it just finished. A dispatch is told by recovery_attempts: a
        record stands until the count moves (a PENDING row left by an earlier run keeps
        the max it ran with until this worker recovers it)."""
        if self._worker is None or wf.executor_id != self._worker[0]:
            return set()
        maximum = self._worker[1].get(wf.name)
        if maximum is None:
            return set()
        old = self.registered.get(wf.id)
        if not (wf.status == PENDING or (live and wf.finished)) or wf.recovery_attempts < 1:
            return set()
        if old is not None and old.recovery_attempts == wf.recovery_attempts:
            return set()
        seen = RegisteredMax(maximum, wf.recovery_attempts, self._worker[0])
        self.registered[wf.id] = self._learned[wf.id] = seen
        return {wf.id} if old is None or old.max_recovery_attempts != maximum else set()

    def loaded(self, status: str) -> int:
        """How many loaded workflows have this status, on any queue."""
        return sum(n for (s, _q), n in self._loaded_by_group.items() if s == status)

    def loaded_in(self, group: GroupTotal) -> int:
        """How many of a group's workflows are loaded."""
        return self._loaded_by_group.get((group.status, group.queue), 0)

    def _count(self, wf: Workflow, delta: int) -> None:
        key = (wf.status, wf.queue)
        n = self._loaded_by_group.get(key, 0) + delta
        if n:
            self._loaded_by_group[key] = n
        else:
            self._loaded_by_group.pop(key, None)

    def _follow_totals(self, old: Workflow | None, new: Workflow | None, wid: str) -> None:
        """Keep the counted totals true as one row changes (old -> new; None: absent)."""
        totals = self.totals
        assert totals is not None
        workflows, exact = totals.workflows, totals.exact
        groups = {(g.status, g.queue): g for g in totals.groups}
        families, exact = _follow_children(totals, old, new, exact)
        moves: list[tuple[Workflow, int]] = []
        if old is not None:
            # A loaded row changed or went.
            moves.append((old, -1))
            if new is None:
                workflows -= 1
        elif new is not None and _created_after(new, totals.counted_at_ms):
            workflows += 1
        elif any(self.loaded_in(g) < g.count for g in totals.groups):
            # A row never loaded: finished, or one of a partly loaded group's rows. Which
            # one cannot be told from here; the next count says.
            exact = False
            if new is None:
                workflows -= 1
            new = None
        elif new is None:
            # Every unfinished row was loaded, so a row never loaded was finished.
            workflows -= 1
        if new is not None:
            moves.append((new, 1))
        for row, step in moves:
            if row.status not in LIVE_STATUSES:
                continue
            key = (row.status, row.queue)
            g = groups.get(key) or GroupTotal(row.status, row.queue, 0)
            oldest, newest = g.oldest_ms, g.newest_ms
            created = row.created_at_ms
            if step > 0 and created is not None:
                oldest = created if oldest is None else min(oldest, created)
                newest = created if newest is None else max(newest, created)
            g = GroupTotal(g.status, g.queue, g.count + step, oldest, newest)
            if g.count > 0:
                groups[key] = g
            else:
                groups.pop(key, None)
        self.totals = Totals(
            workflows=max(workflows, 0),
            groups=tuple(sorted(groups.values(), key=lambda g: (g.status, g.queue or ""))),
            counted_at_ms=totals.counted_at_ms,
            exact=exact,
            families=families,
        )

    def _put_workflow(self, wf: Workflow) -> set[str]:
        old = self.workflows.get(wf.id)
        self.workflows[wf.id] = wf
        if self.totals is not None:
            self._follow_totals(old, wf, wf.id)
        if old is not None:
            self._count(old, -1)
        self._count(wf, 1)
        if old is None or old.created_at_ms != wf.created_at_ms:
            # Loaded now (or its place among the roots moved).
            self._doubt_roots_around(wf.id)
        changed = {wf.id} | self._relink(wf.id)
        if old is None or old.status != wf.status:
            parent = self._parent_of.get(wf.id)
            if parent is not None:
                changed.add(parent)
        return changed

    def _remove_workflow(self, workflow_id: str) -> set[str]:
        changed: set[str] = set()
        # The database deletes a workflow's steps with it (ON DELETE CASCADE).
        for fid in list(self.steps.get(workflow_id, {})):
            changed |= self._remove_step(workflow_id, fid)
        gone = self.workflows.pop(workflow_id, None)
        if self.totals is not None:
            self._follow_totals(gone, None, workflow_id)
        if gone is not None:
            self._count(gone, -1)
            self._doubt_roots_around(workflow_id)
            changed.add(workflow_id)
            parent = self._parent_of.get(workflow_id)
            if parent is not None:
                changed.add(parent)
            # It may stay a (not loaded) child of a parent whose call step names it.
            changed |= self._relink(workflow_id)
        return changed

    def _put_step(self, step: Step) -> set[str]:
        steps = self.steps.setdefault(step.workflow_id, {})
        old = steps.get(step.function_id)
        steps[step.function_id] = step
        changed = {step.workflow_id}
        if old is not None and old.is_child_call and old.child_workflow_id:
            changed |= self._forget_call(step.workflow_id, old.child_workflow_id, step.function_id)
        if step.is_child_call and step.child_workflow_id:
            calls = self._calls.setdefault(step.child_workflow_id, {})
            calls.setdefault(step.workflow_id, set()).add(step.function_id)
            changed |= self._relink(step.child_workflow_id)
        return changed

    def _remove_step(self, workflow_id: str, function_id: int) -> set[str]:
        steps = self.steps.get(workflow_id)
        if not steps or function_id not in steps:
            return set()
        step = steps.pop(function_id)
        if not steps:
            del self.steps[workflow_id]
        changed = {workflow_id}
        if step.is_child_call and step.child_workflow_id:
            changed |= self._forget_call(workflow_id, step.child_workflow_id, function_id)
        return changed

    def _forget_call(self, parent: str, child: str, function_id: int) -> set[str]:
        calls = self._calls.get(child, {})
        fids = calls.get(parent)
        if fids is not None:
            fids.discard(function_id)
            if not fids:
                del calls[parent]
            if not calls:
                self._calls.pop(child, None)
        return self._relink(child)

    def _wanted_link(self, child: str) -> tuple[str | None, _ChildKey]:
        """Where child belongs, from the rows held now: (parent, key in the parent)."""
        wf = self.workflows.get(child)
        calls = {p: f for p, f in self._calls.get(child, {}).items() if p != child and f}
        parent = wf.parent_id if wf is not None and wf.parent_id != child else None
        if not parent and calls:
            # No parent_workflow_id (dbos < 2.11, or the row is not loaded): trust the call
            # steps. A forked workflow copies its original's call steps, so prefer the
            # parent that DBOS's default child id `<parent>-<function id>` names.
            parent = min(
                calls,
                key=lambda p: (not any(child == f"{p}-{fid}" for fid in calls[p]), p),
            )
        if not parent:
            return None, (0, 0.0)
        if parent in calls:
            return parent, (0, float(min(calls[parent])))
        created = wf.created_at_ms if wf is not None else None
        return parent, (1, float(created) if created is not None else _UNKNOWN_TIME)

    def _relink(self, child: str) -> set[str]:
        parent, key = self._wanted_link(child)
        old_parent = self._parent_of.get(child)
        if old_parent == parent and (
            parent is None or self._kids.get(parent, {}).get(child) == key
        ):
            return set()
        changed = {child}
        self._doubt_roots_around(child)
        if old_parent is not None:
            kids = self._kids[old_parent]
            del kids[child]
            if not kids:
                del self._kids[old_parent]
            self._sorted.pop(old_parent, None)
            del self._parent_of[child]
            changed.add(old_parent)
        if parent is not None:
            self._kids.setdefault(parent, {})[child] = key
            self._sorted.pop(parent, None)
            self._parent_of[child] = parent
            changed.add(parent)
        self._doubt_roots_around(child)
        return changed
