"""The worker contract the UI and the CLI program against (ARCHITECTURE.md, "Worker and
actions"), and the small value types that cross it.

Three implementations: ThreadWorker (DBOS on a thread of this process), ProcessWorker
(DBOS in a child process) and NoWorker (`--worker none`: monitor only). Every method is
blocking; the UI calls them from thread workers, never on its event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from limbo_tui.settings import ExperimentSettings, out_of_bounds

if TYPE_CHECKING:
    from limbo_tui.model import RegisteredMax
    from limbo_tui.pg.dbos_schema import SchemaVersion

WorkerState = Literal["STARTING", "RUNNING", "STOPPING", "DOWN", "ELSEWHERE", "NONE"]
STARTING: WorkerState = "STARTING"
RUNNING: WorkerState = "RUNNING"
# A graceful stop (r, q) in progress: DBOS waits for the workflows still running.
STOPPING: WorkerState = "STOPPING"
DOWN: WorkerState = "DOWN"
# The executor id's worker runs in another limbo-tui on this database: not ours to start.
ELSEWHERE: WorkerState = "ELSEWHERE"
# The state of `--worker none`: there is no embedded worker at all.
NONE: WorkerState = "NONE"

# The DBOS application name of limbo-tui's worker. DBOS 3.x records it on queues and
# workflows; queues are owned by one application, so it must never change.
APP_NAME = "limbo-tui"

_DEFAULTS = ExperimentSettings()


@dataclass(frozen=True)
class StepProgress:
    """The step a workflow of the embedded worker runs right now, and its try.

    attempt is 1-based (DBOS's current_attempt + 1) so that the UI prints it as is:
    `step 3 (try 2/3)`. Only limbo-tui's own worker can report this: DBOS does not
    persist retry attempts.
    """

    workflow_id: str
    step_id: int
    name: str
    attempt: int
    max_attempts: int
    updated_at: float  # time.time() of the report


@dataclass(frozen=True)
class ShutdownWait:
    """A graceful stop in progress: DBOS.destroy waits up to wait_s for the workflows
    still running in the worker; `active` are the ids its last waiting line named
    (empty until DBOS's first check, a second in)."""

    wait_s: int
    started_at: float  # time.monotonic() of the stop request
    active: tuple[str, ...] = ()
    # limbo-tui's own bound: past it the worker process is killed (SIGKILL).
    kill_after_s: float = 0.0


@dataclass(frozen=True)
class ExperimentParams:
    """One run of the seed experiment: a parent with `children` children run one after
    the other, each with `steps` steps; the step (crash_child, crash_step) crashes the
    worker every time it is reached (None: no crash point). Numbered as DBOS numbers them
    (numbering.py): crash_child is the child's id suffix (1, 3, 5, ...: see
    child_function_ids), crash_step the step's function id in the child (1..steps)."""

    # The defaults are the settings' (settings.py holds them).
    children: int = _DEFAULTS.children
    steps: int = _DEFAULTS.steps
    crash_child: int | None = _DEFAULTS.crash_child
    crash_step: int = _DEFAULTS.crash_step
    step_delay_ms: int = _DEFAULTS.step_delay_ms
    step_max_attempts: int = _DEFAULTS.step_max_attempts
    # Probability that one attempt of a step raises a (retried) error; 0 = never.
    step_fail_rate: float = 0.0
    queue: str = _DEFAULTS.queue
    # None: the seed's default "<children>/<steps>"; "" enqueues with no dedup id.
    dedup_id: str | None = None

    @classmethod
    def from_settings(cls, exp: ExperimentSettings, **overrides: object) -> ExperimentParams:
        base = cls(
            children=exp.children,
            steps=exp.steps,
            crash_child=exp.crash_child if exp.crash_enabled else None,
            crash_step=exp.crash_step,
            step_delay_ms=exp.step_delay_ms,
            step_max_attempts=exp.step_max_attempts,
            queue=exp.queue,
        )
        return base.replace(**overrides) if overrides else base

    def replace(self, **changes: object) -> ExperimentParams:
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def effective_dedup_id(self) -> str | None:
        if self.dedup_id is None:
            return f"{self.children}/{self.steps}"
        return self.dedup_id or None

    def validate(self) -> str | None:
        """A one-line reason why these parameters cannot run, or None."""
        for name in ("children", "steps", "step_max_attempts", "step_delay_ms"):
            problem = out_of_bounds(name, getattr(self, name))
            if problem is not None:
                return problem
        if not 0.0 <= self.step_fail_rate < 1.0:
            return "step fail rate must be in [0, 1)"
        if self.crash_child is not None:
            crash = crash_point_problem(
                self.crash_child, self.crash_step, self.children, self.steps
            )
            return str(crash) if crash else None
        return None

    def workflow_input(self) -> dict[str, object]:
        """What the parent workflow receives: plain JSON-able data, so any reader of the
        database (and limbo-tui's safe display) can show it."""
        return {
            "children": self.children,
            "steps": self.steps,
            "crash_child": self.crash_child,
            "crash_step": self.crash_step,
            "step_delay_ms": self.step_delay_ms,
            "step_max_attempts": self.step_max_attempts,
            "step_fail_rate": self.step_fail_rate,
        }


def child_function_ids(children: int) -> list[int]:
    """The function ids at which the demo parent starts its children, and so their id
    suffixes (`<parent id>-1`, `-3`, ...): it starts each child and waits for it
    (DBOS.getResult, the next function id) before starting the next."""
    return [2 * k + 1 for k in range(children)]


def child_ids_text(children: int) -> str:
    """`-1, -3, -5` (`-1, -3, …, -11` when there are many): the demo's child suffixes."""
    ids = [f"-{n}" for n in child_function_ids(children)]
    return ", ".join(ids if len(ids) <= 4 else [*ids[:2], "…", ids[-1]])


@dataclass(frozen=True)
class CrashPointProblem:
    """Why a crash point is not a step of its experiment: the field at fault
    ("crash_child" or "crash_step"), its value and the reason ("is not a child: ...")."""

    field: str
    value: int
    reason: str

    def __str__(self) -> str:
        return f"{self.field.replace('_', ' ')} {self.value} {self.reason}"


def crash_point_problem(
    child: int, step: int, children: int, steps: int
) -> CrashPointProblem | None:
    """The one check of a crash point (config file, E form, enqueue): None when (child,
    step) is a step of the experiment."""
    if child not in child_function_ids(children):
        return CrashPointProblem(
            "crash_child",
            child,
            f"is not a child: the {children} children's ids end with "
            f"{child_ids_text(children)} (a child's id suffix is the function id that "
            "started it in the parent)",
        )
    if not 1 <= step <= steps:
        return CrashPointProblem(
            "crash_step", step, f"is not a step: a child's steps are 1-{steps} (function ids)"
        )
    return None


@dataclass(frozen=True)
class EnqueueResult:
    ok: bool
    message: str
    workflow_id: str | None = None
    # On a dedup rejection: the workflow that holds the dedup id, and its status.
    holder_id: str | None = None
    holder_status: str | None = None


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    workflow_id: str | None = None


# Called (from a worker thread) whenever the worker's state or detail changes.
StateListener = Callable[[WorkerState, str], None]


class WorkflowActions(Protocol):
    """What the UI asks of worker/actions.py's Actions: each returns a result with `ok` and
    a one-line message; they work on any workflow, with the worker down or with none."""

    def cancel(self, workflow_id: str, children: bool = False) -> ActionResult: ...

    def resume(self, workflow_id: str) -> ActionResult: ...

    def fork(
        self, workflow_id: str, start_step: int, application_version: str | None = None
    ) -> ActionResult: ...

    def send(self, workflow_id: str, topic: str | None, message: str) -> ActionResult: ...

    def enqueue_experiment(self, params: ExperimentParams) -> EnqueueResult: ...

    def can_cancel_children(self) -> bool:
        """Whether cancel can take the children too (DBOS 2.24+)."""
        ...

    def know_schema(self, schema: SchemaVersion) -> None:
        """The database's schema version, read already (it says which release acts)."""
        ...


class Worker(Protocol):
    """What the UI needs from an embedded worker (or from its absence)."""

    @property
    def state(self) -> WorkerState: ...

    @property
    def detail(self) -> str:
        """One line on the current state: why it is DOWN, what it recovered, ..."""
        ...

    @property
    def executor_id(self) -> str | None: ...

    @property
    def log_path(self) -> str | None: ...

    def start(self) -> None: ...

    def crash(self) -> None: ...

    def restart(self) -> None: ...

    def stop(self) -> None: ...

    def stop_gracefully(self) -> str:
        """Stop as Ctrl+C on a DBOS app does (DBOS waits for its active workflows, up to
        [worker] shutdown_wait_s), bounded by limbo-tui; returns what happened, one line."""
        ...

    def shutdown_wait(self) -> ShutdownWait | None:
        """The graceful stop in progress, if any."""
        ...

    def enqueue_experiment(self, params: ExperimentParams) -> EnqueueResult: ...

    def step_progress(self) -> dict[str, StepProgress]: ...

    def max_recovery_attempts(self) -> dict[str, int]:
        """{workflow name: max_recovery_attempts} as this worker registered them (asked
        once it runs; {} for none)."""
        ...

    def registered_history(self) -> dict[str, RegisteredMax]:
        """The maxima kept by earlier sessions: {workflow id: what it was dispatched with}."""
        ...

    def keep_registered(self, seen: Mapping[str, RegisteredMax]) -> None:
        """Keep what this session saw its worker dispatch (in a lab that may be written)."""
        ...

    @property
    def actions(self) -> WorkflowActions: ...
