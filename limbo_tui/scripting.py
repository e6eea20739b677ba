"""The scripting commands, `limbo-tui snapshot` and `limbo-tui watch --json`: the tree and
diagnoses for scripts, from the TUI's own MonitorState (one copy of the rules and of the
incremental diagnosis).

Both only read: no trigger install when settings.read_only (then watch polls), never a
write of any other kind. Errors are raised as LimboError for cli.main to print (exit 1
database, 2 usage); the return value is the exit status (0, or 3 when something is in
limbo for `snapshot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TextIO

from limbo_tui.backlog import partial_groups, totals_json, totals_line
from limbo_tui.bounded_output import BoundedOutput, is_pipe_or_file
from limbo_tui.diagnose import Diagnosis, ordered
from limbo_tui.dispatch_count import allowed_dispatches, dispatch_text, over_max_reason
from limbo_tui.errors import EXIT_LIMBO, EXIT_OK
from limbo_tui.feeds import Feed, existing_ids, make_feed, read_snapshot
from limbo_tui.fleet import FleetIndex
from limbo_tui.gc_pauses import freeze_long_lived
from limbo_tui.model import Workflow, WorkflowGraph, short_id
from limbo_tui.monitor_state import FeedFacts, Frame, MonitorState
from limbo_tui.pg.feed import FeedBatch, FeedState
from limbo_tui.pg.registered_max import registered_history
from limbo_tui.queues import queue_views
from limbo_tui.server_clock import ServerClock
from limbo_tui.settings import LimboSettings, Settings
from limbo_tui.terminal_text import safe_text
from limbo_tui.time_text import iso
from limbo_tui.timeline import TimelineEvent
from limbo_tui.urls import mask, validate_schema_name

JSON_VERSION = 1
LIMBO = "limbo"
# How often watch re-evaluates time-based diagnoses (stalled, stuck-enqueued) by itself.
DIAGNOSE_EVERY_S = 1.0


def now_iso() -> str:
    return iso(int(time.time() * 1000)) or ""


def tree_order(graph: WorkflowGraph) -> list[str]:
    """Every workflow of the graph, root by root (newest first), depth first."""
    order: list[str] = []
    seen: set[str] = set()
    for root in graph.roots():
        for wid in graph.family(root):
            if wid in graph.workflows and wid not in seen:
                seen.add(wid)
                order.append(wid)
    # A parent cycle has no root: still show its members.
    order.extend(w for w in graph.workflows if w not in seen)
    return order


def workflow_json(graph: WorkflowGraph, wid: str) -> dict[str, Any]:
    wf = graph.workflows[wid]
    counts = graph.step_counts(wid)
    maximum, source = graph.known_max(wid)
    return {
        "id": wf.id,
        "name": wf.name,
        "status": wf.status,
        # The graph's link: parent_workflow_id, or the parent's child-call step (2.8).
        "parent_id": graph.parent_of(wid) or wf.parent_id,
        "children": graph.children(wid),
        "queue": wf.queue,
        "dedup_id": wf.dedup_id,
        "executor_id": wf.executor_id,
        "app_version": wf.app_version,
        "recovery_attempts": wf.recovery_attempts,
        # The workflow's own maximum: "worker" (what the worker that dispatched it
        # registered), "config" ([limits]) or null with the maximum unknown.
        "max_recovery_attempts": maximum,
        "max_recovery_attempts_source": source,
        "dispatches_allowed": allowed_dispatches(maximum),
        # Why recovery_attempts is above dispatches_allowed (null when it is not).
        "over_max": over_max_reason(wf.recovery_attempts, maximum, wf.status),
        "created_at": iso(wf.created_at_ms),
        "updated_at": iso(wf.updated_at_ms),
        "steps_completed": counts.steps_completed,
        "steps_failed": counts.steps_failed,
    }


def diagnosis_json(d: Diagnosis) -> dict[str, Any]:
    return {
        "workflow_id": d.workflow_id,
        "kind": d.kind,
        "severity": d.severity,
        "reason": d.reason,
        "action": d.action,
    }


def snapshot_json(
    graph: WorkflowGraph,
    diagnoses: list[Diagnosis],
    url: str,
    taken_at_ms: int,
    limbo: LimboSettings | None = None,
) -> dict[str, Any]:
    index = FleetIndex()
    index.reset(graph)
    fleet = index.fleet(graph, taken_at_ms, limbo or LimboSettings())
    queues = queue_views(graph, index, fleet, taken_at_ms)
    executors = [
        {"id": ex, "last_write_at": iso(write), "version": version, "live": ex in fleet.live}
        for ex, (write, version) in sorted(index.executors().items())
    ]
    return {
        "version": JSON_VERSION,
        "database": mask(url),
        "taken_at": iso(taken_at_ms),
        "workflows": [workflow_json(graph, wid) for wid in tree_order(graph)],
        "diagnoses": [diagnosis_json(d) for d in diagnoses],
        # The database's true counts: a backlog larger than what is loaded says so here.
        "totals": totals_json(graph, iso),
        # Each queue: settings, counts by executor, oldest wait, held dedup ids, blocked.
        "queues": [view.as_dict() for view in queues],
        # Each executor seen: its newest write, the version it last ran, live or silent.
        "executors": executors,
        "release": graph.registry.release.label or None,
    }


def exit_status(diagnoses: Iterable[Diagnosis]) -> int:
    return EXIT_LIMBO if any(d.severity == LIMBO for d in diagnoses) else EXIT_OK


# -- text rendering ------------------------------------------------------------------
def text_lines(graph: WorkflowGraph, diagnoses: list[Diagnosis], url: str) -> list[str]:
    flagged: dict[str, str] = {}
    for d in diagnoses:
        if d.severity == LIMBO or d.workflow_id not in flagged:
            flagged[d.workflow_id] = d.severity
    lines = [f"database {safe_text(mask(url))}  taken {now_iso()}", totals_line(graph)]
    for group in partial_groups(graph):
        queue = f" on queue {safe_text(group.queue)}" if group.queue else ""
        lines.append(
            f"  {group.status}{queue}: {graph.loaded_in(group):,} newest of {group.count:,} "
            "loaded (snapshot --json has the totals)"
        )
    if not graph.workflows:
        lines.append("no workflows")
    depth: dict[str, int] = {}
    for wid in tree_order(graph):
        wf = graph.workflows[wid]
        parent = graph.parent_of(wid)
        depth[wid] = depth.get(parent, -1) + 1 if parent in depth else 0
        lines.append("  " * depth[wid] + _line(graph, wf, parent, flagged.get(wid)))
    if diagnoses:
        lines.append("")
        lines.append(f"diagnoses ({len(diagnoses)}):")
        for d in diagnoses:
            subject = graph.workflows.get(d.workflow_id)
            who = short_id(d.workflow_id, graph.parent_of(d.workflow_id))
            name = f" {subject.name}" if subject and subject.name else ""
            lines.append(
                f"  {d.severity.upper():7} {d.kind} {safe_text(who)}{safe_text(name)}: "
                f"{safe_text(d.reason)}"
            )
            lines.append(f"          -> {safe_text(d.action)}")
    else:
        lines.append("")
        lines.append("nothing in limbo")
    # Every field above is sanitised where it is formatted; this pass makes sure no text
    # from the database reaches the terminal raw, whatever a later field forgets.
    return [safe_text(line) for line in lines]


def _line(graph: WorkflowGraph, wf: Workflow, parent: str | None, flag: str | None) -> str:
    max_rec, source = graph.known_max(wf.id)
    counts = graph.step_counts(wf.id)
    parts = [
        ("!! " if flag == LIMBO else "") + safe_text(wf.status, 40),
        safe_text(wf.name or "?", 60),
        safe_text(short_id(wf.id, parent)),
        dispatch_text(wf.recovery_attempts, max_rec, wf.status, short=True, source=source),
        f"steps {counts.steps_completed}"
        + (f" ({counts.steps_failed} failed)" if counts.steps_failed else ""),
    ]
    if wf.queue:
        parts.append(f"queue {safe_text(wf.queue, 40)}")
    if wf.dedup_id:
        parts.append(f"dedup {safe_text(wf.dedup_id, 40)}")
    return "  ".join(parts)


# -- snapshot --------------------------------------------------------------------------
def snapshot_state(url: str, settings: Settings, clock: ServerClock) -> MonitorState:
    """The TUI's own state, given one snapshot read now: the same limits, rules and
    diagnoses, and the maxima a lab kept (each workflow's own, where its worker was
    limbo-tui's). The diagnoses read `clock`, the server's (another host's may be
    minutes off)."""
    validate_schema_name(settings.database.schema)
    rows = asyncio.run(read_snapshot(url, settings, clock))
    state = MonitorState(settings, clock=clock.now_ms)
    state.graph.remember(registered_history(url, settings))
    state.apply(FeedBatch(rows, full=True))
    return state


def run_snapshot(url: str, settings: Settings, as_json: bool) -> int:
    """Print the tree and diagnoses once; 3 when anything is in limbo, else 0."""
    state = snapshot_state(url, settings, ServerClock())
    frame = state.frame()
    _warn(frame.new_problems)
    graph, taken, diagnoses = frame.graph, frame.now_ms, state.diagnoses
    out = sys.stdout
    if as_json:
        doc = snapshot_json(graph, diagnoses, url, taken, settings.limbo)
        out.write(json.dumps(doc) + "\n")
    else:
        out.write("\n".join(text_lines(graph, diagnoses, url)) + "\n")
    out.flush()
    return exit_status(diagnoses)


def _warn(problems: Iterable[str]) -> None:
    """A batch that could not be applied, a rule that failed: said on stderr, once."""
    for problem in problems:
        print(f"limbo-tui: {safe_text(problem)}", file=sys.stderr, flush=True)


# -- watch -----------------------------------------------------------------------------
class Watcher:
    """Turns feed batches into JSON lines: workflow insert/update/delete, diagnosis
    appear/clear and feed state changes, from the TUI's MonitorState (a batch
    re-diagnoses only what it can reach). Pure apart from writing to `out`."""

    def __init__(
        self,
        settings: Settings,
        out: TextIO,
        sink: Callable[[str], None] | None = None,
        server_clock: ServerClock | None = None,
    ) -> None:
        self.settings = settings
        self.out = out
        # Where lines go instead of `out` (run_watch: a BoundedOutput on a pipe).
        self._sink = sink
        # Diagnoses read the server's clock; the feed keeps measuring it.
        self.server_clock = server_clock or ServerClock()
        self.state = MonitorState(settings, clock=self.server_clock.now_ms)
        # What the reader was told: each workflow's last line, each diagnosis.
        self._shown: dict[str, dict[str, Any]] = {}
        self._diagnoses: dict[tuple[str, str], Diagnosis] = {}
        # Asked which of these ids still have a row (a resync's snapshot is bounded:
        # a workflow outside it may exist, and only a row that is gone is a delete).
        self.still_there: Callable[[list[str]], Awaitable[set[str]]] | None = None
        self._checks: set[asyncio.Task[None]] = set()
        self._feed_state: str | None = None
        self._first_batch = True
        # Lines of the batch (or tick) being written, sent out together (see _together).
        self._held: list[str] | None = None

    @property
    def graph(self) -> WorkflowGraph:
        return self.state.graph

    def write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj) + "\n"
        if self._held is not None:
            self._held.append(line)
        else:
            self._put(line)

    def _put(self, text: str) -> None:
        if self._sink is not None:
            self._sink(text)
            return
        self.out.write(text)
        self.out.flush()

    @contextlib.contextmanager
    def _together(self) -> Iterator[None]:
        """The lines written meanwhile go out in one write: a batch's rows, diagnoses and
        timeline reach the reader at once (one system call and one wake-up of the reader
        per batch, not one per line)."""
        if self._held is not None:
            yield
            return
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held:
                self._put("".join(held))

    def forget(self) -> None:
        """The reader missed lines: what follows the next snapshot is the whole picture."""
        self._shown.clear()
        self._diagnoses.clear()
        self._feed_state = None

    def on_batch(self, batch: FeedBatch) -> None:
        first = self._first_batch
        with self._together():
            self._on_batch(batch)
        if first:
            freeze_long_lived()  # the first snapshot is told (see gc_pauses)

    def _on_batch(self, batch: FeedBatch) -> None:
        events = self.state.apply(batch)
        if self._first_batch:
            # The first snapshot is where the story starts, not a change: its workflows
            # are its insert lines.
            self._first_batch = False
            events = []
        frame = self.state.frame()
        _warn(frame.new_problems)
        graph = frame.graph
        if batch.full:
            # Shown before, not in this snapshot: gone, or only out of its bounds. Those
            # stay as last shown until a check of their rows says which.
            vanished = sorted(w for w in self._shown if w not in graph.workflows)
            self._emit_workflows((set(graph.workflows) | frame.changed) - set(vanished))
            self._check_vanished(vanished)
        else:
            self._emit_workflows(frame.changed)
        self._emit_diagnoses(frame)
        # After the rows they explain: a reader has the workflow before its story.
        self._emit_timeline(events)

    def _emit_timeline(self, events: Iterable[TimelineEvent]) -> None:
        for e in events:
            line = {"type": "timeline", "at": iso(e.at_ms), **e.as_json()}
            self.write(line)

    def on_state(self, state: FeedState) -> None:
        self.state.feed_changed(FeedFacts.of(state))
        if state.state == self._feed_state:
            return  # events/s updates are for the screen, not for scripts
        self._feed_state = state.state
        self.write({"type": "feed", "state": state.state, "at": now_iso(), "detail": state.detail})

    def _emit_workflows(self, ids: Iterable[str]) -> None:
        at = now_iso()
        for wid in sorted(ids, key=self._order_key):
            old = self._shown.get(wid)
            if wid in self.graph.workflows:
                new = workflow_json(self.graph, wid)
                if new == old:
                    continue
                self._shown[wid] = new
                op = "insert" if old is None else "update"
                self.write({"type": "workflow", "op": op, "at": at, "workflow": new})
            elif old is not None:
                del self._shown[wid]
                self.write({"type": "workflow", "op": "delete", "at": at, "workflow": old})

    def _order_key(self, wid: str) -> tuple[int, str]:
        # Parents before children on insert: created_at then id.
        wf = self.graph.workflows.get(wid)
        return ((wf.created_at_ms or 0) if wf else 0, wid)

    def _check_vanished(self, ids: list[str]) -> None:
        if not ids or self.still_there is None:
            return
        task = asyncio.get_running_loop().create_task(self._confirm_gone(ids, self.still_there))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _confirm_gone(
        self, ids: list[str], still_there: Callable[[list[str]], Awaitable[set[str]]]
    ) -> None:
        try:
            there = await still_there(ids)
        except Exception:
            return  # unknown: a workflow is never called deleted on a guess
        at = now_iso()
        with self._together():
            for wid in ids:
                old = self._shown.get(wid)
                if wid in there or wid in self.graph.workflows or old is None:
                    continue
                del self._shown[wid]
                self.write({"type": "workflow", "op": "delete", "at": at, "workflow": old})

    def rediagnose(self) -> None:
        """Time passed: what the clock can change is diagnosed again."""
        self.state.tick(self.server_clock.now_ms())
        frame = self.state.frame()
        _warn(frame.new_problems)
        with self._together():
            self._emit_diagnoses(frame)

    def _emit_diagnoses(self, frame: Frame) -> None:
        """Write what differs from what the reader was told: after a new snapshot every
        workflow is compared (the reader may have missed lines), else the rediagnosed."""
        if frame.rebuild:
            ids = set(frame.graph.workflows) | {w for w, _ in self._diagnoses}
        else:
            ids = set(frame.diagnosed)
        clears: list[Diagnosis] = []
        appears: list[Diagnosis] = []
        told: dict[str, set[str]] = {}
        for wid, kind in self._diagnoses:
            told.setdefault(wid, set()).add(kind)
        for wid in ids:
            current = {d.kind: d for d in self.state.diagnoses_of(wid)}
            for kind in told.get(wid, set()) - set(current):
                clears.append(self._diagnoses.pop((wid, kind)))
            for kind, d in current.items():
                old = self._diagnoses.get((wid, kind))
                if old == d:
                    continue
                if old is not None:  # same kind, new wording: clear the old line first
                    clears.append(old)
                appears.append(d)
                self._diagnoses[(wid, kind)] = d
        at = now_iso()
        for d in ordered(frame.graph, clears):
            self.write(
                {"type": "diagnosis", "op": "clear", "at": at, "diagnosis": diagnosis_json(d)}
            )
        for d in ordered(frame.graph, appears):
            self.write(
                {"type": "diagnosis", "op": "appear", "at": at, "diagnosis": diagnosis_json(d)}
            )


def run_watch(
    url: str,
    settings: Settings,
    out: TextIO | None = None,
    *,
    revive: Callable[[], None] | None = None,
) -> int:
    """One JSON line per change until SIGINT / SIGTERM (then exit 0, no traceback).

    revive: see LiveFeed (restarts the shared embedded server if its owner quit)."""
    validate_schema_name(settings.database.schema)
    try:
        return asyncio.run(_watch(url, settings, out or sys.stdout, revive))
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`| head`): a normal end for a filter. Point stdout at
        # /dev/null so that the interpreter's final flush does not complain.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


async def _watch(
    url: str, settings: Settings, out: TextIO, revive: Callable[[], None] | None
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    # An unread pipe must never stall the loop (and with it the LISTEN connection, whose
    # backend would hold the server's NOTIFY queue): lines go out without blocking; when
    # the reader falls LIMIT_BYTES behind, the feed lets go of the database until the
    # reader has caught up, then a `resync` line and the whole picture follow.
    output: BoundedOutput | None = None
    fd = _fileno(out)
    restart = asyncio.Event()
    if fd is not None and is_pipe_or_file(fd):
        out.flush()
        output = BoundedOutput(
            fd,
            loop,
            on_overflow=lambda: restart.set(),
            on_drained=lambda: restart.set(),
        )
    watcher = Watcher(settings, out, output.write_line if output is not None else None)
    watcher.graph.remember(await asyncio.to_thread(registered_history, url, settings))

    async def still_there(ids: list[str]) -> set[str]:
        return await existing_ids(url, settings, ids)

    watcher.still_there = still_there

    def new_feed() -> Feed:
        return make_feed(
            url,
            settings,
            watcher.on_batch,
            watcher.on_state,
            revive=revive,
            server_clock=watcher.server_clock,
        )

    feed = new_feed()
    running = True
    try:
        await feed.start()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), DIAGNOSE_EVERY_S)
            if restart.is_set() and output is not None:
                restart.clear()
                if output.overflowed and running:
                    await feed.stop()
                    running = False
                elif not output.overflowed and not running:
                    watcher.forget()
                    watcher.write(
                        {
                            "type": "resync",
                            "at": now_iso(),
                            "detail": "the reader fell behind and lines were dropped; "
                            "what follows is the whole picture",
                        }
                    )
                    feed = new_feed()
                    await feed.start()
                    running = True
            if not stop.is_set() and running:
                watcher.rediagnose()
    finally:
        await feed.stop()
        if output is not None:
            output.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    return EXIT_OK


def _fileno(out: TextIO) -> int | None:
    try:
        return out.fileno()
    except (AttributeError, OSError, ValueError):
        return None
