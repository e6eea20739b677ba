"""Acting on a database with the DBOS release that wrote it.

limbo-tui's own dbos (3.x) speaks only its own schema: DBOSClient 3.4 fails on a 2.8
database (`column "completed_at" does not exist`). So an action on a database of another
schema version runs in a helper process (release_helper.py, kept running for the session
by helper_process.py) whose interpreter holds the matching release, provisioned once by
releases.py. The database's schema version (pg/dbos_schema.py) picks the release: the one
the user named for the worker (`[worker] dbos`) when it writes that schema, else the
oldest release that does.

A backend raises Deduplicated for a rejected enqueue and ReleaseActionError for anything
else; Actions turns both into one-line results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from limbo_tui import releases
from limbo_tui.errors import one_line
from limbo_tui.pg.dbos_schema import SchemaVersion
from limbo_tui.urls import mask, sqlalchemy_url
from limbo_tui.worker.helper_process import HelperFailed, helper_for

HELPER_TIMEOUT_S = 120.0
# DBOSClient.cancel_workflow(cancel_children=...) exists from this release on.
CANCEL_CHILDREN_SINCE = (2, 24)


class Deduplicated(Exception):
    """DBOS refused the enqueue: the dedup id is held on that queue."""


class ReleaseActionError(Exception):
    """The action failed; the message is one line for the user."""


def installed_release() -> str:
    """The dbos of limbo-tui's own environment."""
    # importlib.metadata (email, calendar, ...) loads here, not on the way to the screen.
    from importlib import metadata

    return metadata.version("dbos")


def can_cancel_children(release: str) -> bool:
    major, minor = (int(x) for x in release.split(".")[:2])
    return (major, minor) >= CANCEL_CHILDREN_SINCE


@dataclass(frozen=True)
class ActionRelease:
    """Which DBOS acts on a database: its release, and whether it is limbo-tui's own."""

    release: str
    in_process: bool
    schema: SchemaVersion

    @property
    def cancel_children(self) -> bool:
        return can_cancel_children(self.release)


def choose_release(schema: SchemaVersion, preferred: str | None) -> ActionRelease | None:
    """The release whose code acts on a database of `schema`; None when none is known."""
    own = installed_release()
    if schema.covers(own):
        return ActionRelease(own, True, schema)
    if preferred and schema.covers(preferred):
        return ActionRelease(preferred, False, schema)
    first = schema.first_release
    if first is None:
        return None
    return ActionRelease(first, False, schema)


def dbos_cli_command(release: str, url: str, schema: str, verb: str, *args: str) -> str:
    """The equivalent `dbos workflow ...` command, for when the helper cannot run."""
    parts = [f"uvx --from dbos=={release} dbos workflow {verb}", *args]
    parts.append(f"-s '{mask(url)}'")
    if schema != "dbos":
        parts.append(f"--schema {schema}")
    return " ".join(parts)


class HelperBackend:
    """Actions through release_helper.py in the interpreter of one release."""

    def __init__(
        self, release: str, url: str, schema: str, app_name: str, python: Path | None = None
    ) -> None:
        self.release = release
        self._url = url
        self._schema = schema
        self._app_name = app_name
        # The user's own interpreter ([worker] python) when it holds this release.
        self._python = python

    def _call(self, op: str, **arguments: Any) -> dict[str, Any]:
        python = self._python or releases.ensure_release(self.release)
        request = {
            "url": sqlalchemy_url(self._url),
            "schema": self._schema,
            "application_name": self._app_name,
            "op": op,
            **arguments,
        }
        return call_helper(python, request)

    def cancel(self, workflow_id: str, children: bool) -> None:
        self._call("cancel", workflow_id=workflow_id, children=children)

    def resume(self, workflow_id: str) -> None:
        self._call("resume", workflow_id=workflow_id)

    def fork(
        self, workflow_id: str, start_step: int, application_version: str | None = None
    ) -> str:
        reply = self._call(
            "fork", workflow_id=workflow_id, start_step=start_step, app_version=application_version
        )
        return str(reply["workflow_id"])

    def send(self, workflow_id: str, message: str, topic: str | None) -> None:
        self._call("send", workflow_id=workflow_id, message=message, topic=topic)

    def enqueue(self, options: dict[str, Any], workflow_input: dict[str, Any]) -> str:
        reply = self._call("enqueue", options=options, input=workflow_input)
        return str(reply["workflow_id"])


def call_helper(
    python: Path, request: dict[str, Any], timeout: float = HELPER_TIMEOUT_S
) -> dict[str, Any]:
    """Run one request through the session's release helper of `python`
    (helper_process.py); the reply, or raise."""
    try:
        reply = helper_for(python).request(request, timeout)
    except HelperFailed as exc:
        raise ReleaseActionError(f"the DBOS helper failed: {one_line(str(exc), 160)}") from None
    if not isinstance(reply, dict):
        raise ReleaseActionError("the DBOS helper failed: its reply is not an object")
    if reply.get("ok"):
        return reply
    error = str(reply.get("error") or "Error")
    message = one_line(f"{error}: {reply.get('message') or ''}", 200)
    if error == "DBOSQueueDeduplicatedError":
        raise Deduplicated(message)
    raise ReleaseActionError(message)


class Backend(Protocol):
    release: str

    def cancel(self, workflow_id: str, children: bool) -> None: ...
    def resume(self, workflow_id: str) -> None: ...
    def fork(
        self, workflow_id: str, start_step: int, application_version: str | None = None
    ) -> str: ...
    def send(self, workflow_id: str, message: str, topic: str | None) -> None: ...
    def enqueue(self, options: dict[str, Any], workflow_input: dict[str, Any]) -> str: ...
