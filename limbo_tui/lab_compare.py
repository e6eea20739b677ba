"""`limbo-tui lab compare A B`: the seed experiment on two DBOS releases, side by side.

Each release runs in its own process worker (its provisioned venv, `--dbos`), on a fresh
database of the embedded server made by its own migrations. The experiment is the
seed's: enqueue, the worker dies by SIGKILL at the crash point, restart, and again, until
the family is finished (or a number of rounds). After each launch settles (a crash, or
nothing moving for a while) the family's rows, the launch's recovery line and the
diagnoses in limbo are taken down; the first time a child is dead, a second enqueue with
the same dedup id shows whether the id is still held. Then the two runs are printed
round by round with the first point where they part: "does upgrading fix my limbo?".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from limbo_tui import model, releases
from limbo_tui.errors import LimboError
from limbo_tui.settings import Settings

if TYPE_CHECKING:
    from limbo_tui.pg.embedded import EmbeddedServer
    from limbo_tui.worker.process import ProcessWorker
    from limbo_tui.worker.protocol import ExperimentParams

FamilyRow = tuple[str, str, int, "str | None", "str | None"]

DEAD = model.MAX_RECOVERY_ATTEMPTS_EXCEEDED
_FINISHED = model.FINISHED_STATUSES
# A launch that neither crashes nor changes a row for this long has settled.
QUIET_S = 6.0
ROUND_TIMEOUT_S = 90.0
DEFAULT_ROUNDS = 7
# ProcessWorker's words for a shutdown that waited for a workflow that did not end.
STOP_WAITED = "still active"
_RECOVERY_LINE = re.compile(r"Recovering (\d+) workflows|No workflows to recover")


@dataclass(frozen=True)
class Moment:
    """One launch of the worker, once it settled."""

    label: str
    recovered: str
    rows: tuple[str, ...]
    limbo: tuple[str, ...]
    enqueue: str | None = None
    # How the worker's graceful stop after this launch went (a restart of a running
    # worker, or the end): DBOS's shutdown waits for the workflows still running.
    stop: str | None = None

    def lines(self) -> list[str]:
        out = [self.recovered, *self.rows]
        if self.limbo:
            out.append("‼ " + ", ".join(self.limbo))
        if self.enqueue:
            out.append(self.enqueue)
        if self.stop:
            out.append(f"stop: {self.stop}")
        return out

    @property
    def stop_waited(self) -> bool:
        return bool(self.stop) and STOP_WAITED in str(self.stop)

    def same(self, other: Moment) -> bool:
        return self.lines() == other.lines()


@dataclass
class ReleaseRun:
    """The seed experiment's launches on one release, as observed (not timeline.Timeline:
    that is a workflow's story from its rows)."""

    release: str
    moments: list[Moment] = field(default_factory=list)


def _database_name(release: str) -> str:
    return f"limbo_tui_compare_dbos_{release.replace('.', '_')}"


@contextmanager
def _fresh_database(server: EmbeddedServer, release: str) -> Iterator[str]:
    """A new database for this comparison (a previous comparison's is dropped first)."""
    from limbo_tui.pg.databases import create_database

    name = _database_name(release)
    create_database(server.url("postgres"), name, replace=True)
    yield server.url(name)


def _family_rows(url: str, schema: str, parent: str) -> list[FamilyRow]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(
            sql.SQL(
                "SELECT workflow_uuid, status, recovery_attempts, queue_name, deduplication_id "
                "FROM {}.workflow_status WHERE workflow_uuid = %s OR workflow_uuid LIKE %s "
                "ORDER BY workflow_uuid"
            ).format(sql.Identifier(schema)),
            (parent, parent.replace("%", r"\%").replace("_", r"\_") + "-%"),
        )
        return [(r[0], r[1], int(r[2] or 0), r[3], r[4]) for r in cur.fetchall()]


def _family_progress(url: str, schema: str, parent: str) -> tuple[list[FamilyRow], int]:
    """The family's rows and how many steps it has recorded: a launch whose children run
    their steps moves even while no workflow_status row changes."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {}.operation_outputs "
                "WHERE workflow_uuid = %s OR workflow_uuid LIKE %s"
            ).format(sql.Identifier(schema)),
            (parent, parent.replace("%", r"\%").replace("_", r"\_") + "-%"),
        ).fetchone()
    return _family_rows(url, schema, parent), int(row[0]) if row else 0


def _describe(parent: str, row: FamilyRow) -> str:
    wid, status, attempts, queue, dedup = row
    who = "parent" if wid == parent else f"child {wid[len(parent) :]}"
    text = f"{who} {status} rec {attempts}"
    if dedup:
        text += f" holds {dedup}"
    if queue and queue.startswith("_dbos"):
        text += f" on {queue}"
    return text


def _limbo_kinds(
    url: str, settings: Settings, family: set[str], down: frozenset[str]
) -> tuple[str, ...]:
    from limbo_tui.diagnose import diagnose
    from limbo_tui.feeds import read_snapshot
    from limbo_tui.limits import known_limits
    from limbo_tui.model import WorkflowGraph

    rows = asyncio.run(read_snapshot(url, settings))
    graph = WorkflowGraph().with_limits(known_limits(settings))
    graph.replace_all(rows)
    now = int(time.time() * 1000)
    found = [
        d.kind
        for d in diagnose(graph, now, settings.limbo, down)
        if d.severity == "limbo" and d.workflow_id in family
    ]
    return tuple(dict.fromkeys(found))


def _recovery_lines(log: Path) -> list[str]:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [f"recovered {m[1]}" if m[1] else "recovered 0" for m in _RECOVERY_LINE.finditer(text)]


def run_release(
    server: EmbeddedServer,
    release: str,
    settings: Settings,
    rounds: int = DEFAULT_ROUNDS,
    progress: Callable[[str], None] | None = None,
) -> ReleaseRun:
    """The seed experiment on one release, observed after every launch."""
    from limbo_tui.database import prepare_release_schema
    from limbo_tui.worker.process import ProcessWorker
    from limbo_tui.worker.protocol import DOWN, ExperimentParams

    say = progress or (lambda _text: None)
    releases.parse_release(release, "lab compare")
    schema = settings.database.schema
    run_settings = replace(
        settings,
        read_only=False,
        worker=replace(
            settings.worker, mode="process", dbos=release, python=None, auto_restart_s=0
        ),
    )
    log = server.data_dir.parent / f"compare-dbos-{release}.log"
    log.unlink(missing_ok=True)
    run = ReleaseRun(release)
    with _fresh_database(server, release) as url:
        say(f"dbos {release}: preparing its database with its own migrations")
        prepare_release_schema(url, schema, release)
        worker = ProcessWorker(url, run_settings, log_path=log)
        try:
            worker.start()
            if worker.state != "RUNNING":
                raise LimboError(f"dbos {release}: the worker did not start: {worker.detail}")
            params = ExperimentParams.from_settings(run_settings.experiment)
            # Counted before the launch's work starts: under load the worker can reach
            # its crash point before the (release helper's) enqueue has even returned.
            crashes = worker.crash_count
            enqueued = worker.enqueue_experiment(params)
            if not enqueued.ok or enqueued.workflow_id is None:
                raise LimboError(f"dbos {release}: enqueue failed: {enqueued.message}")
            parent = enqueued.workflow_id
            probed = False
            for number in range(1, rounds + 1):
                label = "launch 1 (enqueue)" if number == 1 else f"restart {number - 1}"
                say(f"dbos {release}: {label}")
                crashed = _settle(worker, url, schema, parent, crashes)
                rows = _family_rows(url, schema, parent)
                family = {r[0] for r in rows}
                down = (
                    frozenset({run_settings.worker.executor_id})
                    if worker.state == DOWN
                    else frozenset()
                )
                recovered = _recovery_lines(log)
                moment = Moment(
                    label=label,
                    recovered=(recovered[number - 1] if len(recovered) >= number else "recovered ?")
                    + ("; crashed at the crash point" if crashed else "; running"),
                    rows=tuple(_describe(parent, r) for r in rows),
                    limbo=_limbo_kinds(url, run_settings, family, down),
                )
                if not probed and any(r[1] == DEAD for r in rows):
                    probed = True
                    moment = replace(moment, enqueue=_probe_enqueue(worker, params, parent))
                run.moments.append(moment)
                if all(r[1] in _FINISHED for r in rows if r[0] == parent):
                    break
                stops = worker.stop_count
                crashes = worker.crash_count
                worker.restart()
                if worker.stop_count > stops:
                    stop = in_family_words(worker.last_stop, [r[0] for r in rows], parent)
                    run.moments[-1] = replace(moment, stop=stop)
            if worker.state == "RUNNING" and run.moments:
                # The end, as the seed's Ctrl+C: does this release's shutdown wait?
                worker.stop_gracefully()
                stop = in_family_words(worker.last_stop, [r[0] for r in rows], parent)
                run.moments[-1] = replace(run.moments[-1], stop=stop)
        finally:
            worker.stop()
    return run


def in_family_words(text: str, ids: list[str], parent: str) -> str:
    """A stop's outcome with the family's short ids as the rows name them, so that two
    releases' runs (different ids) read the same where they behave the same."""
    from limbo_tui.model import short_id

    # Children first: a child's short id starts with its parent's.
    for wid in sorted(ids, key=len, reverse=True):
        if wid == parent:
            text = text.replace(short_id(wid), "the parent")
        else:
            text = text.replace(short_id(wid, parent), f"child {wid[len(parent) :]}")
    return text


def _settle(worker: ProcessWorker, url: str, schema: str, parent: str, crashes: int) -> bool:
    """Wait until this launch crashed (True) or stopped moving (False): no row and no
    step recorded for QUIET_S. The quiet time counts from when the worker is up: a slow
    start (or slow steps on a loaded machine) is not a settled launch. `crashes` is the
    crash count from before the launch began."""
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    last = _family_progress(url, schema, parent)
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if worker.crash_count > crashes:
            time.sleep(0.5)  # what the dead process committed is all there is
            return True
        if worker.state != "RUNNING":
            continue
        now = _family_progress(url, schema, parent)
        if quiet_since is None or now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_S:
            return False
    return False


def _probe_enqueue(worker: ProcessWorker, params: ExperimentParams, parent: str) -> str:
    """A second enqueue with the same dedup id, as the seed's user did. When accepted,
    the probe (crash point off) is cancelled at once so that it changes nothing else."""
    probe = params.replace(crash_child=None)
    result = worker.enqueue_experiment(probe)
    dedup = probe.effective_dedup_id
    if result.ok and result.workflow_id:
        worker.actions.cancel(result.workflow_id)
        return f"second enqueue with {dedup}: accepted"
    if result.holder_id == parent:
        return (
            f"second enqueue with {dedup}: rejected, the parent holds it ({result.holder_status})"
        )
    return f"second enqueue with {dedup}: rejected ({result.message})"


def first_difference(a: ReleaseRun, b: ReleaseRun) -> int | None:
    """The index of the first moment where the two runs part, if any."""
    for index in range(max(len(a.moments), len(b.moments))):
        if index >= len(a.moments) or index >= len(b.moments):
            return index
        if not a.moments[index].same(b.moments[index]):
            return index
    return None


def first_limbo(run: ReleaseRun) -> Moment | None:
    return next((m for m in run.moments if m.limbo), None)


def render(a: ReleaseRun, b: ReleaseRun) -> str:
    """Both runs, launch by launch, then where they part, and where each is in limbo."""
    longest = max((len(line) for m in a.moments for line in m.lines()), default=20)
    width = min(max(longest, len(a.release) + 5), 72)
    out: list[str] = [f"{'dbos ' + a.release:<{width}} │ dbos {b.release}"]
    parted = first_difference(a, b)
    for index in range(max(len(a.moments), len(b.moments))):
        left = a.moments[index] if index < len(a.moments) else None
        right = b.moments[index] if index < len(b.moments) else None
        label = (left or right).label  # type: ignore[union-attr]
        mark = "  (the same)" if left and right and left.same(right) else "  ≠"
        out.append("")
        out.append(f"── {label}{mark}")
        left_lines = left.lines() if left else ["(finished earlier)"]
        right_lines = right.lines() if right else ["(finished earlier)"]
        for index_line in range(max(len(left_lines), len(right_lines))):
            l_text = left_lines[index_line] if index_line < len(left_lines) else ""
            r_text = right_lines[index_line] if index_line < len(right_lines) else ""
            out.append(f"{l_text[:width]:<{width}} │ {r_text}")
    out.append("")
    if parted is None:
        out.append(f"dbos {a.release} and dbos {b.release} behave the same on the seed experiment.")
    else:
        left = a.moments[parted] if parted < len(a.moments) else None
        right = b.moments[parted] if parted < len(b.moments) else None
        label = (left or right).label  # type: ignore[union-attr]
        out.append(f"first difference: {label}")
        out.append(f"  dbos {a.release}: " + ("; ".join(left.lines()) if left else "finished"))
        out.append(f"  dbos {b.release}: " + ("; ".join(right.lines()) if right else "finished"))
    for run in (a, b):
        waited = [m.label for m in run.moments if m.stop_waited]
        said = (
            f"its shutdown waited for a workflow that never ended after {', '.join(waited)}"
            if waited
            else "its shutdown never waited for a stuck workflow"
        )
        out.append(f"dbos {run.release}: {said}")
    for run in (a, b):
        limbo = first_limbo(run)
        where = (
            f"in limbo from {limbo.label} ({', '.join(limbo.limbo)})" if limbo else "never in limbo"
        )
        out.append(f"dbos {run.release}: {where}")
    return "\n".join(out)


def run_compare(
    settings: Settings, first: str, second: str, out: TextIO, rounds: int = DEFAULT_ROUNDS
) -> int:
    """`limbo-tui lab compare FIRST SECOND`: both experiments on the embedded server."""
    import sys

    from limbo_tui.database import embedded_server

    for release in (first, second):
        releases.parse_release(release, "lab compare")
    if settings.database.url is not None:
        raise LimboError(
            "lab compare runs on limbo-tui's own embedded server (it creates and drops its "
            "databases): run it without --db-url"
        )
    server = embedded_server(settings)
    server.ensure_running()
    try:

        def say(text: str) -> None:
            print(f"limbo-tui: {text}", file=sys.stderr, flush=True)

        runs = [run_release(server, r, settings, rounds, say) for r in (first, second)]
    finally:
        server.stop()
    print(render(runs[0], runs[1]), file=out)
    return 0
