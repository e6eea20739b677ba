"""Why a workflow is stuck: the limbo rules, read from a WorkflowGraph (pure, no I/O).

diagnose() looks at every loaded workflow and returns one Diagnosis per (workflow, kind)
that applies, with one plain sentence saying why and the key that helps; diagnose_ids()
runs the same rules on a few workflows, for a monitor that re-diagnoses only what
changed (depends_on) and, as time passes, what the clock can change (ticking_ids). This module
owns the kind names, their severities and their sentences; the UI, the headless output
and the tests import them from here.

The central case is the seed's: a parent PENDING on a queue, holding deduplication id
"6/5", waiting for a child that DBOS dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED).
DBOS <= 2.11 polls for that child's result for ever, so the parent never finishes and
every new enqueue with the same dedup id is rejected. DBOS >= 2.12 fails the parent
instead (ERROR, dedup id freed), which is not limbo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from limbo_tui import model
from limbo_tui.model import Workflow, WorkflowGraph
from limbo_tui.settings import LimboSettings
from limbo_tui.terminal_text import safe_text

# -- the vocabulary (stable names: the JSON output and scripts depend on them) -----------

AWAITING_DEAD_CHILD = "awaiting-dead-child"
DEDUP_BLOCKED = "dedup-blocked"
ORPHANED = "orphaned"
STALLED = "stalled"
NEAR_MAX_RECOVERY = "near-max-recovery"
DEAD_LETTERED = "dead-lettered"
STUCK_ENQUEUED = "stuck-enqueued"
# Also the order in which one workflow's diagnoses are listed.
KINDS: tuple[str, ...] = (
    AWAITING_DEAD_CHILD,
    DEDUP_BLOCKED,
    ORPHANED,
    STALLED,
    NEAR_MAX_RECOVERY,
    STUCK_ENQUEUED,
    DEAD_LETTERED,
)

LIMBO = "limbo"
WARNING = "warning"
INFO = "info"
SEVERITIES: tuple[str, ...] = (LIMBO, WARNING, INFO)

SEVERITY_OF: dict[str, str] = {
    AWAITING_DEAD_CHILD: LIMBO,
    DEDUP_BLOCKED: LIMBO,
    ORPHANED: WARNING,
    STALLED: WARNING,
    NEAR_MAX_RECOVERY: WARNING,
    STUCK_ENQUEUED: WARNING,
    DEAD_LETTERED: INFO,
}

# A parent running on DBOS >= 2.12 records a dead child's error within about a second of
# its polling interval; do not call it limbo before it had the chance (no flashing).
ANSWER_GRACE_MS = 5_000

# Ids and names from the database are shown whole (ids are copied from the screen), but
# a hostile row must not produce a sentence of unbounded length.
_TEXT_LIMIT = 80


@dataclass(frozen=True)
class Diagnosis:
    workflow_id: str
    kind: str
    severity: str
    # One sentence: why the workflow is stuck.
    reason: str
    # The key that helps and what it does, e.g. "c: cancel it (frees dedup id 6/5), ...".
    action: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class LimboSummary:
    # Workflows with at least one diagnosis of severity `limbo`.
    in_limbo: int = 0
    # Deduplication ids held by such stuck workflows.
    dedup_blocked: int = 0
    # Workflows with a warning (and no limbo diagnosis).
    warnings: int = 0

    @property
    def text(self) -> str:
        parts = [f"{self.in_limbo} in limbo" if self.in_limbo else "nothing in limbo"]
        if self.dedup_blocked:
            ids = "id" if self.dedup_blocked == 1 else "ids"
            parts.append(f"{self.dedup_blocked} dedup {ids} blocked")
        if self.warnings:
            parts.append(f"{self.warnings} warning" + ("" if self.warnings == 1 else "s"))
        return ", ".join(parts)


def summary(diagnoses: Iterable[Diagnosis]) -> LimboSummary:
    limbo: set[str] = set()
    warned: set[str] = set()
    dedup = 0
    for d in diagnoses:
        if d.severity == LIMBO:
            limbo.add(d.workflow_id)
        elif d.severity == WARNING:
            warned.add(d.workflow_id)
        if d.kind == DEDUP_BLOCKED:
            dedup += 1
    return LimboSummary(in_limbo=len(limbo), dedup_blocked=dedup, warnings=len(warned - limbo))


def summary_text(diagnoses: Iterable[Diagnosis] | LimboSummary) -> str:
    """The limbo bar's line, e.g. "2 in limbo, 1 dedup id blocked"."""
    if isinstance(diagnoses, LimboSummary):
        return diagnoses.text
    return summary(diagnoses).text


def by_workflow(diagnoses: Iterable[Diagnosis]) -> dict[str, list[Diagnosis]]:
    """Diagnoses grouped by workflow id, each group in the order given."""
    out: dict[str, list[Diagnosis]] = {}
    for d in diagnoses:
        out.setdefault(d.workflow_id, []).append(d)
    return out


# -- the rules -------------------------------------------------------------------------


def diagnose(
    graph: WorkflowGraph,
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str] = frozenset(),
) -> list[Diagnosis]:
    """Every diagnosis for the loaded workflows: by severity, then oldest workflow first."""
    return ordered(graph, diagnose_ids(graph, graph.workflows, now_ms, limbo, down_executors))


def diagnose_ids(
    graph: WorkflowGraph,
    ids: Iterable[str],
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str] = frozenset(),
) -> list[Diagnosis]:
    """The diagnoses of these workflows only, exactly those diagnose() finds for them:
    grouped by workflow in the order given, each workflow's in KINDS order (which is
    also severity order). Ids not loaded have none. A live monitor re-diagnoses only
    what changed (see depends_on) instead of the whole graph."""
    found: list[Diagnosis] = []
    for wid in ids:
        wf = graph.workflows.get(wid)
        if wf is not None:
            found += _diagnose_one(graph, wid, wf, now_ms, limbo, down_executors)
    return found


def ordered(graph: WorkflowGraph, diagnoses: Iterable[Diagnosis]) -> list[Diagnosis]:
    """diagnose()'s order: by severity, then oldest workflow first, then kind."""

    def order(d: Diagnosis) -> tuple[int, int, int, str, int]:
        wf = graph.workflows.get(d.workflow_id)
        created = wf.created_at_ms if wf is not None else None
        created_key = created if isinstance(created, int) else 0
        return (
            SEVERITIES.index(d.severity),
            created is None,
            created_key,
            d.workflow_id,
            KINDS.index(d.kind),
        )

    return sorted(diagnoses, key=order)


def depends_on(graph: WorkflowGraph, changed: Iterable[str]) -> set[str]:
    """The workflows whose diagnoses may differ once these ids changed (their row, their
    steps or their links): each one, its parent (it reads its children's status and
    progress) and its children (a dead-lettered child reads its parent's status and
    steps). The rules read nothing else of the graph besides its limits."""
    out: set[str] = set()
    for wid in changed:
        out.add(wid)
        parent = graph.parent_of(wid)
        if parent is not None:
            out.add(parent)
        out.update(graph.children(wid))
    return out


# The only statuses whose rules read the clock or the down executors: stalled, orphaned,
# awaiting-dead-child (grace period, stuck children) and dedup-blocked for PENDING,
# stuck-enqueued for ENQUEUED. Every other rule reads rows and steps only.
_CLOCK_STATUSES = frozenset({model.PENDING, model.ENQUEUED})


def ticking_ids(graph: WorkflowGraph) -> list[str]:
    """The workflows whose diagnoses may change with the clock or with which executors
    are down while the graph stays the same (the PENDING and ENQUEUED ones)."""
    return [wid for wid, wf in graph.workflows.items() if wf.status in _CLOCK_STATUSES]


def _stuck(
    graph: WorkflowGraph,
    wid: str,
    wf: Workflow,
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str],
) -> bool:
    """A child that makes no progress (or whose executor is down) does not keep its
    parent busy: the parent is as stuck as the child is."""
    if wf.executor_id and wf.executor_id in down_executors:
        return True
    last = graph.last_progress_ms(wid)
    return last is not None and now_ms - last > limbo.stalled_after_s * 1000


def _diagnose_one(
    graph: WorkflowGraph,
    wid: str,
    wf: Workflow,
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str],
) -> list[Diagnosis]:
    status = wf.status if isinstance(wf.status, str) else ""
    out: list[Diagnosis] = []

    def add(kind: str, reason: str, action: str) -> None:
        out.append(Diagnosis(wid, kind, SEVERITY_OF[kind], reason, action))

    dead_children: list[tuple[str, str]] = []
    live_child = False
    stalled_for: int | None = None
    orphaned = False
    if status == model.PENDING:
        for child_id in graph.unanswered_children(wid):
            child = graph.get(child_id)
            if child is None:
                continue  # not loaded: nothing is known about it
            if child.status in model.DEAD_STATUSES and not _just_finished(child, now_ms):
                dead_children.append((child_id, str(child.status)))
            elif not model.is_finished(child.status) and not _stuck(
                graph, child_id, child, now_ms, limbo, down_executors
            ):
                live_child = True
        orphaned = bool(wf.executor_id) and wf.executor_id in down_executors
        last = graph.last_progress_ms(wid)
        if last is not None and now_ms - last > limbo.stalled_after_s * 1000:
            stalled_for = now_ms - last

    dedup = _text(wf.dedup_id) if wf.dedup_id else None
    holds_dedup = dedup is not None and status in model.DEDUP_HOLDING_STATUSES
    frees = f" (frees dedup id {dedup})" if holds_dedup else ""

    if dead_children:
        add(
            AWAITING_DEAD_CHILD,
            _awaiting_reason(dead_children),
            f"c: cancel it{frees}, or u: resume it so that DBOS 2.12+ fails it with the "
            "child's error",
        )

    # A parent waiting on a child that still makes progress is not stalled.
    stalled = stalled_for is not None and not live_child
    if holds_dedup and (dead_children or stalled):
        why = (
            "which is in limbo"
            if dead_children
            else f"which has made no progress for {_duration(stalled_for or 0)}"
        )
        where = f" on queue {_text(wf.queue)}" if wf.queue else ""
        add(
            DEDUP_BLOCKED,
            f"Dedup id {dedup}{where} is held by this workflow, {why}: every new enqueue "
            "with that id is rejected.",
            f"c: cancel it{frees}, or u: resume it (also frees the dedup id)",
        )

    if orphaned:
        version = f" and app version {_text(wf.app_version)}" if wf.app_version else ""
        add(
            ORPHANED,
            f"Its executor {_text(wf.executor_id)} is down, so nothing runs it until a worker "
            f"with that executor id{version} recovers it.",
            f"r: restart the worker to recover it, or c: cancel it{frees}",
        )

    # The more specific diagnoses above already explain a lack of progress.
    if stalled and not dead_children and not orphaned:
        add(
            STALLED,
            f"PENDING with no step completed and no status change for "
            f"{_duration(stalled_for or 0)} (threshold {_duration(limbo.stalled_after_s * 1000)}).",
            f"u: resume it to rerun it from its last completed step, or c: cancel it{frees}",
        )

    maximum = graph.max_recovery_attempts(wid)
    attempts = wf.recovery_attempts if isinstance(wf.recovery_attempts, int) else 0
    if maximum is not None and not model.is_finished(status):
        # DBOS counts dispatches and dead-letters a workflow when a dispatch would push
        # the count past max + 1: `left` more dispatches are allowed.
        left = maximum + 1 - attempts
        if left <= limbo.near_max_margin:
            if left <= 0:
                fate = "its next recovery dead-letters it"
            else:
                times = "1 more time" if left == 1 else f"{left} more times"
                fate = f"it can be recovered {times} before DBOS dead-letters it"
            add(
                NEAR_MAX_RECOVERY,
                f"It has been dispatched {attempts} times with max_recovery_attempts "
                f"{maximum}: {fate}.",
                "u: resume it (resets its recovery attempts to 0), or f: fork it from a step",
            )

    if status == model.ENQUEUED:
        since = wf.updated_at_ms if wf.updated_at_ms is not None else wf.created_at_ms
        if since is not None and now_ms - since > limbo.enqueued_after_s * 1000:
            queue = _text(wf.queue) if wf.queue else "its queue"
            add(
                STUCK_ENQUEUED,
                f"ENQUEUED on {queue} for {_duration(now_ms - since)} (threshold "
                f"{_duration(limbo.enqueued_after_s * 1000)}): no worker has dequeued it.",
                f"r: restart the worker if it serves {queue}, or c: cancel it{frees}",
            )

    if status == model.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        limit = f" (max_recovery_attempts {maximum})" if maximum is not None else ""
        parent_id = graph.parent_of(wid)
        parent = graph.get(parent_id) if parent_id is not None else None
        waiting = (
            parent is not None
            and parent.status == model.PENDING
            and wid in graph.unanswered_children(parent_id or "")
        )
        tail = f", and its parent {_text(parent_id)} still waits for it" if waiting else ""
        add(
            DEAD_LETTERED,
            f"DBOS gave up on it after {attempts} dispatches{limit}{tail}.",
            "u: resume it (runs it again with recovery attempts reset), or f: fork it from a step",
        )
    return out


def _just_finished(child: Workflow, now_ms: int) -> bool:
    updated = child.updated_at_ms
    return updated is not None and 0 <= now_ms - updated < ANSWER_GRACE_MS


def _awaiting_reason(dead: list[tuple[str, str]]) -> str:
    first_id, first_status = dead[0]
    if len(dead) == 1:
        return (
            f"It waits for child {_text(first_id)}, which is {_text(first_status)} and will "
            "never answer, so it stays PENDING for ever."
        )
    listed = ", ".join(f"{_text(c)} ({_text(s)})" for c, s in dead[:2])
    more = f" and {len(dead) - 2} more" if len(dead) > 2 else ""
    return (
        f"It waits for {len(dead)} children that will never answer ({listed}{more}), "
        "so it stays PENDING for ever."
    )


def _text(value: object) -> str:
    return safe_text(value, _TEXT_LIMIT)


def _duration(ms: float) -> str:
    """45s, 12m, 3h 5m, 2d 4h: the precision a person needs for "how long stuck"."""
    s = max(int(ms // 1000), 0)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d {h}h" if h else f"{d}d"
