"""A real DBOS 3.x application on a SQLite system database, for tests/test_sqlite.py.

    python tests/sqlite_app.py DB_PATH EXPERIMENTS

Runs the seed experiment's workflows (limbo_tui.worker.demo, crash point off) EXPERIMENTS
times, one after the other, waiting for a line on stdin before each ("go"), and prints
one JSON line per event: {"started": id}, {"done": id, "status": ...}. Any error DBOS
raised (e.g. "database is locked") is printed as {"error": ...} and the exit status is 1.
"""

from __future__ import annotations

import json
import sys
import traceback


def say(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    path, experiments = sys.argv[1], int(sys.argv[2])
    from dbos import DBOS

    from limbo_tui.worker import demo

    DBOS(config={"name": "sqlite-app", "system_database_url": f"sqlite:///{path}"})
    demo.configure(2, 2)
    DBOS.launch()
    params = {"children": 2, "steps": 3, "crash_child": None, "crash_step": 0,
              "step_delay_ms": 20, "step_max_attempts": 1, "step_fail_rate": 0.0}  # fmt: skip
    failed = False
    try:
        for _ in range(experiments):
            if sys.stdin.readline().strip() != "go":
                break
            handle = DBOS.start_workflow(demo.demo_parent, params)
            say({"started": handle.workflow_id})
            handle.get_result()
            say({"done": handle.workflow_id, "status": handle.get_status().status})
    except Exception as exc:
        failed = True
        say({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
    finally:
        DBOS.destroy()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
