"""A real DBOS worker in a process of its own, for the executor / version / queue tests.

    python tests/fleet_worker.py URL SCHEMA EXECUTOR_ID APP_VERSION [--hang]

Run by the interpreter of the release under test: limbo-tui's own dbos 3.x, or a 2.8
interpreter (tests/release_support.py). It registers the queues `q_one` (global
concurrency 1) and `q_work` (no limit) the way the release does, launches
DBOS with that executor id and application version, prints "ready" and runs until it is
killed. `--hang` makes fleet_hang's step block for ever in this process (the work a
killed executor leaves PENDING); in a worker without it the same step returns at once,
so that work handed over to it finishes.
"""

from __future__ import annotations

import sys
import time

from dbos import DBOS

HANG = "--hang" in sys.argv


@DBOS.step()
def hang_step() -> str:
    while HANG:
        time.sleep(0.2)
    return "done"


# Each workflow takes one argument: DBOS's client enqueues with one input (see Actions).
@DBOS.workflow()
def fleet_hang(_: object = None) -> str:
    return hang_step()


@DBOS.workflow()
def fleet_quick(n: int) -> int:
    return n


@DBOS.workflow()
def fleet_recv(_: object = None) -> str:
    got = DBOS.recv("approval", timeout_seconds=3_600)
    return f"got {got}"


@DBOS.workflow()
def fleet_get_event(target: str) -> str:
    got = DBOS.get_event(target, "ready", timeout_seconds=3_600)
    return f"event {got}"


@DBOS.workflow()
def fleet_parent(_: object = None) -> str:
    handle = DBOS.start_workflow(fleet_hang)
    return str(handle.get_result())


def main() -> None:
    url, schema, executor_id, version = sys.argv[1:5]
    config = {
        # limbo-tui's Actions enqueue as application "limbo-tui"; DBOS 3.x dequeues only
        # its own application's work.
        "name": "limbo-tui",
        "system_database_url": url,
        "dbos_system_schema": schema,
        "executor_id": executor_id,
        "application_version": version,
        "run_admin_server": False,
        "enable_otlp": False,
        "log_level": "WARNING",
    }
    era_3 = hasattr(DBOS, "register_queue")
    if era_3:
        config["run_migrations"] = False
    else:
        # 2.x: queues are objects made before launch (and not stored in the database).
        from dbos import Queue

        Queue("q_one", concurrency=1, polling_interval_sec=0.2)
        Queue("q_work", polling_interval_sec=0.2)
    DBOS(config=config)  # type: ignore[arg-type]
    DBOS.launch()
    if era_3:
        # DBOS 3.x keeps queues in dbos.queues: registered once DBOS can reach the database.
        DBOS.register_queue("q_one", global_concurrency=1, polling_interval_sec=0.2)
        DBOS.register_queue("q_work", polling_interval_sec=0.2)
    print("ready", flush=True)
    while True:
        time.sleep(3_600)


if __name__ == "__main__":
    main()
