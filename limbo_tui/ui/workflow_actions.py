"""The keys that change things (enqueue, crash, restart, cancel, resume, fork, fork onto
the live version, send): ask first where it destroys, run the blocking call in a thread,
report the outcome as a notification (and offer to jump to the holder of a dedup id).

Every key that acts on a workflow acts on MonitorState's selection, the row the user
sees highlighted, or refuses with "nothing selected"."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.notifications import SeverityLevel

from limbo_tui.diagnose import fork_target
from limbo_tui.errors import one_line
from limbo_tui.model import COMPLETED_STATUSES, PENDING, Workflow
from limbo_tui.monitor_state import ActionOutcome, MonitorState
from limbo_tui.settings import Settings
from limbo_tui.terminal_text import safe_text
from limbo_tui.ui.messages import ActionFinished
from limbo_tui.ui.workflow_lines import short_id
from limbo_tui.waits import MESSAGE, current_wait
from limbo_tui.worker.protocol import ActionResult, ExperimentParams, Worker, WorkflowActions

if TYPE_CHECKING:
    from limbo_tui.ui.screens.confirm import Confirmed
    from limbo_tui.ui.screens.enqueue_form import ExperimentForm
    from limbo_tui.ui.screens.send_form import Message as SendMessage

# Each dialog's module (and the Textual widgets it uses) loads when it first opens: none
# is on the path to the first frame.


class ActionKeys:
    def __init__(
        self,
        app: App[Any],
        state: MonitorState,
        worker: Worker | None,
        actions: WorkflowActions | None,
        jump_to: Callable[[str], None],
    ) -> None:
        self._app = app
        self._state = state
        self._worker = worker
        self._actions = actions
        self._jump_to = jump_to

    @property
    def settings(self) -> Settings:
        return self._state.settings

    # -- plumbing ----------------------------------------------------------------------
    def run_blocking(
        self, title: str, call: Callable[[], Any], *, quiet: bool = False, done: str = "done"
    ) -> None:
        """Run a blocking worker / actions call in a thread; its result comes back as an
        ActionFinished message (never as an exception that would end the app). `done` is
        what a call that returns nothing reports."""
        self._app.run_worker(
            partial(self._blocking, title, call, quiet, done),
            thread=True,
            group="actions",
            exit_on_error=False,
        )

    def _blocking(self, title: str, call: Callable[[], Any], quiet: bool, done: str) -> None:
        try:
            result = call()
        except Exception as exc:
            self._finished(ActionOutcome(title, False, one_line(exc)))
            return
        if result is None:  # start / crash / restart / stop return nothing
            if not quiet:
                self._finished(ActionOutcome(title, True, done))
            return
        self._finished(
            ActionOutcome(
                title,
                bool(getattr(result, "ok", True)),
                one_line(str(getattr(result, "message", "") or "done")),
                getattr(result, "workflow_id", None),
                getattr(result, "holder_id", None),
            )
        )

    def _finished(self, outcome: ActionOutcome) -> None:
        self._app.post_message(ActionFinished(outcome))

    def told(self, outcome: ActionOutcome) -> None:
        """An outcome, as the user hears it (MonitorState has taken it in)."""
        severity: SeverityLevel = "information" if outcome.ok else "error"
        self._app.notify(outcome.message, title=outcome.title, severity=severity)
        if not outcome.ok and outcome.holder_id:
            self._offer_jump_to_holder(outcome.holder_id)

    def _offer_jump_to_holder(self, holder_id: str) -> None:
        wf = self._state.graph.get(holder_id)
        what = f"{wf.name} {wf.status}" if wf else "not loaded yet"
        dedup = f" {wf.dedup_id!r}" if wf and wf.dedup_id else ""
        question = f"The dedup id{dedup} is held by {short_id(holder_id)} ({what}).\nJump to it?"

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self._jump_to(holder_id)

        self._confirm(safe_text(question), answered, yes="Jump", no="Close")

    def _confirm(
        self, question: str, answered: Callable[[Confirmed | None], None], **choices: Any
    ) -> None:
        from limbo_tui.ui.screens.confirm import ConfirmScreen

        self._app.push_screen(ConfirmScreen(question, **choices), answered)

    def _need_worker(self) -> Worker | None:
        # A monitor has a NoWorker (state NONE): x and r must say so, not "done".
        if self._worker is None or self._worker.state == "NONE":
            self._app.notify(
                "no embedded worker here (--worker none): x and r act on limbo-tui's own "
                "worker only",
                severity="warning",
            )
            return None
        return self._worker

    def _need_selection(self, verb: str) -> tuple[Workflow, WorkflowActions] | None:
        actions = self._actions
        if actions is None:
            self._app.notify(f"cannot {verb}: no actions available", severity="warning")
            return None
        wid = self._state.selected
        if wid is None:
            self._app.notify(
                f"nothing selected: move to a workflow to {verb} it", severity="warning"
            )
            return None
        wf = self._state.graph.get(wid)
        if wf is None:
            self._app.notify(f"{short_id(wid)} is not loaded: cannot {verb} it", severity="warning")
            return None
        return wf, actions

    # -- the experiment and the worker -------------------------------------------------
    def experiment_params(self, form: ExperimentForm | None) -> ExperimentParams:
        """The defaults from settings ([experiment]), overridden by the form's values."""
        if form is None:
            return ExperimentParams.from_settings(self.settings.experiment)
        return ExperimentParams.from_settings(
            self.settings.experiment,
            children=form.children,
            steps=form.steps,
            crash_child=form.crash_child if form.crash_enabled else None,
            crash_step=form.crash_step,
            # Empty: the seed's default "<children>/<steps>"; "-": no dedup id at all.
            dedup_id=None if not form.dedup_id else ("" if form.dedup_id == "-" else form.dedup_id),
        )

    def enqueue(self) -> None:
        worker = self._need_worker()
        if worker is not None:
            params = self.experiment_params(None)
            self.run_blocking("enqueue", lambda: worker.enqueue_experiment(params))

    def enqueue_form(self) -> None:
        worker = self._need_worker()
        if worker is None:
            return

        def submitted(form: ExperimentForm | None) -> None:
            if form is not None:
                params = self.experiment_params(form)
                self.run_blocking("enqueue", lambda: worker.enqueue_experiment(params))

        from limbo_tui.ui.screens.enqueue_form import EnqueueFormScreen

        self._app.push_screen(EnqueueFormScreen(self.settings.experiment), submitted)

    def crash(self) -> None:
        # Not confirmed: crashing the embedded demo worker is the experiment itself and
        # `r` undoes it; cancel / resume (which change workflows for good) do ask.
        worker = self._need_worker()
        if worker is None:
            return
        if worker.state == "ELSEWHERE":
            self._app.notify(
                "this executor's worker runs in another limbo-tui: crash it there "
                "(r here takes it over once that one quits)",
                severity="warning",
            )
            return
        crashed = (
            "the worker is dead, as after a SIGKILL; its PENDING work waits for r "
            "(DBOS recovers it on restart)"
        )
        imports = self.settings.worker.imports
        if not imports:
            self.run_blocking("crash worker", worker.crash, done=crashed)
            return

        # This worker runs the user's own workflows too: a crash stops them mid-step.
        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.run_blocking("crash worker", worker.crash, done=crashed)

        names = ", ".join(safe_text(m) for m in imports)
        self._confirm(
            f"Crash the worker? It also runs your workflows ({names}): they stop "
            "mid-step and stay PENDING until r restarts it.",
            answered,
            yes="Crash it",
            no="Keep it",
        )

    def restart(self) -> None:
        worker = self._need_worker()
        if worker is None:
            return
        if worker.state == "STOPPING":
            self._app.notify("the worker is stopping (the header says what DBOS waits for)")
            return
        self.run_blocking("restart worker", partial(self._restart_worker, worker))

    @staticmethod
    def _restart_worker(worker: Worker) -> ActionResult:
        """r: a running process worker stops as Ctrl+C would first (DBOS may wait)."""
        stops = getattr(worker, "stop_count", 0)
        worker.restart()
        if worker.state != "RUNNING":
            # Still run elsewhere, or it could not start: why, not "up again".
            return ActionResult(False, worker.detail)
        said = "the worker is up again; DBOS recovers its PENDING work"
        if getattr(worker, "stop_count", 0) > stops:
            last = getattr(worker, "last_stop", "")
            said = f"stopped ({last}), then up again; DBOS recovers its work"
        return ActionResult(True, said)

    # -- the selected workflow ---------------------------------------------------------
    def cancel(self) -> None:
        target = self._need_selection("cancel")
        if target is None:
            return
        wf, actions = target
        if wf.status in COMPLETED_STATUSES:
            self._app.notify(f"{short_id(wf.id)} is already {wf.status}", severity="warning")
            return
        kids = self._state.graph.children(wf.id)
        question = f"Cancel {safe_text(wf.name)} {short_id(wf.id)} ({wf.status})?"
        if wf.dedup_id:
            question += f"\nThis frees dedup id {safe_text(wf.dedup_id)!r}."
        option = f"children too ({len(kids)})" if kids else None
        # DBOS before 2.24 cannot cancel children: on its databases the option is not
        # offered, and the dialog says what to do instead.
        if option and not actions.can_cancel_children():
            option = None
            question += "\nThis DBOS release cannot cancel children with it: cancel each one."

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                children = result.option
                self.run_blocking("cancel", lambda: actions.cancel(wf.id, children))

        self._confirm(
            question, answered, yes="Cancel it", no="Keep", option=option, option_default=True
        )

    def resume(self) -> None:
        target = self._need_selection("resume")
        if target is None:
            return
        wf, actions = target
        question = (
            f"Resume {safe_text(wf.name)} {short_id(wf.id)} ({wf.status})?\n"
            "It is enqueued again with recovery attempts reset to 0."
        )

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.run_blocking("resume", lambda: actions.resume(wf.id))

        self._confirm(question, answered, yes="Resume")

    def fork(self) -> None:
        target = self._need_selection("fork")
        if target is None:
            return
        wf, actions = target

        def picked(step: int | None) -> None:
            if step is not None:
                self.run_blocking("fork", lambda: actions.fork(wf.id, step))

        label = f"{safe_text(wf.name)} {short_id(wf.id)}"
        from limbo_tui.ui.screens.fork_picker import ForkStepScreen

        self._app.push_screen(ForkStepScreen(label, self._state.graph.steps_of(wf.id)), picked)

    def fork_onto_live(self) -> None:
        """Work of a version no live executor runs: a fork onto the version they run,
        continuing after its last recorded step (DBOS copies the checkpoints before it)."""
        target = self._need_selection("fork")
        if target is None:
            return
        wf, actions = target
        version = fork_target(self._state.fleet)
        if version is None:
            self._app.notify(
                "no live executor is known: no version to fork onto", severity="warning"
            )
            return
        if version == wf.app_version:
            self._app.notify(
                f"{short_id(wf.id)} is already of version {safe_text(version)}, which a live "
                "executor runs: resume it instead",
                severity="warning",
            )
            return
        steps = self._state.graph.steps_of(wf.id)
        start = (steps[-1].function_id + 1) if steps else 1
        question = (
            f"Fork {safe_text(wf.name)} {short_id(wf.id)} (version "
            f"{safe_text(wf.app_version or '?')}) onto version {safe_text(version)}, from step "
            f"{start}?\nA new workflow; this one stays {wf.status} (c cancels it)."
        )

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.run_blocking(
                    "fork", lambda: actions.fork(wf.id, start, application_version=version)
                )

        self._confirm(question, answered, yes="Fork")

    def send(self) -> None:
        target = self._need_selection("send")
        if target is None:
            return
        wf, actions = target
        wait = current_wait(self._state.graph, wf.id)
        if wf.status != PENDING or wait is None or wait.kind != MESSAGE:
            self._app.notify(
                f"{short_id(wf.id)} does not wait in DBOS.recv or get_event: nothing to send",
                severity="warning",
            )
            return
        label = f"{safe_text(wf.name)} {short_id(wf.id)}"
        waits = f"It waits at function id {wait.function_id}."

        def submitted(message: SendMessage | None) -> None:
            if message is not None:
                self.run_blocking("send", lambda: actions.send(wf.id, message.topic, message.text))

        from limbo_tui.ui.screens.send_form import SendFormScreen

        self._app.push_screen(SendFormScreen(label, waits), submitted)
