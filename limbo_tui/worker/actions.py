"""What the keys do to workflows: enqueue the experiment, cancel, resume, fork.

All of it goes through DBOS's own DBOSClient (system database only, no migrations, no
worker) of the release that writes the database's schema version: limbo-tui's own dbos
in this process when it matches, else the matching release in a short-lived helper
process (release_client.py), so that a 2.8 database gets 2.8's semantics. For every
worker mode: it acts on any workflow, foreign ones included, whether limbo-tui's
worker runs in a thread, in a child process, is DOWN after a crash, or does not exist
(`--worker none`). The embedded worker then picks up what was enqueued or resumed for
its application version, like any DBOS worker would.

Every call is blocking; the UI runs them in thread workers. None of them may run on a
thread with a running event loop (DBOS's sync APIs are not meant for it): they refuse.
With settings.read_only every action is refused before anything touches the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from limbo_tui.errors import LimboError, one_line
from limbo_tui.limits import DEMO_PARENT as PARENT_NAME
from limbo_tui.model import COMPLETED_STATUSES, ENQUEUED, PENDING, short_id
from limbo_tui.numbering import step_text
from limbo_tui.settings import Settings
from limbo_tui.urls import is_sqlite, sqlalchemy_url
from limbo_tui.worker.protocol import APP_NAME, ActionResult, EnqueueResult, ExperimentParams
from limbo_tui.worker.release_client import (
    ActionRelease,
    Backend,
    Deduplicated,
    HelperBackend,
    choose_release,
    dbos_cli_command,
    installed_release,
)

if TYPE_CHECKING:
    from dbos import DBOSClient
    from psycopg import sql

    from limbo_tui.pg.dbos_schema import SchemaVersion

log = logging.getLogger(__name__)

READ_ONLY_MESSAGE = "read-only mode: {what} refused (start limbo-tui without --read-only)"


def _on_event_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _failure(verb: str, exc: BaseException) -> str:
    return f"{verb} failed: {one_line(exc, 200)}"


class _InProcessBackend:
    """limbo-tui's own dbos: DBOSClient in this process, made once."""

    def __init__(self, url: str, schema: str, release: str) -> None:
        self.release = release
        self._url = url
        self._schema = schema
        self._client: DBOSClient | None = None
        self._lock = threading.Lock()

    def client(self) -> DBOSClient:
        from dbos import DBOSClient

        with self._lock:
            if self._client is None:
                self._client = DBOSClient(
                    system_database_url=sqlalchemy_url(self._url),
                    dbos_system_schema=self._schema,
                    application_name=APP_NAME,
                    # An unreachable database must come back as an error, not a hang.
                    retry_connection_errors=False,
                    system_database_pool_size=2,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.destroy()
            except Exception as exc:
                log.debug("closing the DBOS client: %s", exc)

    def cancel(self, workflow_id: str, children: bool) -> None:
        self.client().cancel_workflow(workflow_id, cancel_children=children)

    def resume(self, workflow_id: str) -> None:
        self.client().resume_workflow(workflow_id)

    def fork(
        self, workflow_id: str, start_step: int, application_version: str | None = None
    ) -> str:
        handle = self.client().fork_workflow(
            workflow_id, start_step, application_version=application_version
        )
        return handle.get_workflow_id()

    def send(self, workflow_id: str, message: str, topic: str | None) -> None:
        self.client().send(workflow_id, message, topic)

    def enqueue(self, options: dict[str, Any], workflow_input: dict[str, Any]) -> str:
        from dbos import error

        try:
            workflow_id: str = (
                self.client()
                .enqueue(
                    options,  # type: ignore[arg-type]
                    workflow_input,
                )
                .get_workflow_id()
            )
        except error.DBOSQueueDeduplicatedError as exc:
            raise Deduplicated(one_line(exc)) from None
        return workflow_id


class Actions:
    """Management actions on the system database of `url` (a libpq-style URL)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self._settings = settings
        self._schema = settings.database.schema
        self._lock = threading.Lock()
        self._release: ActionRelease | None = None
        # The schema version launch's preflight read: the release is chosen from it at
        # the first action (choosing reads installed metadata; not before the first frame).
        self._known_schema: SchemaVersion | None = None
        self._backend: Backend | None = None
        self._asked = False
        self._user_release: str | None = None
        self._user_python: Path | None = None
        self._sqlite = is_sqlite(url)
        # SQLite keeps DBOS's tables in its one schema, "main".
        self._table_schema = "main" if self._sqlite else self._schema

    # -- which DBOS acts ---------------------------------------------------------------
    def _preferred_release(self) -> str | None:
        """The release the user runs: `[worker] dbos`, or the dbos of `[worker] python`
        (whose interpreter then acts, so no release needs installing)."""
        worker = self._settings.worker
        if worker.dbos is not None:
            return worker.dbos
        if worker.python is not None and worker.mode == "process" and not self._asked:
            from limbo_tui.worker.interpreter import foreign_release, worker_interpreter

            self._asked = True
            self._user_release = foreign_release(self._settings)
            if self._user_release is not None:
                self._user_python = Path(worker_interpreter(self._settings).python)
        return self._user_release

    def know_schema(self, schema: SchemaVersion) -> None:
        """The schema version, when the caller has read it already (launch's preflight)."""
        with self._lock:
            self._known_schema = schema

    def action_release(self) -> ActionRelease:
        """The release that acts on this database (its schema version is read once).
        Blocking; a LimboError when limbo-tui knows no release of that schema."""
        with self._lock:
            if self._release is None and self._sqlite:
                # SQLite system databases are DBOS 3.x's: limbo-tui's own release acts.
                from limbo_tui.pg.dbos_schema import SchemaVersion

                self._release = ActionRelease(installed_release(), True, SchemaVersion(None))
            if self._release is None:
                from limbo_tui.pg.dbos_schema import read_schema_version

                schema = self._known_schema
                if schema is None:
                    schema = read_schema_version(self._url, self._schema)
                release = choose_release(schema, self._preferred_release())
                if release is None:
                    raise LimboError(
                        f"{schema.label} is not one limbo-tui can act on; use the dbos "
                        "CLI of the release that wrote it"
                    )
                self._release = release
            return self._release

    def can_cancel_children(self) -> bool:
        """Whether cancel can take the children too (DBOS 2.24+). Blocking the first time."""
        try:
            return self.action_release().cancel_children
        except Exception:
            return False

    def _get_backend(self) -> Backend:
        release = self.action_release()
        with self._lock:
            if self._backend is None:
                if release.in_process:
                    self._backend = _InProcessBackend(self._url, self._schema, release.release)
                else:
                    own = self._user_python if release.release == self._user_release else None
                    self._backend = HelperBackend(
                        release.release, self._url, self._schema, APP_NAME, python=own
                    )
            return self._backend

    def close(self) -> None:
        with self._lock:
            backend, self._backend = self._backend, None
        if isinstance(backend, _InProcessBackend):
            backend.close()

    def _refuse(self, what: str) -> str | None:
        if self._settings.read_only:
            return READ_ONLY_MESSAGE.format(what=what)
        if _on_event_loop_thread():
            return f"{what} must run in a thread worker, not on the event loop"
        return None

    def _failure(self, verb: str, exc: BaseException, *cli: str) -> str:
        """A failed action in one line; when the release's own code could not run (its
        environment cannot be made), the equivalent `dbos workflow` command too."""
        text = _failure(verb, exc)
        release = self._release
        if isinstance(exc, LimboError) and release is not None and cli and not release.in_process:
            command = dbos_cli_command(release.release, self._url, self._schema, *cli)
            text = f"{text}; or run: {command}"
        return text

    # -- reads used to explain results ------------------------------------------------
    def _query(self, query: sql.Composed, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._sqlite:
            from limbo_tui.sqlite import reader
            from limbo_tui.urls import sqlite_path

            lite = reader.connect(sqlite_path(self._url))
            try:
                return [
                    tuple(r) for r in lite.execute(query.as_string().replace("%s", "?"), params)
                ]
            finally:
                lite.close()
        # psycopg is imported on first use: a `--worker none` start-up never needs it.
        import psycopg

        with psycopg.connect(self._url, connect_timeout=10) as conn:
            # A startup parameter would be refused by PgBouncer; SET LOCAL works anywhere.
            conn.execute("SET LOCAL jit = off")
            return conn.execute(query, params).fetchall()

    def status_of(self, workflow_id: str) -> str | None:
        from psycopg import sql

        rows = self._query(
            sql.SQL("SELECT status FROM {}.workflow_status WHERE workflow_uuid = %s").format(
                sql.Identifier(self._table_schema)
            ),
            (workflow_id,),
        )
        return rows[0][0] if rows else None

    def dedup_holder(self, queue: str, dedup_id: str) -> tuple[str, str] | None:
        """(workflow id, status) of the workflow holding dedup_id on queue, if any."""
        from psycopg import sql

        rows = self._query(
            sql.SQL(
                "SELECT workflow_uuid, status FROM {}.workflow_status "
                "WHERE queue_name = %s AND deduplication_id = %s LIMIT 1"
            ).format(sql.Identifier(self._table_schema)),
            (queue, dedup_id),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    # -- actions -----------------------------------------------------------------------
    def enqueue_experiment(self, params: ExperimentParams) -> EnqueueResult:
        refused = self._refuse("enqueue")
        if refused:
            return EnqueueResult(False, refused)
        problem = params.validate()
        if problem:
            return EnqueueResult(False, f"enqueue refused: {problem}")
        dedup_id = params.effective_dedup_id
        options: dict[str, Any] = {
            "workflow_name": PARENT_NAME,
            "queue_name": params.queue,
            # Pinned to the embedded worker's version: that worker (and its recovery)
            # is the one that runs the experiment.
            "app_version": self._settings.worker.app_version,
            "application_name": APP_NAME,
        }
        if dedup_id:
            options["deduplication_id"] = dedup_id
        try:
            workflow_id = self._get_backend().enqueue(options, params.workflow_input())
        except Deduplicated:
            assert dedup_id is not None
            return self._deduplicated(params.queue, dedup_id)
        except Exception as exc:
            return EnqueueResult(False, self._failure("enqueue", exc))
        dedup = f", dedup id {dedup_id}" if dedup_id else ""
        return EnqueueResult(
            True,
            f"enqueued {PARENT_NAME} {workflow_id} on {params.queue}{dedup}",
            workflow_id=workflow_id,
        )

    def _deduplicated(self, queue: str, dedup_id: str) -> EnqueueResult:
        import sqlite3

        import psycopg

        try:
            holder = self.dedup_holder(queue, dedup_id)
        except (psycopg.Error, sqlite3.Error, LimboError) as exc:
            holder = None
            log.debug("dedup holder lookup failed: %s", exc)
        if holder is None:
            return EnqueueResult(
                False,
                f"deduplicated: dedup id {dedup_id} on {queue} was held, and has "
                "just been released; enqueue again",
            )
        holder_id, holder_status = holder
        return EnqueueResult(
            False,
            f"deduplicated: dedup id {dedup_id} on queue {queue} is held by "
            f"{holder_id} ({holder_status})",
            holder_id=holder_id,
            holder_status=holder_status,
        )

    def _act(
        self,
        verb: str,
        workflow_id: str,
        call: Callable[[Backend], Any],
        finished_refusal: str | None,
        cli: tuple[str, ...],
    ) -> tuple[str, Any] | ActionResult:
        """The part every action shares: refuse in read-only mode, look the workflow up,
        refuse finished ones (when finished_refusal says why), then call the backend.
        Returns (status before, the call's result) or the ActionResult that ends it."""
        refused = self._refuse(verb)
        if refused:
            return ActionResult(False, refused, workflow_id)
        try:
            before = self.status_of(workflow_id)
            if before is None:
                return ActionResult(False, f"no workflow {workflow_id}", workflow_id)
            if finished_refusal is not None and before in COMPLETED_STATUSES:
                return ActionResult(
                    False, f"{short_id(workflow_id)} is {before}: {finished_refusal}", workflow_id
                )
            return before, call(self._get_backend())
        except Exception as exc:
            return ActionResult(False, self._failure(verb, exc, *cli), workflow_id)

    def cancel(self, workflow_id: str, children: bool = False) -> ActionResult:
        if children and not self._refuse("cancel"):
            try:
                release = self.action_release()
            except Exception as exc:
                return ActionResult(False, _failure("cancel", exc), workflow_id)
            if not release.cancel_children:
                return ActionResult(
                    False,
                    f"dbos {release.release} cannot cancel a workflow's children (2.24+ "
                    "can): cancel each child, then the parent",
                    workflow_id,
                )
        done = self._act(
            "cancel",
            workflow_id,
            lambda backend: backend.cancel(workflow_id, children),
            "nothing to cancel",
            ("cancel", workflow_id),
        )
        if isinstance(done, ActionResult):
            return done
        what = " and its children" if children else ""
        return ActionResult(
            True,
            f"cancelled {short_id(workflow_id)}{what} (was {done[0]}): "
            f"{self.state_text(workflow_id)}",
            workflow_id,
        )

    def resume(self, workflow_id: str) -> ActionResult:
        done = self._act(
            "resume",
            workflow_id,
            lambda backend: backend.resume(workflow_id),
            "DBOS does not resume finished workflows (fork it instead)",
            ("resume", workflow_id),
        )
        if isinstance(done, ActionResult):
            return done
        return ActionResult(
            True,
            f"resumed {short_id(workflow_id)} (was {done[0]}): {self.state_text(workflow_id)}; "
            "recovery attempts reset to 0, any live executor of its version takes it",
            workflow_id,
        )

    def fork(
        self, workflow_id: str, start_step: int, application_version: str | None = None
    ) -> ActionResult:
        """A new workflow from start_step (checkpoints before it copied); onto another
        application version when one is named (DBOS's own application_version)."""
        if start_step < 0:
            return ActionResult(False, "fork: the start step must be >= 0", workflow_id)
        done = self._act(
            "fork",
            workflow_id,
            lambda backend: backend.fork(workflow_id, start_step, application_version),
            None,
            ("fork", workflow_id, f"--step {start_step}"),
        )
        if isinstance(done, ActionResult):
            return done
        new_id = str(done[1])
        onto = f" onto version {application_version}" if application_version else ""
        return ActionResult(
            True,
            f"forked {short_id(workflow_id)} from {step_text(start_step)}{onto} as {new_id}: "
            f"{self.state_text(new_id)}",
            new_id,
        )

    def send(self, workflow_id: str, topic: str | None, message: str) -> ActionResult:
        """DBOS's send: the message a workflow waiting in DBOS.recv(topic) receives."""
        done = self._act(
            "send",
            workflow_id,
            lambda backend: backend.send(workflow_id, message, topic),
            "it no longer waits for a message",
            (),  # the dbos CLI has no send: nothing to print instead
        )
        if isinstance(done, ActionResult):
            return done
        on = f"topic {topic!r}" if topic else "the default topic"
        return ActionResult(
            True,
            f"sent {message!r} to {short_id(workflow_id)} on {on}: {self.state_text(workflow_id)} "
            "(a recv on another topic leaves it unread)",
            workflow_id,
        )

    def state_text(self, workflow_id: str) -> str:
        """What the workflow's row says now: "PENDING on executor b" / "ENQUEUED on q"."""
        from psycopg import sql

        try:
            rows = self._query(
                sql.SQL(
                    "SELECT status, queue_name, executor_id FROM {}.workflow_status "
                    "WHERE workflow_uuid = %s"
                ).format(sql.Identifier(self._table_schema)),
                (workflow_id,),
            )
        except Exception as exc:
            return f"state unknown ({one_line(exc, 80)})"
        if not rows:
            return "no longer in the database"
        status, queue, executor = rows[0]
        if status == ENQUEUED and queue:
            return f"now ENQUEUED on {queue}"
        if status == PENDING and executor:
            return f"now PENDING on executor {executor}"
        return f"now {status}"
