"""The keys that change things (enqueue, crash, restart, cancel, resume, fork, fork onto
the live version, send), as a mixin of LimboApp: ask first where it destroys, run the
blocking call in a thread, report the outcome as a notification (and offer to jump to the
holder of a dedup id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work

from limbo_tui.diagnose import fork_target
from limbo_tui.errors import one_line
from limbo_tui.model import COMPLETED_STATUSES, PENDING
from limbo_tui.terminal_text import safe_text
from limbo_tui.ui.messages import ActionFinished
from limbo_tui.ui.screens.confirm import Confirmed, ConfirmScreen
from limbo_tui.ui.screens.enqueue_form import EnqueueFormScreen, ExperimentForm
from limbo_tui.ui.screens.fork_picker import ForkStepScreen
from limbo_tui.ui.screens.send_form import Message as SendMessage
from limbo_tui.ui.screens.send_form import SendFormScreen
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.ui.teardown import quiet_in_teardown
from limbo_tui.ui.workflow_lines import short_id
from limbo_tui.waits import MESSAGE, current_wait
from limbo_tui.worker.protocol import ActionResult, ExperimentParams

if TYPE_CHECKING:
    from limbo_tui.ui.app import LimboApp

    _Base = LimboApp
else:
    _Base = object

WORKER_LIFECYCLE = frozenset({"start the worker", "crash worker", "restart worker"})


class WorkflowActions(_Base):
    follow_id: str | None

    # -- plumbing ----------------------------------------------------------------------
    def run_blocking(
        self, title: str, call: Callable[[], Any], *, quiet: bool = False, done: str = "done"
    ) -> None:
        """Run a blocking worker / actions call in a thread; its result comes back as an
        ActionFinished message (never as an exception that would end the app). `done` is
        what a call that returns nothing reports."""
        self._blocking(title, call, quiet, done)

    @work(thread=True, group="actions", exit_on_error=False)
    def _blocking(self, title: str, call: Callable[[], Any], quiet: bool, done: str) -> None:
        try:
            result = call()
        except Exception as exc:
            self.post_message(ActionFinished(title, False, one_line(exc)))
            return
        if result is None:  # start / crash / restart / stop return nothing
            if not quiet:
                self.post_message(ActionFinished(title, True, done))
            return
        self.post_message(
            ActionFinished(
                title,
                bool(getattr(result, "ok", True)),
                one_line(str(getattr(result, "message", "") or "done")),
                getattr(result, "workflow_id", None),
                getattr(result, "holder_id", None),
            )
        )

    @quiet_in_teardown
    def on_action_finished(self, message: ActionFinished) -> None:
        severity = "information" if message.ok else "error"
        self.notify(message.message, title=message.title, severity=severity)
        if message.title in WORKER_LIFECYCLE:
            # A worker that fails to start / crash / restart stays visible in the header.
            header = self.query_one(StatusHeader)
            header.problem = "" if message.ok else f"{message.title}: {message.message}"
        if self.worker is not None:
            self._poll_worker()  # the header shows the worker's new state at once
        if message.ok and message.workflow_id:
            self.follow_id = message.workflow_id
            self._schedule_repaint()
        if not message.ok and message.holder_id:
            self._offer_jump_to_holder(message.holder_id)

    def _offer_jump_to_holder(self, holder_id: str) -> None:
        wf = self.graph.get(holder_id)
        what = f"{wf.name} {wf.status}" if wf else "not loaded yet"
        dedup = f" {wf.dedup_id!r}" if wf and wf.dedup_id else ""
        question = f"The dedup id{dedup} is held by {short_id(holder_id)} ({what}).\nJump to it?"

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.jump_to(holder_id)

        self.push_screen(ConfirmScreen(safe_text(question), yes="Jump", no="Close"), answered)

    def _need_worker(self) -> bool:
        # A monitor has a NoWorker (state NONE): x and r must say so, not "done".
        if self.worker is None or self.worker.state == "NONE":
            self.notify(
                "no embedded worker here (--worker none): x and r act on limbo-tui's own "
                "worker only",
                severity="warning",
            )
            return False
        return True

    def _need_selection(self, verb: str) -> Any:
        if self.actions is None:
            self.notify(f"cannot {verb}: no actions available", severity="warning")
            return None
        wid = self.selected_id
        if wid is None:
            self.notify(f"nothing selected: move to a workflow to {verb} it", severity="warning")
            return None
        wf = self.graph.get(wid)
        if wf is None:
            self.notify(f"{short_id(wid)} is not loaded: cannot {verb} it", severity="warning")
        return wf

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

    def action_enqueue(self) -> None:
        if self._need_worker():
            params = self.experiment_params(None)
            self.run_blocking("enqueue", lambda: self.worker.enqueue_experiment(params))

    def action_enqueue_form(self) -> None:
        if not self._need_worker():
            return

        def submitted(form: ExperimentForm | None) -> None:
            if form is not None:
                params = self.experiment_params(form)
                self.run_blocking("enqueue", lambda: self.worker.enqueue_experiment(params))

        self.push_screen(EnqueueFormScreen(self.settings.experiment), submitted)

    def action_crash(self) -> None:
        # Not confirmed: crashing the embedded demo worker is the experiment itself and
        # `r` undoes it; cancel / resume (which change workflows for good) do ask.
        if not self._need_worker():
            return
        if self.worker.state == "ELSEWHERE":
            self.notify(
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
            self.run_blocking("crash worker", self.worker.crash, done=crashed)
            return

        # This worker runs the user's own workflows too: a crash stops them mid-step.
        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.run_blocking("crash worker", self.worker.crash, done=crashed)

        names = ", ".join(safe_text(m) for m in imports)
        self.push_screen(
            ConfirmScreen(
                f"Crash the worker? It also runs your workflows ({names}): they stop "
                "mid-step and stay PENDING until r restarts it.",
                yes="Crash it",
                no="Keep it",
            ),
            answered,
        )

    def action_restart(self) -> None:
        if not self._need_worker():
            return
        if self.worker.state == "STOPPING":
            self.notify("the worker is stopping (the header says what DBOS waits for)")
            return
        self.run_blocking("restart worker", self._restart_worker)

    def _restart_worker(self) -> ActionResult:
        """r: a running process worker stops as Ctrl+C would first (DBOS may wait)."""
        stops = getattr(self.worker, "stop_count", 0)
        self.worker.restart()
        said = "the worker is up again; DBOS recovers its PENDING work"
        if getattr(self.worker, "stop_count", 0) > stops:
            said = f"stopped ({self.worker.last_stop}), then up again; DBOS recovers its work"
        return ActionResult(True, said)

    # -- the selected workflow ---------------------------------------------------------
    def action_cancel(self) -> None:
        wf = self._need_selection("cancel")
        if wf is None:
            return
        if wf.status in COMPLETED_STATUSES:
            self.notify(f"{short_id(wf.id)} is already {wf.status}", severity="warning")
            return
        kids = self.graph.children(wf.id)
        question = f"Cancel {safe_text(wf.name)} {short_id(wf.id)} ({wf.status})?"
        if wf.dedup_id:
            question += f"\nThis frees dedup id {safe_text(wf.dedup_id)!r}."
        option = f"children too ({len(kids)})" if kids else None
        # DBOS before 2.24 cannot cancel children: on its databases the option is not
        # offered, and the dialog says what to do instead.
        can_cascade = getattr(self.actions, "can_cancel_children", None)
        if option and can_cascade is not None and not can_cascade():
            option = None
            question += "\nThis DBOS release cannot cancel children with it: cancel each one."

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                children = result.option
                self.run_blocking("cancel", lambda: self.actions.cancel(wf.id, children))

        self.push_screen(
            ConfirmScreen(question, yes="Cancel it", no="Keep", option=option, option_default=True),
            answered,
        )

    def action_resume(self) -> None:
        wf = self._need_selection("resume")
        if wf is None:
            return
        question = (
            f"Resume {safe_text(wf.name)} {short_id(wf.id)} ({wf.status})?\n"
            "It is enqueued again with recovery attempts reset to 0."
        )

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.run_blocking("resume", lambda: self.actions.resume(wf.id))

        self.push_screen(ConfirmScreen(question, yes="Resume"), answered)

    def action_fork(self) -> None:
        wf = self._need_selection("fork")
        if wf is None:
            return

        def picked(step: int | None) -> None:
            if step is not None:
                self.run_blocking("fork", lambda: self.actions.fork(wf.id, step))

        label = f"{safe_text(wf.name)} {short_id(wf.id)}"
        self.push_screen(ForkStepScreen(label, self.graph.steps_of(wf.id)), picked)

    def action_fork_onto_live(self) -> None:
        """Work of a version no live executor runs: a fork onto the version they run,
        continuing after its last recorded step (DBOS copies the checkpoints before it)."""
        wf = self._need_selection("fork")
        if wf is None:
            return
        target = fork_target(self._diagnoses.fleet)
        if target is None:
            self.notify("no live executor is known: no version to fork onto", severity="warning")
            return
        if target == wf.app_version:
            self.notify(
                f"{short_id(wf.id)} is already of version {safe_text(target)}, which a live "
                "executor runs: resume it instead",
                severity="warning",
            )
            return
        steps = self.graph.steps_of(wf.id)
        start = (steps[-1].function_id + 1) if steps else 1
        question = (
            f"Fork {safe_text(wf.name)} {short_id(wf.id)} (version "
            f"{safe_text(wf.app_version or '?')}) onto version {safe_text(target)}, from step "
            f"{start}?\nA new workflow; this one stays {wf.status} (c cancels it)."
        )

        def answered(result: Confirmed | None) -> None:
            if result is not None:
                self.run_blocking(
                    "fork", lambda: self.actions.fork(wf.id, start, application_version=target)
                )

        self.push_screen(ConfirmScreen(question, yes="Fork"), answered)

    def action_send(self) -> None:
        wf = self._need_selection("send")
        if wf is None:
            return
        wait = current_wait(self.graph, wf.id)
        if wf.status != PENDING or wait is None or wait.kind != MESSAGE:
            self.notify(
                f"{short_id(wf.id)} does not wait in DBOS.recv or get_event: nothing to send",
                severity="warning",
            )
            return
        label = f"{safe_text(wf.name)} {short_id(wf.id)}"
        waits = f"It waits at function id {wait.function_id}."

        def submitted(message: SendMessage | None) -> None:
            if message is not None:
                self.run_blocking(
                    "send", lambda: self.actions.send(wf.id, message.topic, message.text)
                )

        self.push_screen(SendFormScreen(label, waits), submitted)
