"""The story of each workflow, as limbo-tui watched it: status changes, dispatches, steps,
step attempts and the worker's crashes and restarts, each with its time.

The seed's user pieced this together from four terminals. Here it is derived from what the
feed already brings (rows) and what the embedded worker reports (its state and the live
step attempt), kept in memory for the session. Pure: rows in, events out.

Times come from the database where a row carries one (created_at, updated_at, a step's
completed_at); events only limbo-tui could see (a worker crash, a step attempt) carry the
time limbo-tui saw them, and say so (`observed`).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from limbo_tui.model import Row, Step, StepRemoved, Workflow, WorkflowRemoved
from limbo_tui.numbering import live_step_text, step_text

EventKind = Literal[
    "created",
    "status",
    "dispatch",
    "step",
    "step-failed",
    "child-call",
    "child-result",
    "attempt",
    "removed",
    "worker",
]

# Per workflow, the newest events kept; a workflow that loops for days must not fill memory.
MAX_EVENTS_PER_WORKFLOW = 500
# Worker events (crash, restart) kept for the session.
MAX_WORKER_EVENTS = 1000


@dataclass(frozen=True)
class TimelineEvent:
    at_ms: int
    # None for a worker event, which belongs to every workflow it touched.
    workflow_id: str | None
    kind: EventKind
    text: str
    # True when at_ms is when limbo-tui saw it, not a time the database recorded.
    observed: bool = False
    # A dispatch: recovery_attempts after it (DBOS's own counter).
    attempts: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "at_ms": self.at_ms,
            "workflow_id": self.workflow_id,
            "kind": self.kind,
            "text": self.text,
            "observed": self.observed,
            "attempts": self.attempts,
        }


def _dispatch_text(old: int, new: int) -> str:
    if new == old + 1:
        return f"dispatch {new} (recovery_attempts {old} -> {new})"
    return f"dispatches {old + 1}..{new} (recovery_attempts {old} -> {new}, not seen one by one)"


def _step_events(step: Step, now_ms: int) -> TimelineEvent:
    at = step.completed_at_ms or step.started_at_ms
    observed = at is None
    at = now_ms if at is None else at
    took = f" in {step.duration_ms} ms" if step.duration_ms is not None else ""
    if step.is_get_result:
        verb = "failed" if step.failed else "returned"
        return TimelineEvent(
            at,
            step.workflow_id,
            "child-result",
            f"{step_text(step.function_id)} child {step.child_workflow_id} {verb}",
            observed,
        )
    if step.is_child_call:
        return TimelineEvent(
            at,
            step.workflow_id,
            "child-call",
            f"{step_text(step.function_id)} started child {step.child_workflow_id} ({step.name})",
            observed,
        )
    if step.failed:
        return TimelineEvent(
            at,
            step.workflow_id,
            "step-failed",
            f"{step_text(step.function_id)} {step.name} failed{took}",
        )
    return TimelineEvent(
        at,
        step.workflow_id,
        "step",
        f"{step_text(step.function_id)} {step.name} done{took}",
        observed,
    )


class Timeline:
    """Every workflow's events, in the order they happened, for as long as limbo-tui runs."""

    def __init__(self) -> None:
        self._last: dict[str, Workflow] = {}
        self._seen_steps: set[tuple[str, int]] = set()
        self._events: dict[str, deque[TimelineEvent]] = {}
        self._worker: deque[TimelineEvent] = deque(maxlen=MAX_WORKER_EVENTS)
        self._attempts: dict[str, tuple[int, int]] = {}

    def _add(self, event: TimelineEvent) -> TimelineEvent:
        assert event.workflow_id is not None
        events = self._events.get(event.workflow_id)
        if events is None:
            events = self._events[event.workflow_id] = deque(maxlen=MAX_EVENTS_PER_WORKFLOW)
        events.append(event)
        return event

    def observe(self, rows: Iterable[Row], now_ms: int) -> list[TimelineEvent]:
        """The events a batch of rows makes (a full resync included: only what changed)."""
        out: list[TimelineEvent] = []
        for row in rows:
            if isinstance(row, Workflow):
                out.extend(self._workflow(row, now_ms))
            elif isinstance(row, Step):
                key = (row.workflow_id, row.function_id)
                if key not in self._seen_steps:
                    self._seen_steps.add(key)
                    self._attempts.pop(row.workflow_id, None)
                    out.append(self._add(_step_events(row, now_ms)))
            elif isinstance(row, StepRemoved):
                self._seen_steps.discard((row.workflow_id, row.function_id))
            elif isinstance(row, WorkflowRemoved) and row.id in self._last:
                del self._last[row.id]
                out.append(self._add(TimelineEvent(now_ms, row.id, "removed", "row deleted")))
        return out

    def _workflow(self, wf: Workflow, now_ms: int) -> list[TimelineEvent]:
        old = self._last.get(wf.id)
        self._last[wf.id] = wf
        changed_at = wf.updated_at_ms if wf.updated_at_ms is not None else now_ms
        observed = wf.updated_at_ms is None
        if old is None:
            at = wf.created_at_ms if wf.created_at_ms is not None else now_ms
            events = [
                TimelineEvent(
                    at,
                    wf.id,
                    "created",
                    f"{wf.status}, recovery_attempts {wf.recovery_attempts}"
                    + (f", queue {wf.queue}" if wf.queue else ""),
                    wf.created_at_ms is None,
                )
            ]
            if wf.recovery_attempts > 0:
                # A direct start (a child) is its first dispatch: DBOS writes 1 at once.
                # More than one before limbo-tui saw it: told as a range, at its last write.
                first = wf.recovery_attempts == 1 and wf.created_at_ms is not None
                started = wf.created_at_ms if first and wf.created_at_ms else changed_at
                events.append(
                    TimelineEvent(
                        started,
                        wf.id,
                        "dispatch",
                        _dispatch_text(0, wf.recovery_attempts)
                        + ("" if first else ", before limbo-tui saw it"),
                        not first and observed,
                        wf.recovery_attempts,
                    )
                )
            return [self._add(e) for e in events]
        events = []
        if wf.recovery_attempts > old.recovery_attempts:
            events.append(
                TimelineEvent(
                    changed_at,
                    wf.id,
                    "dispatch",
                    _dispatch_text(old.recovery_attempts, wf.recovery_attempts),
                    observed,
                    wf.recovery_attempts,
                )
            )
        elif wf.recovery_attempts < old.recovery_attempts:
            events.append(
                TimelineEvent(
                    changed_at,
                    wf.id,
                    "dispatch",
                    f"recovery_attempts reset {old.recovery_attempts} -> "
                    f"{wf.recovery_attempts} (resumed)",
                    observed,
                    wf.recovery_attempts,
                )
            )
        if wf.status != old.status:
            events.append(
                TimelineEvent(changed_at, wf.id, "status", f"{old.status} -> {wf.status}", observed)
            )
        return [self._add(e) for e in events]

    def worker_event(self, text: str, now_ms: int) -> TimelineEvent:
        """A crash, a restart, a stop of limbo-tui's own worker: seen, not recorded by DBOS."""
        event = TimelineEvent(now_ms, None, "worker", text, observed=True)
        self._worker.append(event)
        return event

    def progress(
        self, attempts: Mapping[str, tuple[int, int, int]], now_ms: int
    ) -> list[TimelineEvent]:
        """The live step attempts the embedded worker reports: {id: (step, try, max)}."""
        out = []
        for wid, (step, attempt, max_attempts) in attempts.items():
            if self._attempts.get(wid) == (step, attempt):
                continue
            self._attempts[wid] = (step, attempt)
            out.append(
                self._add(
                    TimelineEvent(
                        now_ms,
                        wid,
                        "attempt",
                        f"{live_step_text(step, attempt, max_attempts)} running",
                        observed=True,
                    )
                )
            )
        return out

    def events(self, workflow_id: str) -> list[TimelineEvent]:
        """The workflow's story, oldest first, with the worker's crashes and restarts that
        happened while it was unfinished."""
        own = list(self._events.get(workflow_id, ()))
        if not own:
            return []
        start = min(e.at_ms for e in own)
        wf = self._last.get(workflow_id)
        end = None
        if wf is not None and wf.finished and wf.updated_at_ms is not None:
            end = wf.updated_at_ms
        worker = [w for w in self._worker if w.at_ms >= start and (end is None or w.at_ms <= end)]
        merged = own + [dataclasses.replace(w, workflow_id=workflow_id) for w in worker]
        # Stable: events of one instant keep the order they were seen in.
        return sorted(merged, key=lambda e: e.at_ms)

    def worker_events(self) -> list[TimelineEvent]:
        """The worker's crashes, restarts and stops of the session, oldest first."""
        return list(self._worker)

    def workflow_ids(self) -> list[str]:
        return [w for w, events in self._events.items() if events]
