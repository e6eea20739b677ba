"""A helper that performs actions with the dbos of its own interpreter.

Run as `python -I release_helper.py` by worker/helper_process.py in a venv that holds one
DBOS release (releases.py), so each action has exactly that release's semantics on a
database that release wrote. It imports nothing of limbo-tui: only the standard library
and that release's dbos (and dbos_internals.py beside it, which imports no more), so it
runs in any interpreter with dbos installed (-I keeps this file's directory and
PYTHONPATH out of sys.path).

Protocol: JSON requests on stdin, one a line (so the database URL, password included,
never shows in `ps`), one JSON reply line on stdout for each, until stdin ends:

- request  {"url": <sqlalchemy URL>, "schema": ..., "op": ..., ...op's arguments}
- reply    {"ok": true, "dbos": <release>, ...} or
           {"ok": false, "dbos": <release>, "error": <exception class>, "message": ...}

ops: version; cancel(workflow_id, children); resume(workflow_id);
fork(workflow_id, start_step, app_version?); send(workflow_id, message, topic?);
enqueue(options, input); migrate.
Everything DBOS logs goes to stderr, which the caller keeps for its log.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any


def _dbos_internals() -> ModuleType:
    """dbos_internals.py beside this file (the one seam onto DBOS's private modules; it
    too imports only the standard library and dbos), loaded by path: -I keeps this
    directory out of sys.path."""
    path = Path(__file__).with_name("dbos_internals.py")
    spec = importlib.util.spec_from_file_location("limbo_dbos_internals", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _client(request: dict[str, Any]) -> Any:
    from dbos import DBOSClient

    kwargs: dict[str, Any] = {
        "system_database_url": request["url"],
        "dbos_system_schema": request.get("schema", "dbos"),
    }
    accepted = inspect.signature(DBOSClient.__init__).parameters
    # Newer releases take these; older ones would refuse the keyword.
    optional = {"application_name": request.get("application_name")}
    optional["retry_connection_errors"] = False
    optional["system_database_pool_size"] = 2
    for key, value in optional.items():
        if key in accepted and value is not None:
            kwargs[key] = value
    return DBOSClient(**kwargs)


def _cancel(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    workflow_id = request["workflow_id"]
    if request.get("children"):
        params = inspect.signature(client.cancel_workflow).parameters
        if "cancel_children" not in params:
            return {
                "ok": False,
                "error": "Unsupported",
                "message": "this DBOS release cannot cancel a workflow's children",
            }
        client.cancel_workflow(workflow_id, cancel_children=True)
    else:
        client.cancel_workflow(workflow_id)
    return {"ok": True, "workflow_id": workflow_id}


def _resume(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    handle = client.resume_workflow(request["workflow_id"])
    return {"ok": True, "workflow_id": handle.get_workflow_id()}


def _fork(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if request.get("app_version"):
        kwargs["application_version"] = request["app_version"]
    handle = client.fork_workflow(request["workflow_id"], int(request["start_step"]), **kwargs)
    return {"ok": True, "workflow_id": handle.get_workflow_id()}


def _send(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    client.send(request["workflow_id"], request["message"], request.get("topic"))
    return {"ok": True, "workflow_id": request["workflow_id"]}


def _enqueue(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    from dbos import EnqueueOptions

    # A key this release does not know (application_name before 3.x) is left out.
    known = EnqueueOptions.__required_keys__ | EnqueueOptions.__optional_keys__
    options = {k: v for k, v in dict(request["options"]).items() if k in known}
    handle = client.enqueue(options, request["input"])
    return {"ok": True, "workflow_id": handle.get_workflow_id()}


def _migrate(request: dict[str, Any]) -> dict[str, Any]:
    """Create or upgrade the DBOS tables with this release's own migrations."""
    import sqlalchemy as sa

    schema = request.get("schema", "dbos")
    engine = sa.create_engine(request["url"])
    try:
        _dbos_internals().migrate(engine, schema)
    finally:
        engine.dispose()
    return {"ok": True}


def _run(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "version":
        return {"ok": True}
    if op == "migrate":
        return _migrate(request)
    calls = {
        "cancel": _cancel,
        "resume": _resume,
        "fork": _fork,
        "send": _send,
        "enqueue": _enqueue,
    }
    if op not in calls:
        return {"ok": False, "error": "BadRequest", "message": f"unknown op {op!r}"}
    client = _client(request)
    try:
        return calls[op](client, request)
    finally:
        client.destroy()


def main() -> int:
    # The reply is the only thing on stdout; DBOS's own output goes to stderr.
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    try:
        release = metadata.version("dbos")
    except metadata.PackageNotFoundError:
        release = "?"
    with os.fdopen(reply_fd, "w", encoding="utf-8") as out:
        for line in sys.stdin:
            if not line.strip():
                continue
            out.write(json.dumps(_answer(line, release)) + "\n")
            out.flush()
    return 0


def _answer(line: str, release: str) -> dict[str, Any]:
    try:
        reply = _run(json.loads(line))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        reply = {"ok": False, "error": type(exc).__name__, "message": first}
    reply["dbos"] = release
    return reply


if __name__ == "__main__":
    sys.exit(main())
