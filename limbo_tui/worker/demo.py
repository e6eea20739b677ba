"""The seed experiment as real DBOS workflows (see /work/shared/seed).

Stable names, recorded in workflow_status.name and operation_outputs.function_name:

- `limbo_demo.parent` (PARENT_NAME): enqueued on the experiment queue (`example-queue`)
  with deduplication id "<children>/<steps>"; starts its children ONE AFTER THE OTHER,
  each with DBOS.start_workflow and waits for it (handle.get_result()), like the seed.
  Its child ids are DBOS's defaults, `<parent id>-<function id>`.
- `limbo_demo.child` (CHILD_NAME): runs `steps` steps, one DBOS step each.
- `limbo_demo.step` (STEP_NAME): one step, with DBOS retries (max attempts from the
  input), a short random delay, and the crash point: when (child, step) is the crash
  point, the worker crashes EVERY time the step is reached, like the seed's segfault.
  The crash point is numbered as DBOS numbers it (numbering.py): the child's id suffix
  (1, 3, 5, ...) and the step's function id in it (1..steps).

The parameters travel in the parent's input (plain JSON-able dict), so a recovered
workflow crashes at the same place again. max_recovery_attempts is a decorator argument
in DBOS; DBOS reads it from the function's registration info at every dispatch, so
`configure()` sets it there from the settings when a worker starts (registration itself
happens once, at import, under the stable names).

The crash and the sleeps go through a CrashHost installed by whoever hosts DBOS: the
process worker's host SIGKILLs its own process; the thread worker's host trips its crash
guard (see crash_guard.py), so that a sleeping step wakes up dead at once.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from dbos import DBOS

from limbo_tui.limits import DEMO_CHILD, DEMO_PARENT, DEMO_STEP
from limbo_tui.numbering import (
    child_function_id,
    child_text,
    crash_point_text,
    step_text,
    try_text,
)
from limbo_tui.worker import dbos_internals, progress

PARENT_NAME = DEMO_PARENT
CHILD_NAME = DEMO_CHILD
STEP_NAME = DEMO_STEP

# Pause between two tries of a failed step (DBOS step retries, backoff 2x).
RETRY_INTERVAL_S = 0.2

log = logging.getLogger("dbos")
# The steps' jitter and failures draw from a generator of their own: in a thread worker
# they run inside limbo-tui's process (and the tests'), whose global `random` is not ours
# to move (Hypothesis notes any draw on it while it generates data).
_random = random.Random()


class TransientStepError(Exception):
    """A step try that failed on purpose (step_fail_rate); DBOS retries it."""


class CrashHost(Protocol):
    def crash(self, reason: str) -> NoReturn:
        """Crash the whole worker now; never returns."""
        ...

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up (and die) at once if the worker crashes meanwhile."""
        ...


class ProcessCrashHost:
    """The real thing: a worker process that dies by SIGKILL, or by a real segmentation
    fault as the seed's did ([experiment] crash_signal = "SIGSEGV")."""

    def __init__(self, crash_signal: str = "SIGKILL") -> None:
        self._signal = crash_signal

    def crash(self, reason: str) -> NoReturn:
        how = "a segmentation fault" if self._signal == "SIGSEGV" else "SIGKILL"
        log.error("crash point reached: %s; killing the worker process (%s)", reason, how)
        for handler in log.handlers:
            handler.flush()
        if self._signal == "SIGSEGV":
            import ctypes
            import resource

            # No core file: a crash point is reached on every run of the experiment.
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            ctypes.string_at(0)  # reads address 0: the kernel's SIGSEGV, as a C bug's
        os.kill(os.getpid(), signal.SIGKILL)
        raise SystemExit(137)  # not reached: SIGKILL cannot be caught

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_host: CrashHost = ProcessCrashHost()


def set_crash_host(host: CrashHost) -> None:
    global _host
    _host = host


def configure(max_recovery_attempts: int, child_max_recovery_attempts: int) -> None:
    """Set the demo workflows' max_recovery_attempts (read by DBOS at each dispatch)."""
    for func, limit in (
        (demo_parent, max_recovery_attempts),
        (demo_child, child_max_recovery_attempts),
    ):
        dbos_internals.set_max_recovery_attempts(func, limit)


def max_recovery_attempts() -> dict[str, int]:
    """{workflow name: max_recovery_attempts} for the demo workflows, as configured."""
    out: dict[str, int] = {}
    for name, func in ((PARENT_NAME, demo_parent), (CHILD_NAME, demo_child)):
        maximum = dbos_internals.max_recovery_attempts(func)
        if maximum is not None:
            out[name] = maximum
    return out


def registered_limits() -> dict[str, int]:
    """max_recovery_attempts of every workflow registered in this process, the user's
    own (worker.imports) included."""
    out: dict[str, int] = {}
    for name, func in dbos_internals.registered_workflows().items():
        maximum = dbos_internals.max_recovery_attempts(func)
        if maximum is not None:
            out[name] = maximum
    return out


def _demo_step(child_index: int, step_index: int, params: dict[str, Any]) -> str:
    workflow_id = DBOS.workflow_id or "?"
    status = DBOS.step_status
    step_id = status.step_id if status is not None else -1
    attempt0 = (status.current_attempt if status is not None else None) or 0
    max_attempts = (status.max_attempts if status is not None else None) or 1
    progress.step_started(workflow_id, step_id, STEP_NAME, attempt0, max_attempts)
    # The seed's line ("Step 3 - Attempt 0/3") counted from 0; this one says what the
    # tree and the steps table say: the step's function id and its 1-based try.
    log.info(
        "\t\t%s :: %s %s", workflow_id, step_text(step_id), try_text(attempt0 + 1, max_attempts)
    )
    delay_s = int(params.get("step_delay_ms", 0)) / 1000.0
    if delay_s > 0:
        _host.sleep(delay_s * _random.uniform(0.5, 1.5))
    if (
        params.get("crash_child") == child_function_id(workflow_id)
        and params.get("crash_step") == step_id
    ):
        _host.crash(crash_point_text(workflow_id, step_id))
    if _random.random() < float(params.get("step_fail_rate", 0.0)):
        raise TransientStepError(
            f"{crash_point_text(workflow_id, step_id)} failed on "
            f"{try_text(attempt0 + 1, max_attempts)}"
        )
    return f"{crash_point_text(workflow_id, step_id)} done"


def _step_options(max_attempts: int) -> dict[str, Any]:
    return {
        "name": STEP_NAME,
        "retries_allowed": max_attempts > 1,
        "max_attempts": max_attempts,
        "interval_seconds": RETRY_INTERVAL_S,
        "backoff_rate": 2.0,
    }


# DBOS 2.x has no DBOS.run_step: a step's retries are fixed by its decorator, so there is
# one decorated step per max_attempts (all under the one step name), made on first use.
_decorated_steps: dict[int, Callable[[int, int, dict[str, Any]], str]] = {}
_decorated_lock = threading.Lock()


def _run_step(max_attempts: int, child_index: int, step_index: int, params: dict[str, Any]) -> str:
    if hasattr(DBOS, "run_step"):
        # A plain dict: DBOS 2.x, which also runs this module, has no StepOptions type.
        options: Any = _step_options(max_attempts)
        result: str = DBOS.run_step(options, _demo_step, child_index, step_index, params)
        return result
    with _decorated_lock:
        step = _decorated_steps.get(max_attempts)
        if step is None:

            def one_step(child: int, index: int, step_params: dict[str, Any]) -> str:
                return _demo_step(child, index, step_params)

            step = DBOS.step(**_step_options(max_attempts))(one_step)
            _decorated_steps[max_attempts] = step
    return step(child_index, step_index, params)


# max_recovery_attempts here is a placeholder: configure() sets the real value before
# any worker launches (DBOS reads it from the registration at every dispatch).
@DBOS.workflow(name=CHILD_NAME, max_recovery_attempts=2)
def demo_child(params: dict[str, Any], child_index: int) -> str:
    workflow_id = DBOS.workflow_id
    log.info("\t%s :: Starting %s", workflow_id, child_text(workflow_id or ""))
    max_attempts = max(1, int(params.get("step_max_attempts", 3)))
    for step_index in range(int(params["steps"])):
        try:
            _run_step(max_attempts, child_index, step_index, params)
        finally:
            if workflow_id:
                progress.step_ended(workflow_id)
    return f"{child_text(workflow_id or '')}: {params['steps']} steps done"


@DBOS.workflow(name=PARENT_NAME, max_recovery_attempts=2)
def demo_parent(params: dict[str, Any]) -> list[str]:
    log.info(
        "%s :: Starting workflow (%s children x %s steps)",
        DBOS.workflow_id,
        params["children"],
        params["steps"],
    )
    results: list[str] = []
    for child_index in range(int(params["children"])):
        handle = DBOS.start_workflow(demo_child, params, child_index)
        results.append(handle.get_result())
    return results
