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
from limbo_tui.dispatch_count import max_origin, over_max_reason
from limbo_tui.fleet import (
    BlockedQueue,
    Fleet,
    NextChange,
    SilentExecutor,
    first_ms_past,
    fleet_of,
    makes_no_progress,
)
from limbo_tui.model import Workflow, WorkflowGraph, short_id
from limbo_tui.registry import DbosRelease
from limbo_tui.settings import LimboSettings
from limbo_tui.terminal_text import safe_text
from limbo_tui.time_text import span_changes_after, span_text, stamp_text
from limbo_tui.waits import MESSAGE, SLEEP, Wait, current_wait

# -- the vocabulary (stable names: the JSON output and scripts depend on them) -----------

AWAITING_DEAD_CHILD = "awaiting-dead-child"
QUEUE_BLOCKED = "queue-blocked"
DEDUP_BLOCKED = "dedup-blocked"
UNSERVED_VERSION = "unserved-version"
ORPHANED = "orphaned"
STALLED = "stalled"
NEAR_MAX_RECOVERY = "near-max-recovery"
STUCK_ENQUEUED = "stuck-enqueued"
AWAITING_MESSAGE = "awaiting-message"
SLEEPING = "sleeping"
DEAD_LETTERED = "dead-lettered"
# Within a severity, the order in which one workflow's diagnoses are listed.
KINDS: tuple[str, ...] = (
    AWAITING_DEAD_CHILD,
    QUEUE_BLOCKED,
    DEDUP_BLOCKED,
    UNSERVED_VERSION,
    ORPHANED,
    STALLED,
    NEAR_MAX_RECOVERY,
    STUCK_ENQUEUED,
    AWAITING_MESSAGE,
    SLEEPING,
    DEAD_LETTERED,
)

LIMBO = "limbo"
WARNING = "warning"
INFO = "info"
SEVERITIES: tuple[str, ...] = (LIMBO, WARNING, INFO)

SEVERITY_OF: dict[str, str] = {
    AWAITING_DEAD_CHILD: LIMBO,
    QUEUE_BLOCKED: LIMBO,
    DEDUP_BLOCKED: LIMBO,
    UNSERVED_VERSION: LIMBO,
    ORPHANED: WARNING,
    STALLED: WARNING,
    NEAR_MAX_RECOVERY: WARNING,
    STUCK_ENQUEUED: WARNING,
    AWAITING_MESSAGE: INFO,
    SLEEPING: INFO,
    DEAD_LETTERED: INFO,
}

# A parent running on DBOS >= 2.12 records a dead child's error within about a second of
# its polling interval; do not call it limbo before it had the chance (no flashing). On a
# release that polls for ever (2.8) nothing will resolve it: no grace there.
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
    fleet: Fleet | None = None,
) -> list[Diagnosis]:
    """Every diagnosis for the loaded workflows: by severity, then oldest workflow first.
    `fleet` (executors, versions, blocked queues) is computed from the graph when not given."""
    if fleet is None:
        fleet = fleet_of(graph, now_ms, limbo, down_executors)
    return ordered(
        graph, diagnose_ids(graph, graph.workflows, now_ms, limbo, down_executors, fleet)
    )


def diagnose_ids(
    graph: WorkflowGraph,
    ids: Iterable[str],
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str] = frozenset(),
    fleet: Fleet | None = None,
    next_change: dict[str, int] | None = None,
) -> list[Diagnosis]:
    """The diagnoses of these workflows only, exactly those diagnose() finds for them:
    grouped by workflow in the order given, each workflow's by severity then KINDS.
    Ids not loaded have none. A live monitor re-diagnoses only what changed (see
    depends_on) instead of the whole graph, and passes the fleet it keeps (FleetIndex).

    Given `next_change`, it also sets, for each workflow whose diagnoses the clock alone
    can change, the first instant (epoch ms, > now_ms) at which they may differ while the
    graph, the fleet, the down executors and the limits stay as they are: a threshold
    passing (stalled, the answer grace, a wait's deadline, the enqueued age) or a duration
    in a sentence ("for 12m") moving on. It may be early, never late: a live monitor
    re-diagnoses each workflow at that instant instead of every second."""
    if fleet is None:
        fleet = fleet_of(graph, now_ms, limbo, down_executors)
    found: list[Diagnosis] = []
    for wid in ids:
        wf = graph.workflows.get(wid)
        if wf is None:
            continue
        if next_change is None:
            found += _diagnose_one(graph, wid, wf, now_ms, limbo, down_executors, fleet, None)
            continue
        due = NextChange(now_ms)
        found += _diagnose_one(graph, wid, wf, now_ms, limbo, down_executors, fleet, due)
        if due.at_ms is not None:
            next_change[wid] = due.at_ms
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
    steps). Besides these and its limits, the rules read only the Fleet, which a live
    monitor compares between repaints (see fleet_scope)."""
    out: set[str] = set()
    for wid in changed:
        out.add(wid)
        parent = graph.parent_of(wid)
        if parent is not None:
            out.add(parent)
        out.update(graph.children(wid))
    return out


# The only statuses whose rules read the clock, the down executors or the Fleet: stalled,
# orphaned, unserved-version, queue-blocked, the waits, awaiting-dead-child (grace
# period, stuck children) and dedup-blocked for PENDING; stuck-enqueued and
# unserved-version for ENQUEUED. Every other rule reads rows and steps only.
_CLOCK_STATUSES = model.NEEDS_EXECUTOR_STATUSES


def ticking_ids(graph: WorkflowGraph) -> list[str]:
    """The workflows whose diagnoses may change with the clock or with which executors
    are down while the graph stays the same (the PENDING and ENQUEUED ones)."""
    return [wid for wid, wf in graph.workflows.items() if wf.status in _CLOCK_STATUSES]


def fleet_scope(graph: WorkflowGraph, old: Fleet, new: Fleet) -> set[str]:
    """The workflows whose diagnoses may differ because the Fleet went from old to new:
    those on a queue whose blockage changed; those of an executor that went silent, came
    back or wrote while silent, and the work of blocked queues (a holder's executor is in
    their sentences); and when the live executors changed, every ENQUEUED workflow and
    every PENDING one of a silent executor (their sentences list the live executors, and
    unserved-version reads their versions)."""
    queues = old.changed_queues(new)
    names = set(old.silent) | set(new.silent) | set(old.live) | set(new.live)
    executors = {
        ex
        for ex in names
        if old.silent.get(ex) != new.silent.get(ex) or old.live.get(ex) != new.live.get(ex)
    }
    if not queues and not executors:
        return set()
    live_changed = old.live != new.live
    if executors:
        queues |= set(old.blocked_queues) | set(new.blocked_queues)
    silent = set(old.silent) | set(new.silent)
    out: set[str] = set()
    for wid, wf in graph.workflows.items():
        if wf.status not in _CLOCK_STATUSES:
            continue
        ex = wf.executor_id or ""
        if (
            wf.queue in queues
            or ex in executors
            or (live_changed and (wf.status == model.ENQUEUED or ex in silent))
        ):
            out.add(wid)
    return out


def _diagnose_one(
    graph: WorkflowGraph,
    wid: str,
    wf: Workflow,
    now_ms: int,
    limbo: LimboSettings,
    down_executors: frozenset[str],
    fleet: Fleet,
    due: NextChange | None,
) -> list[Diagnosis]:
    """`due`, when given, learns every instant at which what the clock decides here flips
    (see diagnose_ids); each one is noted beside the comparison it undoes."""
    status = wf.status if isinstance(wf.status, str) else ""
    stalled_ms = limbo.stalled_after_s * 1000
    release = graph.registry.release
    out: list[Diagnosis] = []

    def add(kind: str, reason: str, action: str) -> None:
        out.append(Diagnosis(wid, kind, SEVERITY_OF[kind], reason, action))

    dead_children: list[tuple[str, str]] = []
    live_child = False
    stalled_for: int | None = None
    wait: Wait | None = None
    executor = wf.executor_id or None
    silent = fleet.silent.get(executor) if executor is not None else None
    if status == model.PENDING:
        for child_id in graph.unanswered_children(wid):
            child = graph.get(child_id)
            if child is None:
                continue  # not loaded: nothing is known about it
            dead = child.status in model.DEAD_STATUSES
            if dead and release.fails_waiting_parent and due is not None:
                updated = child.updated_at_ms
                if updated is not None:
                    due.at(updated)
                    due.at(updated + ANSWER_GRACE_MS)
            if dead and not (release.fails_waiting_parent and _just_finished(child, now_ms)):
                dead_children.append((child_id, str(child.status)))
            elif not model.is_finished(child.status) and not makes_no_progress(
                graph, child_id, child, now_ms, limbo, down_executors
            ):
                live_child = True
                child_last = graph.last_progress_ms(child_id) if due is not None else None
                if due is not None and child_last is not None:
                    due.at(first_ms_past(child_last, stalled_ms))
        last = graph.last_progress_ms(wid)
        if last is not None:
            if now_ms - last > stalled_ms:
                stalled_for = now_ms - last
                if due is not None:
                    due.at(last + span_changes_after(stalled_for))
            elif due is not None:
                due.at(first_ms_past(last, stalled_ms))
        found = current_wait(graph, wid)
        if found is not None and found.waiting_at(now_ms):
            wait = found
            if due is not None and found.deadline_ms is not None:
                due.at(found.deadline_ms)

    dedup = _text(wf.dedup_id) if wf.dedup_id else None
    holds_dedup = dedup is not None and status in model.DEDUP_HOLDING_STATUSES
    frees = f" (frees dedup id {dedup})" if holds_dedup else ""

    # Its executor is gone: known down, or silent while the workflow does not wait on
    # purpose or on a child that makes progress (an executor that only waits writes
    # nothing either).
    orphaned = (
        status == model.PENDING
        and silent is not None
        and (silent.down or (wait is None and not live_child))
    )
    # DBOS of this release fails a parent of a dead child once a worker runs it again:
    # with its executor gone, what keeps it PENDING is the executor, not the child.
    resolved_on_recovery = (
        bool(dead_children) and release.known and release.fails_waiting_parent and orphaned
    )
    unserved = _unserved_version(wf, status, fleet, orphaned, now_ms, limbo)
    blocked = _blocked_queue_of(wid, wf, status, fleet)
    if status == model.ENQUEUED and due is not None:
        # The enqueued age: stuck-enqueued and unserved-version, then its "for 12m".
        since = wf.updated_at_ms if wf.updated_at_ms is not None else wf.created_at_ms
        if since is not None:
            enqueued_ms = limbo.enqueued_after_s * 1000
            if now_ms - since > enqueued_ms:
                due.at(since + span_changes_after(now_ms - since))
            else:
                due.at(first_ms_past(since, enqueued_ms))
    if blocked is not None and due is not None:
        # The holders' "no progress for 3m" in this workflow's sentence.
        for hid in blocked.holders[:2]:
            held_since = graph.last_progress_ms(hid)
            if held_since:
                due.at(held_since + span_changes_after(now_ms - held_since))

    if dead_children and not resolved_on_recovery:
        fix = (
            f"c: cancel it{frees}, or u: resume it so that DBOS 2.12+ fails it with the "
            "child's error"
        )
        if release.known and not release.fails_waiting_parent:
            # This database's DBOS would run a resumed parent into the same wait: u is
            # not a fix here (and its schema is not a 2.12+ one's).
            fix = f"c: cancel it{frees}; a resume would only wait again on DBOS {release.label}"
        add(AWAITING_DEAD_CHILD, _awaiting_reason(dead_children, release), fix)

    if blocked is not None and status == model.PENDING:
        also = f", and dedup id {dedup}" if holds_dedup else ""
        add(
            QUEUE_BLOCKED,
            _blocked_reason(graph, wf, blocked, fleet, now_ms),
            f"c: cancel it (frees its slot{also}), or u: resume it (re-enqueued, recovery "
            "attempts reset to 0)",
        )

    # A parent waiting on a child that still makes progress is not stalled.
    stalled = stalled_for is not None and not live_child and wait is None
    if holds_dedup and (dead_children or stalled):
        why = (
            "which is in limbo"
            if dead_children
            else f"which has made no progress for {span_text(stalled_for or 0)}"
        )
        where = f" on queue {_text(wf.queue)}" if wf.queue else ""
        add(
            DEDUP_BLOCKED,
            f"Dedup id {dedup}{where} is held by this workflow, {why}: every new enqueue "
            "with that id is rejected.",
            f"c: cancel it{frees}, or u: resume it (also frees the dedup id)",
        )

    if unserved is not None:
        add(UNSERVED_VERSION, _unserved_reason(status, unserved[0], fleet, graph), unserved[1])

    if orphaned and unserved is None and silent is not None:
        add(
            ORPHANED,
            _orphaned_reason(wf, silent, fleet, release, dead_children, resolved_on_recovery),
            _orphaned_action(wf, silent, frees),
        )

    # The more specific diagnoses above already explain a lack of progress.
    if stalled and not dead_children and not orphaned and unserved is None and blocked is None:
        add(
            STALLED,
            f"PENDING with no step completed and no status change for "
            f"{span_text(stalled_for or 0)} (threshold {span_text(limbo.stalled_after_s * 1000)}).",
            f"u: resume it to rerun it from its last completed step, or c: cancel it{frees}",
        )

    if wait is not None and not orphaned:
        until = f"until {stamp_text(wait.deadline_ms)}" if wait.deadline_ms else "with no deadline"
        if wait.kind == MESSAGE:
            add(
                AWAITING_MESSAGE,
                f"It waits in DBOS.recv or DBOS.get_event (function id {wait.function_id}) "
                f"{until}; DBOS records the topic, or the event and its target, only when "
                "the wait returns.",
                "s: send it a message (asks for the topic); an awaited event can only be "
                "set by the workflow that owns it",
            )
        elif wait.kind == SLEEP:
            add(
                SLEEPING,
                f"It sleeps in DBOS.sleep (function id {wait.function_id}) {until}; DBOS "
                "continues it then, after a recovery too.",
                f"nothing to do, or c: cancel it{frees}",
            )

    maximum, source = graph.known_max(wid)
    attempts = wf.recovery_attempts if isinstance(wf.recovery_attempts, int) else 0
    if maximum is not None and not model.is_finished(status):
        # DBOS counts dispatches and dead-letters a workflow when a dispatch would push
        # the count past max + 1: `left` more dispatches are allowed.
        left = maximum + 1 - attempts
        over = over_max_reason(attempts, maximum, status)
        if over is not None:
            add(
                NEAR_MAX_RECOVERY,
                f"It is on dispatch {attempts}, above the {maximum + 1} that "
                f"{max_origin(maximum, source)} allows (the first run and {maximum} "
                f"recoveries): {over}.",
                "u: resume it (resets its recovery attempts to 0), or f: fork it from a step",
            )
        elif left <= limbo.near_max_margin:
            if left <= 0:
                fate = "its next recovery dead-letters it"
            else:
                times = "1 more time" if left == 1 else f"{left} more times"
                fate = f"it can be recovered {times} before DBOS dead-letters it"
            add(
                NEAR_MAX_RECOVERY,
                f"It is on dispatch {attempts} of {maximum + 1} (the first run + "
                f"{max_origin(maximum, source)}): {fate}.",
                "u: resume it (resets its recovery attempts to 0), or f: fork it from a step",
            )

    if status == model.ENQUEUED and unserved is None:
        since = wf.updated_at_ms if wf.updated_at_ms is not None else wf.created_at_ms
        queue = _text(wf.queue) if wf.queue else "its queue"
        if blocked is not None:
            add(
                STUCK_ENQUEUED,
                f"ENQUEUED on {queue}, whose {_slots(blocked)} held by workflows that make "
                f"no progress ({_holders(graph, blocked, fleet, now_ms)}): it runs only once "
                "a slot frees.",
                f"select the holder to cancel or resume it, or c: cancel this one{frees}",
            )
        elif since is not None and now_ms - since > limbo.enqueued_after_s * 1000:
            served = _live_text(fleet)
            live = f" (live: {served})" if served else ", and no executor is active"
            add(
                STUCK_ENQUEUED,
                f"ENQUEUED on {queue} for {span_text(now_ms - since)} (threshold "
                f"{span_text(limbo.enqueued_after_s * 1000)}): no worker has dequeued it"
                f"{live}.",
                f"start (or restart) a worker that serves {queue}, or c: cancel it{frees}",
            )

    if status == model.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        parent_id = graph.parent_of(wid)
        parent = graph.get(parent_id) if parent_id is not None else None
        waiting = (
            parent is not None
            and parent.status == model.PENDING
            and wid in graph.unanswered_children(parent_id or "")
        )
        tail = f", and its parent {_text(parent_id)} still waits for it" if waiting else ""
        origin = max_origin(maximum, source)
        if maximum is not None and attempts == maximum + 2:
            # The dispatch DBOS refused counted too: the count is one above the allowed.
            given_up = (
                f"DBOS gave up on it after {maximum + 1} dispatches ({origin}: the first run "
                f"and {maximum} recoveries); dispatch {attempts} was refused{tail}."
            )
        else:
            given_up = f"DBOS gave up on it at dispatch {attempts} ({origin}){tail}."
        add(
            DEAD_LETTERED,
            given_up,
            "u: resume it (runs it again with recovery attempts reset), or f: fork it from a step",
        )
    out.sort(key=lambda d: (SEVERITIES.index(d.severity), KINDS.index(d.kind)))
    return out


def fork_target(fleet: Fleet) -> str | None:
    """The version to fork unserved work onto: the newest-named live version."""
    versions = sorted(fleet.live_versions)
    return versions[-1] if versions else None


def _unserved_version(
    wf: Workflow,
    status: str,
    fleet: Fleet,
    orphaned: bool,
    now_ms: int,
    limbo: LimboSettings,
) -> tuple[str, str] | None:
    """(the version, the action) when no live executor runs wf's version while some
    executor is live: DBOS hands PENDING work only to an executor of its own version at
    launch, and dequeues ENQUEUED work of a version only on a worker of that version."""
    if status not in _CLOCK_STATUSES or not wf.app_version or not fleet.live:
        return None
    if wf.app_version in fleet.live_versions:
        return None
    if status == model.PENDING:
        if not orphaned:
            return None
    elif status == model.ENQUEUED:
        since = wf.updated_at_ms if wf.updated_at_ms is not None else wf.created_at_ms
        if since is None or now_ms - since <= limbo.enqueued_after_s * 1000:
            return None
    else:
        return None
    target = fork_target(fleet)
    onto = f"F: fork it onto version {_text(target)}" if target else "F: fork it"
    return wf.app_version, f"{onto}, or start a worker of version {_text(wf.app_version)}"


def _unserved_reason(status: str, version: str, fleet: Fleet, graph: WorkflowGraph) -> str:
    latest = graph.registry.latest_version
    latest_text = f"; latest registered is {_text(latest)}" if latest else ""
    if status == model.PENDING:
        fate = "DBOS recovers PENDING work only on an executor of its own version"
    else:
        fate = "DBOS dequeues it only on a worker of that version"
    return (
        f"No live executor runs version {_text(version)} (live: {_live_text(fleet)}"
        f"{latest_text}): {fate}, so it never runs."
    )


def _orphaned_reason(
    wf: Workflow,
    silent: SilentExecutor,
    fleet: Fleet,
    release: DbosRelease,
    dead_children: list[tuple[str, str]],
    resolved_on_recovery: bool,
) -> str:
    ex = _text(wf.executor_id)
    version = f" and version {_text(wf.app_version)}" if wf.app_version else ""
    if silent.down:
        head = f"Its executor {ex} is down"
    else:
        since = f"since {stamp_text(silent.last_write_ms)}" if silent.last_write_ms else "at all"
        others = _live_text(fleet)
        verb = "is" if len(fleet.live) == 1 else "are"
        head = f"Executor {ex} has written nothing {since}" + (
            f" while {others} {verb} active" if others else ", nor has any other executor"
        )
    tail = ""
    if resolved_on_recovery:
        child, child_status = dead_children[0]
        tail = (
            f"; once recovered, DBOS {release.label or '2.12+'} fails it with the error of "
            f"its child {_text(child)} ({_text(child_status)})"
        )
    return (
        f"{head}, so nothing runs it until a worker with that executor id{version} "
        f"recovers it{tail}."
    )


def _orphaned_action(wf: Workflow, silent: SilentExecutor, frees: str) -> str:
    if silent.down:
        return f"r: restart the worker to recover it, or c: cancel it{frees}"
    version = f" of version {_text(wf.app_version)}" if wf.app_version else ""
    # Every release from 2.8 on: resume puts it on DBOS's internal queue, attempts reset.
    return (
        f"u: resume it: DBOS re-enqueues it for any live executor{version} "
        f"(resets its recovery attempts to 0), or c: cancel it{frees}"
    )


def _blocked_queue_of(wid: str, wf: Workflow, status: str, fleet: Fleet) -> BlockedQueue | None:
    if not wf.queue:
        return None
    blocked = fleet.blocked_queues.get(wf.queue)
    if blocked is None:
        return None
    if (status == model.PENDING and wid in blocked.holders) or status == model.ENQUEUED:
        return blocked
    return None


def _slots(blocked: BlockedQueue) -> str:
    held = min(len(blocked.holders), blocked.concurrency)
    slots = "slot is" if blocked.concurrency == 1 else "slots are"
    per = " (worker_concurrency on every live executor)" if blocked.per_worker else ""
    return f"{held} of {blocked.concurrency} {slots}{per}"


def _holders(graph: WorkflowGraph, blocked: BlockedQueue, fleet: Fleet, now_ms: int) -> str:
    parts = []
    for hid in blocked.holders[:2]:
        wf = graph.workflows.get(hid)
        ex = wf.executor_id if wf is not None else None
        silent = fleet.silent.get(ex) if ex else None
        if silent is not None and silent.down:
            why = f"executor {_text(ex)}, down"
        elif silent is not None and silent.last_write_ms:
            why = f"executor {_text(ex)}, silent since {stamp_text(silent.last_write_ms)}"
        else:
            last = graph.last_progress_ms(hid)
            idle = f"no progress for {span_text(now_ms - last)}" if last else "no progress"
            why = f"executor {_text(ex)}, {idle}" if ex else idle
        parts.append(f"{_text(short_id(hid))} ({why})")
    more = len(blocked.holders) - 2
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _blocked_reason(
    graph: WorkflowGraph, wf: Workflow, blocked: BlockedQueue, fleet: Fleet, now_ms: int
) -> str:
    return (
        f"Queue {_text(wf.queue)} is blocked: {_slots(blocked)} held by "
        f"{_holders(graph, blocked, fleet, now_ms)}; {blocked.waiting} waiting behind them."
    )


def _live_text(fleet: Fleet) -> str:
    names = sorted(fleet.live)
    shown = [f"{_text(e)} on {_text(fleet.live[e])}" if fleet.live[e] else _text(e) for e in names]
    more = len(shown) - 3
    return ", ".join(shown[:3]) + (f" and {more} more" if more > 0 else "")


def _just_finished(child: Workflow, now_ms: int) -> bool:
    updated = child.updated_at_ms
    return updated is not None and 0 <= now_ms - updated < ANSWER_GRACE_MS


def _awaiting_reason(dead: list[tuple[str, str]], release: DbosRelease) -> str:
    first_id, first_status = dead[0]
    fate = "so it stays PENDING for ever"
    if release.known and not release.fails_waiting_parent:
        fate = f"and DBOS {release.label} polls for it for ever, so it stays PENDING"
    elif release.known:
        fate = f"and DBOS {release.label} has not failed it: it stays PENDING"
    if len(dead) == 1:
        return (
            f"It waits for child {_text(first_id)}, which is {_text(first_status)} and will "
            f"never answer, {fate}."
        )
    listed = ", ".join(f"{_text(c)} ({_text(s)})" for c, s in dead[:2])
    more = f" and {len(dead) - 2} more" if len(dead) > 2 else ""
    return f"It waits for {len(dead)} children that will never answer ({listed}{more}), {fate}."


def _text(value: object) -> str:
    return safe_text(value, _TEXT_LIMIT)
